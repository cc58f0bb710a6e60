//! klieo's own stdio transport: a child's stdout read line by line within
//! bounds (bytes, JSON values, nesting), and a line that cannot be a reply
//! (too large, not JSON-RPC) ends the request it answers at once, with a
//! [`ReplyFault`], instead of being dropped while the call waits out its
//! timeout (rmcp's transport only logs such lines).
//!
//! The request a bad line answers is the pending one whose id is the
//! line's own (its top-level `"id"`, near its start or as its last
//! member), or none when no pending request has it (one given up:
//! cancelled requests are pending no more); when the line's id is not
//! found, every pending request, as the line may have been the reply to
//! any of them.

use crate::error::ReplyFault;
use crate::line_scan::{from_server, reply_id, same_id, scan, KEPT};
use crate::scrub::Secrets;
use process_wrap::tokio::ChildWrapper;
use rmcp::model::{
    ClientNotification, ErrorCode, ErrorData, JsonRpcError, JsonRpcMessage, RequestId,
    ServerNotification,
};
use rmcp::service::{RoleClient, RxJsonRpcMessage, TxJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::watch;

/// The longest reply line taken, in bytes (rmcp's own bound).
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// The last reply fault, shared with the link (for the handshake).
pub(crate) type LastFault = Arc<Mutex<Option<ReplyFault>>>;

/// How long a stdio server is given to exit once its stdin is closed,
/// and again once it is sent SIGTERM, before it is killed: the shutdown
/// the MCP specification asks of a client, with the official SDKs' wait.
pub const EXIT_GRACE: Duration = Duration::from_secs(2);

/// The longest `McpServer::close` waits for a stdio server's process to
/// end: its two graces and a margin for the kill.
pub(crate) const CLOSE_WAIT: Duration = Duration::from_secs(3 * EXIT_GRACE.as_secs());

/// The end of a stdio server's process (exited, or killed), for
/// `McpServer::close` to wait on.
#[derive(Clone)]
pub(crate) struct Exited(watch::Receiver<()>);

impl Exited {
    /// Waits until the process has ended (its ending, never sent on,
    /// closes the channel when it is done).
    pub(crate) async fn wait(mut self) {
        while self.0.changed().await.is_ok() {}
    }
}

/// The child, ended with its process group when the transport goes: its
/// stdin is closed by then (the transport's writer goes first, unless a
/// send holds it), so it may exit on its own; it is sent SIGTERM after
/// [`EXIT_GRACE`], and killed after as long again. Without a runtime to
/// wait in (one shutting down), it is killed at once. Processes of its
/// own that outlive a server that exited on its own are its own.
struct ChildGuard {
    child: Option<Box<dyn ChildWrapper>>,
    exited: watch::Sender<()>,
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let exited = self.exited.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(Ending::new(child, exited).run());
            }
            // The group is signalled here, so a wrapper's children go too.
            Err(_) => drop(child.start_kill()),
        }
    }
}

/// A child being ended, killed with its group should the wait be dropped
/// (its runtime shutting down) before the child exited.
struct Ending {
    child: Option<Box<dyn ChildWrapper>>,
    _exited: watch::Sender<()>,
}

impl Ending {
    fn new(child: Box<dyn ChildWrapper>, exited: watch::Sender<()>) -> Self {
        Self {
            child: Some(child),
            _exited: exited,
        }
    }

    async fn run(mut self) {
        let Some(child) = self.child.as_mut() else {
            return;
        };
        let mut exited = tokio::time::timeout(EXIT_GRACE, child.wait()).await.is_ok();
        if !exited {
            // Signalled only while the server is not reaped: its group's
            // id, its own process id, cannot have passed to another.
            let _ = child.signal(libc::SIGTERM);
            exited = tokio::time::timeout(EXIT_GRACE, child.wait()).await.is_ok();
        }
        if !exited {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
        self.child = None;
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
    }
}

/// The transport over a child's stdin and stdout.
pub(crate) struct StdioLines {
    read: BufReader<ChildStdout>,
    write: Arc<tokio::sync::Mutex<Option<ChildStdin>>>,
    line: Vec<u8>,
    /// The start of a line over the bound, kept while its rest is skipped.
    over: Option<Vec<u8>>,
    pending: Arc<Mutex<Vec<RequestId>>>,
    queued: VecDeque<RxJsonRpcMessage<RoleClient>>,
    last_fault: LastFault,
    secrets: Secrets,
    child: ChildGuard,
}

enum Read {
    Line,
    Over(Vec<u8>),
    End,
}

impl StdioLines {
    /// The transport over `child`'s stdio, which must be piped.
    pub(crate) fn new(
        mut child: Box<dyn ChildWrapper>,
        secrets: Secrets,
        last_fault: LastFault,
    ) -> std::io::Result<Self> {
        let missing = |what| std::io::Error::other(format!("the child's {what} is not piped"));
        let stdin = child.stdin().take().ok_or_else(|| missing("stdin"))?;
        let stdout = child.stdout().take().ok_or_else(|| missing("stdout"))?;
        Ok(Self {
            read: BufReader::new(stdout),
            write: Arc::new(tokio::sync::Mutex::new(Some(stdin))),
            line: Vec::new(),
            over: None,
            pending: Arc::default(),
            queued: VecDeque::new(),
            last_fault,
            secrets,
            child: ChildGuard {
                child: Some(child),
                exited: watch::channel(()).0,
            },
        })
    }

    /// The end of the child's process, to wait on once the transport is
    /// dropped.
    pub(crate) fn exited(&self) -> Exited {
        Exited(self.child.exited.subscribe())
    }

    /// Reads one line into `self.line`, never past the bound. Cancel-safe:
    /// what was read stays in `self` for the next call.
    async fn read_line(&mut self) -> Read {
        loop {
            let (used, done) = {
                let Ok(available) = self.read.fill_buf().await else {
                    return Read::End;
                };
                if available.is_empty() {
                    return Read::End;
                }
                let newline = available.iter().position(|b| *b == b'\n');
                let take = newline.map_or(available.len(), |i| i + 1);
                let chunk = available.get(..take).unwrap_or_default();
                if let Some(over) = &mut self.over {
                    // Keep the line's end, where an id may be.
                    over.extend_from_slice(chunk);
                    if over.len() > KEPT * 3 {
                        let cut = over.len() - KEPT * 2;
                        over.drain(KEPT..cut);
                    }
                } else if self.line.len() + take > MAX_REPLY_BYTES {
                    let mut start = std::mem::take(&mut self.line);
                    start.truncate(KEPT);
                    start.extend_from_slice(chunk);
                    self.over = Some(start);
                } else {
                    self.line.extend_from_slice(chunk);
                }
                (take, newline.is_some())
            };
            self.read.consume(used);
            if done {
                return match self.over.take() {
                    Some(over) => Read::Over(over),
                    None => Read::Line,
                };
            }
        }
    }

    /// Ends the request the line `bytes` answers (or every pending one)
    /// with `fault`; none, for the server's own message (a notification,
    /// or a request of its own, whose id is not klieo's). `whole` when
    /// `bytes` is the whole line, not its start and end.
    fn fault(&mut self, fault: ReplyFault, bytes: &[u8], whole: bool) {
        // Read before the lock (a line may be megabytes): the server's own
        // message answers nothing.
        let answers = (!from_server(bytes, whole)).then(|| reply_id(bytes, whole));
        let targets: Vec<RequestId> = {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            match answers {
                None => Vec::new(),
                // The line's own id: its request, or none when it is one
                // no longer waited for (given up, answered).
                Some(Some(raw)) => pending
                    .iter()
                    .position(|id| same_id(id, raw))
                    .map(|i| vec![pending.remove(i)])
                    .unwrap_or_default(),
                Some(None) => std::mem::take(&mut *pending),
            }
        };
        tracing::warn!(%fault, requests = targets.len(), "an MCP server's reply was dropped");
        *self
            .last_fault
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(fault.clone());
        for id in targets {
            let data = serde_json::json!({ FAULT_KEY: fault });
            let error = ErrorData::new(ErrorCode::INTERNAL_ERROR, fault.to_string(), Some(data));
            self.queued.push_back(JsonRpcMessage::Error(JsonRpcError {
                jsonrpc: Default::default(),
                id: Some(id),
                error,
            }));
        }
    }

    fn answered(&self, message: &RxJsonRpcMessage<RoleClient>) {
        let id = match message {
            JsonRpcMessage::Response(r) => Some(&r.id),
            JsonRpcMessage::Error(e) => e.id.as_ref(),
            _ => None,
        };
        if let Some(id) = id {
            let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
            pending.retain(|p| p != id);
        }
    }

    /// The next message, or a fault for a line that could not be one.
    fn parse(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        let line = std::mem::take(&mut self.line);
        let text = trimmed(&line);
        if text.is_empty() {
            return None;
        }
        if let Err(fault) = scan(text) {
            self.fault(fault, text, true);
            return None;
        }
        match serde_json::from_slice::<RxJsonRpcMessage<RoleClient>>(text) {
            Ok(message) if unread(&message) => None,
            Ok(message) => {
                self.answered(&message);
                Some(message)
            }
            Err(e) => {
                let value = serde_json::from_slice::<Value>(text).ok();
                let notification = value
                    .as_ref()
                    .and_then(Value::as_object)
                    .is_some_and(|message| !message.contains_key("id"));
                if notification {
                    // A notification of a kind rmcp does not know: nothing
                    // waits. Any other value (a batch, a bare string) is a
                    // fault: a request may wait for what it held.
                    tracing::debug!(error = %e, "an MCP server sent a message klieo ignores");
                    return None;
                }
                let excerpt = self.secrets.shown_start(text, EXCERPT_CHARS);
                self.fault(ReplyFault::Malformed { excerpt }, text, true);
                None
            }
        }
    }
}

/// Whether `message` is a notification klieo does not read whose text is
/// the server's to choose (a log line, a progress message, one of a kind
/// of its own): dropped here, as rmcp logs every notification it is
/// handed whole (at `info`), and a server may log its own token.
fn unread(message: &RxJsonRpcMessage<RoleClient>) -> bool {
    let JsonRpcMessage::Notification(note) = message else {
        return false;
    };
    matches!(
        note.notification,
        ServerNotification::LoggingMessageNotification(_)
            | ServerNotification::ProgressNotification(_)
            | ServerNotification::CustomNotification(_)
    )
}

/// Keeps `pending` as `item`, being sent, leaves it: a request waits for
/// its reply; one given up (a call timed out, and MCP's
/// `notifications/cancelled` sent) gets none, so it waits no more and a
/// bad line is not charged to it.
fn track(pending: &mut Vec<RequestId>, item: &TxJsonRpcMessage<RoleClient>) {
    match item {
        JsonRpcMessage::Request(request) => pending.push(request.id.clone()),
        JsonRpcMessage::Notification(note) => {
            if let ClientNotification::CancelledNotification(cancelled) = &note.notification {
                if let Some(id) = &cancelled.params.request_id {
                    pending.retain(|p| p != id);
                }
            }
        }
        _ => {}
    }
}

/// Where a fault travels in the error a request ends with.
pub(crate) const FAULT_KEY: &str = "klieoReplyFault";

/// The most characters of a malformed line a fault shows.
pub(crate) const EXCERPT_CHARS: usize = 200;

fn trimmed(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line)
}

impl Transport<RoleClient> for StdioLines {
    type Error = std::io::Error;

    fn name() -> Cow<'static, str> {
        "stdio".into()
    }

    fn send(
        &mut self,
        item: TxJsonRpcMessage<RoleClient>,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        track(
            &mut self.pending.lock().unwrap_or_else(PoisonError::into_inner),
            &item,
        );
        let write = Arc::clone(&self.write);
        async move {
            let mut bytes = serde_json::to_vec(&item)?;
            bytes.push(b'\n');
            let mut write = write.lock().await;
            let Some(stdin) = write.as_mut() else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "the server's stdin is closed",
                ));
            };
            stdin.write_all(&bytes).await?;
            stdin.flush().await
        }
    }

    async fn receive(&mut self) -> Option<RxJsonRpcMessage<RoleClient>> {
        loop {
            if let Some(message) = self.queued.pop_front() {
                return Some(message);
            }
            match self.read_line().await {
                Read::End => return None,
                Read::Over(start) => {
                    let fault = ReplyFault::TooLarge {
                        limit: MAX_REPLY_BYTES,
                    };
                    self.fault(fault, &start, false);
                }
                Read::Line => {
                    if let Some(message) = self.parse() {
                        return Some(message);
                    }
                }
            }
        }
    }

    /// Closes the server's stdin, unless a send holds it: one blocked on
    /// a server that reads no more would hold it for good, and the child
    /// (killed when the transport is dropped, right after) would be left
    /// running. Its stdin goes with it then.
    async fn close(&mut self) -> Result<(), Self::Error> {
        if let Ok(mut write) = self.write.try_lock() {
            drop(write.take());
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
#[path = "stdio_tests.rs"]
mod tests;
