//! [`McpOptions`]: how to reach one MCP server, and how klieo treats its
//! tools.

use crate::environment::Inherited;
use klieo_types::ConfigError;
use std::path::PathBuf;
use std::time::Duration;

/// How to reach one MCP server, and how its tools are treated.
///
/// ```
/// use klieo_mcp::{Approval, McpOptions};
/// use std::time::Duration;
///
/// let files = McpOptions::stdio("files", "npx")
///     .with_args(["-y", "@modelcontextprotocol/server-filesystem", "/srv/docs"])
///     .with_call_timeout(Duration::from_secs(20));
/// let tracker = McpOptions::http("tracker", "https://mcp.example.com/mcp")
///     .with_bearer_token("sk-not-shown")
///     .with_approval(Approval::Tools(vec!["close_issue".into()]));
/// assert!(!format!("{tracker:?}").contains("sk-not-shown"));
/// # drop(files);
/// ```
///
/// # Default
///
/// - call timeout: 60 s per tool call ([`DEFAULT_CALL_TIMEOUT`])
/// - connect timeout: 30 s to start (or reach) the server and finish the
///   handshake ([`DEFAULT_HANDSHAKE_TIMEOUT`])
/// - prefix: `{name}_`, put before a tool's name only when another tool
///   has that name already (see `klieo_types::Toolbox`)
/// - approval: [`Approval::None`]
/// - a stdio server's environment: its own variables
///   ([`add_env`](Self::add_env)) and, of klieo's, only
///   [`PASSED_ENV`](crate::PASSED_ENV)
/// - tools offered: all the server lists ([`with_only`](Self::with_only))
/// - restart backoff: a dead server is started again at the next call,
///   then no sooner than 1 s, 2 s, 4 s, ... up to 30 s after each failed
///   start
#[derive(Clone)]
pub struct McpOptions {
    pub(crate) name: String,
    pub(crate) transport: Transport,
    pub(crate) call_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) prefix: Option<String>,
    pub(crate) approval: Approval,
    pub(crate) only: Option<Vec<String>>,
    /// Values scrubbed besides those the transport's settings hold.
    pub(crate) secrets: Vec<String>,
    /// The variables a configuration file's `${NAME}`s expanded, and
    /// their values, scrubbed as environment values are.
    pub(crate) expanded: Vec<(String, String)>,
}

/// The call bound of an MCP tool, unless set otherwise.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The bound on starting or reaching a server and finishing its MCP
/// handshake, unless [`McpOptions::with_connect_timeout`] sets another.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// How the server is reached.
#[derive(Clone)]
pub(crate) enum Transport {
    /// A child process speaking MCP on its stdin and stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        env: Vec<(String, String)>,
        inherited: Inherited,
        cwd: Option<PathBuf>,
    },
    /// Streamable HTTP at `url`, each request carrying `headers`.
    Http {
        url: String,
        headers: Vec<(String, String)>,
    },
}

/// Which of a server's tools need a person's approval before each call
/// (the run suspends durably until it is given: see
/// `klieo_types::ToolPolicy::requires_approval`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Approval {
    /// None of them.
    #[default]
    None,
    /// Every one.
    All,
    /// These, by the server's own names for them.
    Tools(Vec<String>),
}

impl Approval {
    pub(crate) fn applies_to(&self, tool: &str) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Tools(names) => names.iter().any(|n| n == tool),
        }
    }
}

impl McpOptions {
    fn new(name: impl Into<String>, transport: Transport) -> Self {
        Self {
            name: name.into(),
            transport,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            connect_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            prefix: None,
            approval: Approval::None,
            only: None,
            secrets: Vec::new(),
            expanded: Vec::new(),
        }
    }

    /// A server klieo starts as a child process, `command` (looked up on
    /// `PATH`), speaking MCP over its stdin and stdout. Its stderr is kept
    /// (the last lines) for the errors that say why it died.
    pub fn stdio(name: impl Into<String>, command: impl Into<String>) -> Self {
        Self::new(
            name,
            Transport::Stdio {
                command: command.into(),
                args: Vec::new(),
                env: Vec::new(),
                inherited: Inherited::default(),
                cwd: None,
            },
        )
    }

    /// A server reached over streamable HTTP at `url` (the endpoint
    /// itself, such as `http://127.0.0.1:3001/mcp`).
    pub fn http(name: impl Into<String>, url: impl Into<String>) -> Self {
        Self::new(
            name,
            Transport::Http {
                url: url.into(),
                headers: Vec::new(),
            },
        )
    }

    /// The server's name, as errors and the default prefix give it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets the arguments of a stdio server's command (no effect on HTTP).
    pub fn with_args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        if let Transport::Stdio { args: a, .. } = &mut self.transport {
            *a = args.into_iter().map(Into::into).collect();
        }
        self
    }

    /// Adds an environment variable of a stdio server (no effect on
    /// HTTP). Of klieo's own environment the child gets only
    /// [`PASSED_ENV`](crate::PASSED_ENV) and what
    /// [`add_passed_env`](Self::add_passed_env) names, unless
    /// [`with_whole_env`](Self::with_whole_env) says otherwise. Values are
    /// never shown: `Debug` lists the names only.
    pub fn add_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Transport::Stdio { env, .. } = &mut self.transport {
            env.push((name.into(), value.into()));
        }
        self
    }

    /// Adds a variable of klieo's own environment, `name`, to what a stdio
    /// server is given besides [`PASSED_ENV`](crate::PASSED_ENV) (no effect
    /// on HTTP, or when it is not set). Its value is scrubbed as one given
    /// with [`add_env`](Self::add_env) is: everywhere when its name says it
    /// is a credential (`GITHUB_TOKEN`), else out of the texts built from
    /// what the server said.
    pub fn add_passed_env(mut self, name: impl Into<String>) -> Self {
        if let Transport::Stdio { inherited, .. } = &mut self.transport {
            inherited.also.push(name.into());
        }
        self
    }

    /// Sets whether a stdio server inherits klieo's whole environment
    /// (no effect on HTTP). Off by default: a server given the API keys
    /// klieo holds in its environment could hand them to the model (a
    /// tool that shows its environment), and they are not scrubbed, since
    /// klieo does not know them as secrets.
    pub fn with_whole_env(mut self, whole: bool) -> Self {
        if let Transport::Stdio { inherited, .. } = &mut self.transport {
            inherited.whole = whole;
        }
        self
    }

    /// Sets the working directory of a stdio server (no effect on HTTP).
    pub fn with_cwd(mut self, dir: impl Into<PathBuf>) -> Self {
        if let Transport::Stdio { cwd, .. } = &mut self.transport {
            *cwd = Some(dir.into());
        }
        self
    }

    /// Adds a header to every request to an HTTP server (no effect on
    /// stdio). Values are marked sensitive and never shown.
    pub fn add_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        if let Transport::Http { headers, .. } = &mut self.transport {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// Sends `Authorization: Bearer {token}` to an HTTP server, in place
    /// of any `Authorization` header set before.
    pub fn with_bearer_token(mut self, token: impl AsRef<str>) -> Self {
        if let Transport::Http { headers, .. } = &mut self.transport {
            headers.retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
        }
        let value = format!("Bearer {}", token.as_ref());
        self.add_header("authorization", value)
    }

    /// Checks what [`McpServer::connect`](crate::McpServer::connect)
    /// checks before it starts anything: a name, a prefix set with
    /// [`with_prefix`](Self::with_prefix) that model APIs take, and call
    /// and connect timeouts longer than 0 s. A [`ConfigError`] names the
    /// setting and the fix.
    ///
    /// ```
    /// use klieo_mcp::McpOptions;
    /// use std::time::Duration;
    ///
    /// assert!(McpOptions::stdio("files", "npx").validate().is_ok());
    /// let never = McpOptions::stdio("files", "npx").with_call_timeout(Duration::ZERO);
    /// assert!(never.validate().unwrap_err().to_string().contains("call_timeout"));
    /// ```
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::invalid(
                "McpOptions name",
                "is empty: name the server (errors and its tools' prefix use the name)",
            ));
        }
        if let Some(prefix) = self.prefix.as_deref() {
            if let Some(c) = prefix
                .chars()
                .find(|&c| !klieo_types::ToolDef::takes_in_name(c))
            {
                return Err(ConfigError::invalid(
                    "McpOptions::with_prefix",
                    format!(
                        "`{prefix}` has `{}`, which model APIs refuse in a tool's name: use \
                         letters, digits, `_` and `-`",
                        c.escape_default()
                    ),
                ));
            }
        }
        if self.call_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "McpOptions::call_timeout",
                "0 s would time every tool call out before it is sent: use the longest a \
                 call may take (the default is 60 s)",
            ));
        }
        if self.connect_timeout.is_zero() {
            return Err(ConfigError::invalid(
                "McpOptions::connect_timeout",
                "0 s would give up on the server before it starts: use the longest its \
                 start and handshake may take (the default is 30 s)",
            ));
        }
        Ok(())
    }

    /// Sets how long one tool call may take. A call past it is cancelled
    /// (the server gets MCP's `notifications/cancelled`) and becomes
    /// `ToolError::Timeout`.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Sets how long starting (or reaching) the server and the handshake
    /// may take.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the prefix put before a tool's name when another tool has that
    /// name already (default `{name}_`): letters, digits, `_` and `-`, as
    /// model APIs take in a tool's name ([`validate`](Self::validate)
    /// refuses others).
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The prefix put before a clashing tool name: the one set, else the
    /// server's name and `_`, each character a model refuses in a tool's
    /// name (outside `[A-Za-z0-9_-]`, as in `fs.local`) made `_`.
    pub fn prefix(&self) -> String {
        self.prefix
            .clone()
            .unwrap_or_else(|| format!("{}_", klieo_types::ToolDef::usable_chars(&self.name)))
    }

    /// Offers the model only these of the server's tools (by the server's
    /// own names); the others are never shown nor called. A large server's
    /// whole list can crowd a small model's context.
    pub fn with_only<I, S>(mut self, tools: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only = Some(tools.into_iter().map(Into::into).collect());
        self
    }

    /// Adds `value` to the secrets taken out of every text built from what
    /// the server or its transport said, of its tools' answers, and of
    /// `Debug`: a token the settings carry where klieo cannot tell it is
    /// one (in the command's arguments, the URL's path). Header values,
    /// the URL's credentials and query, and environment values whose
    /// names say they are keys (`…KEY`, `…TOKEN`, `…SECRET`,
    /// `…PASSWORD`, …) are secrets already, and so is each `${NAME}` of a
    /// configuration file ([`config::parse`](crate::config::parse)) with
    /// such a name. A value shorter than 4 characters is not scrubbed.
    pub fn add_secret(mut self, value: impl Into<String>) -> Self {
        self.secrets.push(value.into());
        self
    }

    /// Records that a configuration's `${name}` was `value`, to scrub as an
    /// environment value is (a key by its name, else a setting kept out of
    /// the server's texts); a variable every process is given
    /// ([`PASSED_ENV`](crate::PASSED_ENV): `HOME`, `PATH`, …) is none.
    pub(crate) fn expanded(mut self, name: &str, value: String) -> Self {
        if !crate::environment::PASSED_ENV.contains(&name) {
            self.expanded.push((name.to_owned(), value));
        }
        self
    }

    /// Sets which tools need approval before each call.
    pub fn with_approval(mut self, approval: Approval) -> Self {
        self.approval = approval;
        self
    }
}

mod shown;
#[cfg(test)]
mod tests;
