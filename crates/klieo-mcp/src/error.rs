//! [`McpError`]: why a server could not be connected, or its settings
//! read.

use crate::scrub::Secrets;
use klieo_types::ConfigError;
use serde::Deserialize;
use std::time::Duration;
use thiserror::Error;

/// Why an MCP server could not be started, reached or used. At a tool
/// call the same failures reach the model as a retryable
/// `klieo_types::ToolError` naming the server.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum McpError {
    /// A setting cannot work (an empty command, a URL without a scheme,
    /// a header HTTP cannot carry).
    #[error(
        "MCP server `{server}` has a setting that cannot work: fix the setting the cause names"
    )]
    Config {
        /// The server's name.
        server: String,
        /// The setting and what is wrong with it.
        #[source]
        source: ConfigError,
    },
    /// A configuration file could not be read or is not the `mcpServers`
    /// shape.
    #[error("MCP configuration `{path}`: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
        /// The reading's or the parser's own error (which says where in
        /// the text), when there is one.
        #[source]
        cause: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The server's command could not be started.
    #[error("MCP server `{server}`: could not start `{command}`; check that it is installed and on PATH")]
    Spawn {
        /// The server's name.
        server: String,
        /// The command, as configured, without the secrets of the
        /// settings.
        command: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The server did not complete the MCP handshake.
    #[error(
        "MCP server `{server}` did not complete the handshake: {reason}{}",
        crate::stderr::shown(stderr)
    )]
    Handshake {
        /// The server's name.
        server: String,
        /// What went wrong.
        reason: String,
        /// The server's last lines on stderr (stdio servers).
        stderr: Vec<String>,
    },
    /// The server refused the client at the handshake with an HTTP status
    /// that trying again will not change: 401 or 403 (its token or
    /// headers), 404 or 405 (no MCP endpoint at the URL).
    #[error(
        "MCP server `{server}` refused the handshake with HTTP {status}: check its URL and the \
         token or headers it is sent (McpOptions::add_header)"
    )]
    Refused {
        /// The server's name.
        server: String,
        /// The HTTP status.
        status: u16,
    },
    /// Starting or reaching the server, or its handshake, took longer
    /// than the connect timeout.
    #[error("MCP server `{server}` was not ready within {} ms; raise its connect timeout if it is slow to start{}", after.as_millis(), crate::stderr::shown(stderr))]
    Timeout {
        /// The server's name.
        server: String,
        /// The bound it missed.
        after: Duration,
        /// The server's last lines on stderr (stdio servers).
        stderr: Vec<String>,
    },
    /// The server answered with a protocol version klieo does not speak.
    #[error("MCP server `{server}` speaks protocol version {version}; klieo speaks {}: update the server or klieo", supported.join(", "))]
    Version {
        /// The server's name.
        server: String,
        /// The version the server chose.
        version: String,
        /// The versions klieo speaks.
        supported: Vec<String>,
    },
    /// The server's tools could not be listed.
    #[error(
        "MCP server `{server}` did not list its tools: {reason}{}",
        crate::stderr::shown(stderr)
    )]
    Tools {
        /// The server's name.
        server: String,
        /// What went wrong.
        reason: String,
        /// Its last lines on stderr (a server that died while listing
        /// says why there), without the settings' secrets.
        stderr: Vec<String>,
    },
    /// The server's reply could not be read (too large, not JSON-RPC); a
    /// longer timeout cannot help.
    #[error("MCP server `{server}`: its reply {fault}, so klieo dropped it; an MCP server must write only JSON-RPC messages on stdout (its logs go to stderr) and keep each under the bound{}", crate::stderr::shown(stderr))]
    Reply {
        /// The server's name.
        server: String,
        /// What was wrong with the reply.
        fault: ReplyFault,
        /// The server's last lines on stderr.
        stderr: Vec<String>,
    },
    /// The server's tool listing passed a bound klieo keeps: it never
    /// ends, or it is far larger than a model can use.
    #[error("MCP server `{server}` listed its tools past a bound klieo keeps ({fault}): fix the server's listing, or offer fewer tools")]
    Listing {
        /// The server's name.
        server: String,
        /// The bound it passed.
        fault: ListFault,
    },
}

/// Why a server's reply could not be read: klieo dropped it and ended the
/// request it answered at once.
#[derive(Debug, Clone, PartialEq, Eq, Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ReplyFault {
    /// The reply was longer than `limit` bytes.
    #[error("was larger than {limit} bytes")]
    TooLarge {
        /// The longest reply taken.
        limit: usize,
    },
    /// The reply held more than `limit` JSON values.
    #[error("held more than {limit} JSON values")]
    TooManyValues {
        /// The most values a reply may hold.
        limit: usize,
    },
    /// The reply nested deeper than `limit`.
    #[error("nested deeper than {limit} levels")]
    TooDeep {
        /// The deepest a reply may nest.
        limit: usize,
    },
    /// The line was not a JSON-RPC message.
    #[error("was not a JSON-RPC message (it began `{excerpt}`)")]
    Malformed {
        /// Its start, scrubbed of secrets.
        excerpt: String,
    },
}

impl ReplyFault {
    /// The fault `error` carries. A server can send an error that looks
    /// like one, so its excerpt is shown as a server's text is: scrubbed
    /// of `secrets` and cut at [`EXCERPT_CHARS`](crate::stdio::EXCERPT_CHARS).
    pub(crate) fn of(error: &rmcp::model::ErrorData, secrets: &Secrets) -> Option<Self> {
        let data = error.data.as_ref()?.get(crate::stdio::FAULT_KEY)?;
        Some(match Self::deserialize(data).ok()? {
            Self::Malformed { excerpt } => Self::Malformed {
                excerpt: secrets.shown_start(excerpt.as_bytes(), crate::stdio::EXCERPT_CHARS),
            },
            fault => fault,
        })
    }
}

/// The bound a tool listing passed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ListFault {
    /// It had more pages than `limit`.
    #[error("more than {limit} pages")]
    Pages {
        /// The most pages one listing follows.
        limit: usize,
    },
    /// It had more tools than `limit`.
    #[error("more than {limit} tools")]
    Tools {
        /// The most tools one listing takes.
        limit: usize,
    },
    /// Its tool definitions came to more than `limit` bytes of JSON.
    #[error("more than {limit} bytes of tool definitions")]
    Bytes {
        /// The most bytes one listing takes.
        limit: usize,
    },
    /// It gave a next-page cursor it had given before: it would never end.
    #[error("a next-page cursor it had given before, so the listing would never end")]
    CursorRepeated,
}

impl McpError {
    /// Whether trying again later may work (the server was slow, exited,
    /// or could not be reached), as opposed to a setting that must change.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Self::Handshake { .. } | Self::Timeout { .. } | Self::Tools { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn a_cause_is_shown_once_when_the_chain_is_walked() {
        let spawn = McpError::Spawn {
            server: "s".into(),
            command: "nope".into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        };
        let config = McpError::Config {
            server: "s".into(),
            source: ConfigError::Invalid {
                name: "url".into(),
                reason: "has no scheme".into(),
                cause: None,
            },
        };
        for error in [spawn, config] {
            let shown = klieo_types::ErrorChain(&error).texts().join(": ");
            assert!(error.source().is_some(), "{shown}");
            let cause = error.source().map(ToString::to_string).unwrap_or_default();
            assert_eq!(shown.matches(cause.as_str()).count(), 1, "{shown}");
        }
    }
}
