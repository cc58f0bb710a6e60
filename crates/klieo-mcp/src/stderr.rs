//! The last lines a stdio server wrote on stderr, kept for the errors that
//! say why it failed: each scrubbed of the server's secrets, then bounded.

use crate::scrub::Secrets;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;

/// How many lines are kept.
const LINES: usize = 20;
/// How much of one line is shown, in characters.
const LINE_CHARS: usize = 500;

/// How long an error waits for the last lines of a server that stopped.
const SETTLE: Duration = Duration::from_millis(500);

/// The last [`LINES`] lines of a stream, shared with the task reading it.
#[derive(Clone)]
pub(crate) struct Tail {
    lines: Arc<Mutex<VecDeque<String>>>,
    secrets: Secrets,
    /// How much of one line is kept before it is scrubbed and cut, in
    /// bytes: past what [`Secrets::shown_start`] reads for [`LINE_CHARS`]
    /// characters, so that a line cut here is known as cut.
    line_bytes: usize,
    /// Becomes `true` when the stream has ended.
    ended: watch::Sender<bool>,
}

impl Tail {
    /// An empty tail whose lines will be scrubbed of `secrets`.
    fn new(secrets: Secrets) -> Self {
        Self {
            lines: Arc::default(),
            line_bytes: secrets.read_for(LINE_CHARS).saturating_add(1),
            secrets,
            ended: watch::Sender::new(false),
        }
    }

    /// Starts a task that reads `stream` to its end, keeping its last
    /// lines scrubbed of `secrets`.
    pub(crate) fn follow(
        stream: impl AsyncRead + Send + Unpin + 'static,
        secrets: Secrets,
    ) -> Self {
        let tail = Self::new(secrets);
        tokio::spawn(tail.clone().read(stream));
        tail
    }

    async fn read(self, mut stream: impl AsyncRead + Unpin) {
        let mut buf = vec![0u8; 4096];
        let mut line = Vec::new();
        loop {
            let n = match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            for &byte in buf.get(..n).unwrap_or_default() {
                if byte == b'\n' {
                    self.push(&line);
                    line.clear();
                } else if line.len() < self.line_bytes {
                    line.push(byte);
                }
            }
        }
        if !line.is_empty() {
            self.push(&line);
        }
        self.ended.send_replace(true);
    }

    fn push(&self, line: &[u8]) {
        let text = self.secrets.shown_start(line.trim_ascii_end(), LINE_CHARS);
        if text.is_empty() {
            return;
        }
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if lines.len() == LINES {
            lines.pop_front();
        }
        lines.push_back(text);
    }

    /// The lines kept, oldest first.
    pub(crate) fn lines(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.iter().cloned().collect()
    }

    /// The lines kept, once the stream has ended (the server stopped and
    /// its last words are in) or after a short bound, whichever is first.
    pub(crate) async fn last_lines(&self) -> Vec<String> {
        let mut ended = self.ended.subscribe();
        let _ = tokio::time::timeout(SETTLE, ended.wait_for(|ended| *ended)).await;
        self.lines()
    }
}

/// `lines` for the end of an error message: nothing when there are none.
pub(crate) fn shown(lines: &[String]) -> String {
    if lines.is_empty() {
        String::new()
    } else {
        format!("; its last lines on stderr: {}", lines.join(" | "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::options::Transport;

    fn with_env(value: &str) -> Secrets {
        Secrets::of(&Transport::Stdio {
            command: "x".into(),
            args: Vec::new(),
            env: vec![("TOKEN".into(), value.into())],
            inherited: Default::default(),
            cwd: None,
        })
    }

    #[tokio::test]
    async fn keeps_the_last_lines_each_bounded() {
        let long = "x".repeat(8 * LINE_CHARS);
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect::<String>() + &long;
        let tail = Tail::new(Secrets::default());
        tail.clone().read(text.as_bytes()).await;
        let lines = tail.last_lines().await;
        assert_eq!(lines.len(), LINES);
        assert_eq!(lines[0], "line 11");
        assert_eq!(lines[LINES - 1], format!("{}…", "x".repeat(LINE_CHARS)));
        assert_eq!(shown(&lines[..1]), "; its last lines on stderr: line 11");
        assert_eq!(shown(&[]), "");
    }

    #[tokio::test]
    async fn a_secret_of_several_lines_printed_on_stderr_is_scrubbed_from_every_line() {
        let key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n\
                   bKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\n-----END PRIVATE KEY-----";
        let tail = Tail::new(with_env(key));
        let text = format!("invalid credentials:\n{key}\n");
        tail.clone().read(text.as_bytes()).await;
        let lines = tail.last_lines().await;
        for line in &lines {
            assert!(
                !line.contains("MIIEvQ") && !line.contains("bKcwgg"),
                "{lines:?}"
            );
        }
        assert_eq!(lines[0], "invalid credentials:");
    }

    #[tokio::test]
    async fn a_secret_the_server_prints_is_scrubbed_even_across_the_cut() {
        let secret = "sk-live-0123456789";
        let near_cut = format!("{}{secret}\n", "y".repeat(LINE_CHARS - 5));
        let text = format!("invalid key {secret}\n{near_cut}");
        let tail = Tail::new(with_env(secret));
        tail.clone().read(text.as_bytes()).await;
        let lines = tail.last_lines().await;
        assert_eq!(lines[0], "invalid key ***");
        assert!(!lines[1].contains("sk-li"), "{}", lines[1]);
    }

    #[tokio::test]
    async fn a_secret_after_wide_characters_is_not_shown_in_part() {
        // 491 four-byte characters fill 1,964 bytes of the 2,000 a line
        // once kept: the secret was cut there, then not found whole.
        let secret = "sk-live-0123456789abcdefghijklmnopqrstuv";
        let line = format!("{}{secret}\n", "\u{1F600}".repeat(491));
        let tail = Tail::new(with_env(secret));
        tail.clone().read(line.as_bytes()).await;
        let lines = tail.last_lines().await;
        assert!(!lines[0].contains("sk-li"), "{}", lines[0]);
    }
}
