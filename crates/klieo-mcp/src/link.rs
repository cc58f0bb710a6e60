//! One live connection to a server: the child process or HTTP session, the
//! MCP handshake, and the handler that hears the server's notifications.

use crate::error::McpError;
use crate::error::ReplyFault;
use crate::options::{McpOptions, Transport};
use crate::stderr::Tail;
use crate::stdio::{Exited, LastFault, StdioLines};
use klieo_types::ConfigError;
use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
use rmcp::model::{ClientCapabilities, ClientConfig, Implementation, ProtocolVersion};
use rmcp::service::{ClientInitializeError, NotificationContext, RoleClient, RunningService};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{ClientHandler, ServiceExt};
use std::future::Future;
use std::process::Stdio;
use std::sync::Arc;
use tokio::sync::Notify;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// The protocol versions klieo speaks, newest first: the current
/// specification with a handshake and the ones before it.
pub const PROTOCOL_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// A live connection.
pub(crate) struct Link {
    pub(crate) service: RunningService<RoleClient, Listener>,
    /// What a stdio server wrote on stderr.
    pub(crate) stderr: Option<Tail>,
    /// The task that lists the tools again when they change, ended with
    /// the link.
    pub(crate) refresher: Option<AbortHandle>,
    /// The end of a stdio server's process (none over HTTP).
    pub(crate) exited: Option<Exited>,
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(task) = &self.refresher {
            task.abort();
        }
    }
}

impl Link {
    /// Whether the connection still works as far as klieo knows: its task
    /// runs and its transport is open (a server that exited between calls
    /// closed it).
    pub(crate) fn is_open(&self) -> bool {
        !self.service.is_closed() && !self.service.is_transport_closed()
    }

    /// The server's last stderr lines (none over HTTP), waiting a moment
    /// for the last of a server that stopped.
    pub(crate) async fn last_stderr(&self) -> Vec<String> {
        match &self.stderr {
            Some(tail) => tail.last_lines().await,
            None => Vec::new(),
        }
    }
}

/// Hears the server: a changed tool list wakes the link's refresher
/// (`refresh.rs`), which lists the tools again; changes announced while
/// it lists make one more listing, not one each.
#[derive(Clone, Default)]
pub(crate) struct Listener {
    pub(crate) changed: Arc<Notify>,
}

impl ClientHandler for Listener {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.changed.notify_one();
    }

    fn get_info(&self) -> ClientConfig {
        // Tools only: no sampling, roots or elicitation are offered.
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("klieo", env!("CARGO_PKG_VERSION")),
        )
        .with_protocol_version(ProtocolVersion::LATEST_WITH_INITIALIZE)
    }
}

const USER_AGENT: &str = concat!("klieo-mcp/", env!("CARGO_PKG_VERSION"));

fn config(settings: &McpOptions, source: ConfigError) -> McpError {
    // The reason may quote the value (a URL missing its scheme, with a
    // token in its path): scrubbed as the same error is after a restart.
    let source = match source {
        ConfigError::Invalid {
            name,
            reason,
            cause,
        } => ConfigError::Invalid {
            name,
            reason: settings.scrub(reason),
            cause,
        },
        other => other,
    };
    McpError::Config {
        server: settings.name.clone(),
        source,
    }
}

/// Starts (stdio) or reaches (HTTP) the server and completes the
/// handshake, by `deadline`.
///
/// The connection's own task and spans (rmcp's) are made outside any span
/// of the caller's: a connection started during a tool call outlives it,
/// and would otherwise keep the call's and the run's spans open.
pub(crate) async fn connect(
    settings: &McpOptions,
    listener: Listener,
    deadline: Instant,
) -> Result<Link, McpError> {
    match &settings.transport {
        Transport::Stdio {
            command,
            args,
            env,
            inherited,
            cwd,
        } => {
            if command.trim().is_empty() {
                let invalid = ConfigError::invalid(
                    "command",
                    "is empty: name the program that runs the server",
                );
                return Err(config(settings, invalid));
            }
            let mut cmd = tokio::process::Command::new(command);
            cmd.args(args);
            inherited.apply(&mut cmd, env);
            cmd.stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            if let Some(dir) = cwd {
                cmd.current_dir(dir);
            }
            let mut wrap = CommandWrap::from(cmd);
            // Its own process group, so a server that is a wrapper (`npx`)
            // goes with all its children.
            wrap.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
            // Shown to the model when a restart fails: without the secrets
            // a configuration file put in the command (`${TOKEN}`).
            let shown_command = settings.scrub(command);
            let spawn_failed = |source| McpError::Spawn {
                server: settings.name.clone(),
                command: shown_command.clone(),
                source,
            };
            let mut child = wrap.spawn().map_err(spawn_failed)?;
            let stderr = child
                .stderr()
                .take()
                .map(|stream| Tail::follow(stream, settings.secrets()));
            let last_fault = LastFault::default();
            let transport = StdioLines::new(child, settings.secrets(), Arc::clone(&last_fault))
                .map_err(spawn_failed)?;
            let exited = transport.exited();
            let serving = detached(listener.serve(transport));
            let service = handshake(settings, serving, stderr.as_ref(), deadline)
                .await
                .map_err(|e| replaced_by_fault(e, &last_fault))?;
            Ok(Link {
                service,
                stderr,
                refresher: None,
                exited: Some(exited),
            })
        }
        Transport::Http { url, headers } => {
            let example = "http://127.0.0.1:3001/mcp";
            // Used as written: a server mounted at `/mcp/` may serve only
            // that.
            let url = klieo_http::url::endpoint_url(url, "url", example)
                .map_err(|e| config(settings, e))?;
            let mut map = reqwest::header::HeaderMap::new();
            for (name, value) in headers {
                klieo_http::client::sensitive_header(&mut map, "headers", name, value)
                    .map_err(|e| config(settings, e))?;
            }
            let https = url.scheme() == "https";
            let client =
                klieo_http::client::build(https, settings.connect_timeout, map, USER_AGENT)
                    .map_err(|e| config(settings, e))?;
            let transport = StreamableHttpClientTransport::with_client(
                client,
                StreamableHttpClientTransportConfig::with_uri(url.as_str()),
            );
            let serving = detached(listener.serve(transport));
            let service = handshake(settings, serving, None, deadline).await?;
            Ok(Link {
                service,
                stderr: None,
                refresher: None,
                exited: None,
            })
        }
    }
}

/// `serving` (a connection's start, which spawns its task), run in a
/// task of its own: made there, the connection's task and spans are
/// outside any span of the caller's (entering `Span::none()` would leave
/// the caller's span current). The task is aborted when the returned
/// future is dropped (a handshake past its deadline).
fn detached<F, T>(
    serving: F,
) -> impl Future<Output = Result<T, ClientInitializeError>> + Send + 'static
where
    F: Future<Output = Result<T, ClientInitializeError>> + Send + 'static,
    T: Send + 'static,
{
    struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);
    impl<T> Drop for AbortOnDrop<T> {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let mut task = AbortOnDrop(tokio::spawn(serving));
    async move {
        match (&mut task.0).await {
            Ok(served) => served,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Err(ClientInitializeError::ConnectionClosed(
                "the connection's start was stopped with its runtime".to_owned(),
            )),
        }
    }
}

/// A failed handshake whose reply the transport dropped, said as such.
fn replaced_by_fault(error: McpError, last_fault: &LastFault) -> McpError {
    let fault: Option<ReplyFault> = last_fault
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    match (error, fault) {
        (McpError::Handshake { server, stderr, .. }, Some(fault)) => McpError::Reply {
            server,
            fault,
            stderr,
        },
        (error, _) => error,
    }
}

async fn last_lines(stderr: Option<&Tail>) -> Vec<String> {
    match stderr {
        Some(tail) => tail.last_lines().await,
        None => Vec::new(),
    }
}

/// Waits for the handshake until `deadline` and checks the version the
/// server chose.
async fn handshake(
    settings: &McpOptions,
    serving: impl Future<Output = Result<RunningService<RoleClient, Listener>, ClientInitializeError>>,
    stderr: Option<&Tail>,
    deadline: Instant,
) -> Result<RunningService<RoleClient, Listener>, McpError> {
    let service = match tokio::time::timeout_at(deadline, serving).await {
        Err(_) => {
            return Err(McpError::Timeout {
                server: settings.name.clone(),
                after: settings.connect_timeout,
                stderr: last_lines(stderr).await,
            })
        }
        Ok(Err(e)) => {
            if let Some(status) = crate::describe::refused(&e) {
                return Err(McpError::Refused {
                    server: settings.name.clone(),
                    status,
                });
            }
            return Err(McpError::Handshake {
                server: settings.name.clone(),
                reason: settings.scrub(crate::describe::initialize(&e)),
                stderr: last_lines(stderr).await,
            });
        }
        Ok(Ok(service)) => service,
    };
    let version = service
        .peer_info()
        .map(|info| info.protocol_version.to_string())
        .unwrap_or_default();
    if !PROTOCOL_VERSIONS.contains(&version.as_str()) {
        return Err(McpError::Version {
            server: settings.name.clone(),
            // The server's text: scrubbed, and cut to what a version is.
            version: settings.secrets().shown(&version, VERSION_SHOWN),
            supported: PROTOCOL_VERSIONS.iter().map(|v| (*v).to_owned()).collect(),
        });
    }
    Ok(service)
}

/// The most characters of a server's protocol version an error shows.
const VERSION_SHOWN: usize = 64;
