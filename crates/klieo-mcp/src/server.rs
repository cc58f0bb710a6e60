//! [`McpServer`]: one MCP server's tools as a klieo `ToolInvoker`, kept
//! connected: a server that dies is started (or reached) again, with
//! backoff, at the next call.

use crate::catalogue::Catalogue;
use crate::describe::{self, Kept};
use crate::error::{McpError, ReplyFault};
use crate::link::{self, Link, Listener};
use crate::listing::ListError;
use crate::options::McpOptions;
use crate::refresh::Refresher;
use crate::reply;
use crate::restart::{Alive, Restarts};
use crate::stderr;
use crate::stdio::CLOSE_WAIT;
use async_trait::async_trait;
use klieo_types::ErrorChain;
use klieo_types::{ToolContext, ToolDef, ToolError, ToolInvoker, ToolPolicy};
use rmcp::model::{CallToolRequestParams, CallToolResponse, ErrorCode};
use rmcp::service::ServiceError;
use serde_json::Value;
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tracing::{Instrument, Span};

/// One MCP server, its tools usable by a klieo agent.
///
/// Its tools are a [`ToolInvoker`]: give it to an agent next to local tools
/// with `AgentBuilder::add_invoker`, or combine several servers in a
/// `klieo_types::Toolbox` ([`McpServers::toolbox`](crate::McpServers::toolbox)).
///
/// - Each tool's input schema is the tool's parameters; a result's
///   `structuredContent`, else its text, is the tool's output; a result
///   marked `isError` is `ToolError::Failed`, which the model reads.
/// - The tool list follows the server's `notifications/tools/list_changed`.
/// - A call is bounded by the call timeout, and a call given up (timed out,
///   or its run cancelled) sends the server `notifications/cancelled`.
/// - A server that died is started again (stdio) or reached again (HTTP)
///   at the next call; while it cannot be, calls fail at once with a
///   retryable `ToolError` naming the server and its last stderr lines.
///
/// Cloning is cheap and shares the connection. The child process of a
/// stdio server is stopped when the last clone is dropped.
#[derive(Clone)]
pub struct McpServer {
    inner: Arc<Inner>,
}

struct Inner {
    settings: McpOptions,
    catalogue: Arc<Catalogue>,
    restarts: Restarts<Link>,
}

impl McpServer {
    /// Starts (stdio) or reaches (HTTP) the server, completes the MCP
    /// handshake and lists its tools.
    ///
    /// # Errors
    ///
    /// [`McpError`]: a setting that cannot work (see
    /// [`McpOptions::validate`]), a command that cannot be
    /// started, a handshake that fails or takes longer than the connect
    /// timeout, a protocol version klieo does not speak, or a tool list the
    /// server does not give.
    pub async fn connect(settings: McpOptions) -> Result<Self, McpError> {
        settings.validate().map_err(|source| McpError::Config {
            server: settings.name.clone(),
            source,
        })?;
        let catalogue = Arc::new(Catalogue::new(settings.only.clone()));
        let link = start(&settings, &catalogue).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                restarts: Restarts::new(&settings.name, link),
                settings,
                catalogue,
            }),
        })
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.inner.settings.name
    }

    /// The server's settings.
    pub fn settings(&self) -> &McpOptions {
        &self.inner.settings
    }

    /// A future that ends when the server's tool list next changes (it
    /// announced a change and klieo listed the tools again, or it was
    /// started again). It watches from this call on, so a change between
    /// this call and the `.await` is not missed. Put a bound on the wait
    /// (`tokio::time::timeout`): a server may never change.
    pub fn tools_changed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut watch = self.inner.catalogue.watch();
        watch.mark_unchanged();
        async move {
            // The sender lives in the server: an error means it is gone,
            // and so is any change to wait for.
            let _ = watch.changed().await;
        }
    }

    /// Stops the server: an HTTP session is closed, a start under way
    /// ended (never waited for), and a stdio server ended as the MCP
    /// specification asks: its stdin is closed, so it may exit on its
    /// own; it is sent SIGTERM after [`EXIT_GRACE`](crate::EXIT_GRACE)
    /// (2 s), and killed with its process group after as long again.
    /// Returns once its process has ended, or after 6 s at most
    /// (the ending goes on in the background then). The next call starts
    /// the server again.
    ///
    /// A server dropped without `close` is ended the same way in the
    /// background, or killed at once when no runtime is left to wait in.
    pub async fn close(&self) {
        let exited = self
            .inner
            .restarts
            .close()
            .and_then(|link| link.exited.clone());
        if let Some(exited) = exited {
            let _ = tokio::time::timeout(CLOSE_WAIT, exited.wait()).await;
        }
    }

    /// The live connection, started again if the server died and its
    /// backoff has passed. A start runs in its own task, bounded by the
    /// connect timeout; a caller waits for it no longer than its own
    /// bound.
    async fn link(&self) -> Result<Arc<Link>, ToolError> {
        let settings = self.inner.settings.clone();
        let catalogue = Arc::clone(&self.inner.catalogue);
        self.inner
            .restarts
            .get(move || async move {
                // With its causes (the operating system's reason a start
                // failed), scrubbed: the text reaches the model.
                start(&settings, &catalogue)
                    .await
                    .map_err(|e| settings.scrub(ErrorChain(&e).to_string()))
            })
            .await
    }

    /// Marks `link` dead (if it is still the live one) after a call lost
    /// it, and says so.
    async fn lost(&self, link: &Arc<Link>, tool: &str, error: &ServiceError) -> ToolError {
        self.inner.restarts.lost(link);
        let stderr = link.last_stderr().await;
        ToolError::Retryable {
            message: format!(
                "MCP server `{}` stopped answering during the call of `{tool}` ({}), so \
                 whether the call took effect is unknown{}; klieo starts it again at the next call",
                self.inner.settings.name,
                self.inner.settings.scrub(describe::service(error)),
                stderr::shown(&stderr)
            ),
            retry_after: None,
        }
    }

    async fn call(&self, shown: &str, args: Value) -> Result<Value, ToolError> {
        let settings = &self.inner.settings;
        let own = self
            .inner
            .catalogue
            .own_name(shown)
            .ok_or_else(|| unknown(shown, &self.inner.catalogue.defs()))?;
        let arguments = match args {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            other => {
                return Err(ToolError::InvalidArgs {
                    tool: shown.to_owned(),
                    reason: format!("the arguments must be one JSON object, not `{other}`"),
                })
            }
        };
        let link = self.link().await?;
        let params = CallToolRequestParams::new(own).with_arguments(arguments);
        // Dropping this future (at the timeout, or when the run is
        // cancelled) sends the server `notifications/cancelled`. One
        // request: a server that asks for input (elicitation, sampling,
        // roots) is not answered on anyone's behalf nor called again.
        let call = link.service.call_tool_once(params);
        match tokio::time::timeout(settings.call_timeout, call).await {
            Err(_) => Err(ToolError::Timeout {
                tool: shown.to_owned(),
                after: settings.call_timeout,
            }),
            Ok(Ok(CallToolResponse::Complete(result))) => {
                reply::output(shown, result, &settings.secrets())
            }
            Ok(Ok(answer)) => {
                let what = match answer {
                    CallToolResponse::InputRequired(_) => {
                        "a request for input, not a result: klieo gives a server no input, so \
                         the call did not complete"
                    }
                    CallToolResponse::Task(_) => {
                        "a task to poll, not a result: klieo polls no task, so whether the \
                         call had its effect is unknown; check before calling it again"
                    }
                    _ => "something other than a result, which klieo cannot read",
                };
                Err(ToolError::Failed {
                    tool: shown.to_owned(),
                    message: format!(
                        "MCP server `{}` answered the call with {what}",
                        settings.name
                    ),
                })
            }
            // A fault that cannot be read is a refusal as any other.
            Ok(Err(ServiceError::McpError(e)))
                if ReplyFault::of(&e, &settings.secrets()).is_some() =>
            {
                let fault = ReplyFault::of(&e, &settings.secrets());
                let next = match &fault {
                    // A line no request can be told from (stray output, say):
                    // this call's own reply may still have been coming.
                    Some(ReplyFault::Malformed { .. }) => {
                        "whether the call had its effect is unknown: check before \
                         calling it again"
                    }
                    _ => "calling again will not help unless the arguments ask for less",
                };
                let fault = fault.map(|f| f.to_string()).unwrap_or_default();
                Err(ToolError::Failed {
                    tool: shown.to_owned(),
                    message: format!(
                        "MCP server `{}`'s reply to this call {fault}, so klieo dropped it; {next}",
                        settings.name
                    ),
                })
            }
            Ok(Err(ServiceError::McpError(e))) if e.code == ErrorCode::INVALID_PARAMS => {
                Err(ToolError::InvalidArgs {
                    tool: shown.to_owned(),
                    reason: settings.scrub(&e.message),
                })
            }
            Ok(Err(ServiceError::McpError(e))) => Err(ToolError::Failed {
                tool: shown.to_owned(),
                message: format!(
                    "the server refused the call: {} (code {})",
                    settings.scrub(&e.message),
                    e.code.0
                ),
            }),
            Ok(Err(e)) => match describe::kept(&e) {
                // Over the HTTP body bound: this reply is lost, the session is not.
                Some(Kept::TooLarge(limit)) => Err(ToolError::Failed {
                    tool: shown.to_owned(),
                    message: format!(
                        "MCP server `{}`'s reply to this call was larger than {limit} bytes, so \
                         klieo dropped it; calling again will not help unless the arguments ask \
                         for less",
                        settings.name
                    ),
                }),
                // Refused, not run: the session lives on.
                Some(Kept::RateLimited(wait)) => Err(ToolError::Retryable {
                    message: format!(
                        "MCP server `{}` is limiting its rate (HTTP 429) and did not run this \
                         call; call it again later",
                        settings.name
                    ),
                    retry_after: Some(wait),
                }),
                None if matches!(
                    e,
                    ServiceError::TransportClosed | ServiceError::TransportSend(_)
                ) =>
                {
                    Err(self.lost(&link, shown, &e).await)
                }
                None => Err(ToolError::Failed {
                    tool: shown.to_owned(),
                    message: format!(
                        "the server's answer cannot be used ({}), so whether the call had its \
                         effect is unknown",
                        settings.scrub(describe::service(&e))
                    ),
                }),
            },
        }
    }
}

impl Alive for Link {
    fn is_open(&self) -> bool {
        Link::is_open(self)
    }

    /// Cancels the connection: its transport ends (a stdio server's child
    /// process is ended), and a call in flight fails as one whose server
    /// stopped answering.
    fn stop(&self) {
        self.service.cancellation_token().cancel();
    }
}

/// When a wait of `timeout` from now ends: a timeout past what the
/// clock can hold (`Duration::MAX`) ends in about 30 years, as tokio's
/// own far future.
fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(30 * 365 * 86_400))
}

/// Starts the server and lists its tools into `catalogue`, the whole
/// within the connect timeout.
async fn start(settings: &McpOptions, catalogue: &Arc<Catalogue>) -> Result<Arc<Link>, McpError> {
    let deadline = deadline_after(settings.connect_timeout);
    let listener = Listener::default();
    let changed = Arc::clone(&listener.changed);
    let mut link = link::connect(settings, listener, deadline).await?;
    let has_tools = link
        .service
        .peer_info()
        .is_some_and(|info| info.capabilities.tools.is_some());
    if !has_tools {
        // A server without the tools capability is not asked for tools.
        catalogue.take(&[]);
        return Ok(Arc::new(link));
    }
    let secrets = settings.secrets();
    let listing = catalogue.refresh(link.service.peer(), &secrets);
    match tokio::time::timeout_at(deadline, listing).await {
        Ok(Ok(())) => {}
        Ok(Err(ListError::Fault(fault))) => {
            return Err(McpError::Listing {
                server: settings.name.clone(),
                fault,
            })
        }
        Ok(Err(ListError::Service(ServiceError::McpError(e))))
            if ReplyFault::of(&e, &secrets).is_some() =>
        {
            return Err(McpError::Reply {
                server: settings.name.clone(),
                fault: ReplyFault::of(&e, &secrets).unwrap_or(ReplyFault::Malformed {
                    excerpt: String::new(),
                }),
                stderr: link.last_stderr().await,
            })
        }
        Ok(Err(ListError::Service(e))) => {
            return Err(McpError::Tools {
                server: settings.name.clone(),
                reason: settings.scrub(describe::service(&e)),
                stderr: link.last_stderr().await,
            })
        }
        Err(_) => {
            return Err(McpError::Timeout {
                server: settings.name.clone(),
                after: settings.connect_timeout,
                stderr: link.last_stderr().await,
            })
        }
    }
    let refresher = Refresher {
        server: settings.name.clone(),
        peer: link.service.peer().clone(),
        catalogue: Arc::clone(catalogue),
        secrets,
        bound: settings.connect_timeout,
    };
    // Outside the caller's span, as the connection's own task is.
    let task = tokio::spawn(refresher.run(changed).instrument(Span::none()));
    link.refresher = Some(task.abort_handle());
    Ok(Arc::new(link))
}

fn unknown(name: &str, defs: &[ToolDef]) -> ToolError {
    ToolError::UnknownTool {
        name: name.to_owned(),
        available: defs.iter().map(|d| d.name.clone()).collect(),
    }
}

impl fmt::Debug for McpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpServer")
            .field("settings", &self.inner.settings)
            .field("tools", &self.inner.catalogue.defs().len())
            .finish()
    }
}

#[async_trait]
impl ToolInvoker for McpServer {
    fn catalogue(&self) -> Arc<[ToolDef]> {
        self.inner.catalogue.defs()
    }

    async fn invoke(
        &self,
        name: &str,
        args: Value,
        _ctx: ToolContext<'_>,
    ) -> Result<Value, ToolError> {
        self.call(name, args).await
    }

    /// The call timeout plus the connect timeout (a call may first have
    /// to start the server again, and each part has its own bound inside),
    /// and approval as the settings say; MCP's tool annotations
    /// (`idempotentHint`) are a server's hints, not trusted, so no call is
    /// idempotent.
    fn policy(&self, name: &str) -> ToolPolicy {
        let settings = &self.inner.settings;
        let approval = self
            .inner
            .catalogue
            .own_name(name)
            .is_some_and(|own| settings.approval.applies_to(&own));
        ToolPolicy::new()
            .with_timeout(
                settings
                    .call_timeout
                    .saturating_add(settings.connect_timeout),
            )
            .with_approval(approval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_timeout_past_what_the_clock_holds_is_a_far_deadline_not_a_panic() {
        let far = deadline_after(Duration::MAX);
        assert!(far > Instant::now() + Duration::from_secs(20 * 365 * 86_400));
        let near = deadline_after(Duration::from_secs(3));
        assert_eq!(near, Instant::now() + Duration::from_secs(3));
    }
}
