//! Whether a started model server can answer, proved the way the agent will
//! use it: `GET /v1/models` until it listens, then one short chat completion
//! with a multi-token prompt (and, where asked, one embedding). A server that
//! listens but dies on its first prompt (a llama.cpp built for another CPU)
//! is reported as such, with its exit status and the end of its log.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use crate::Error;

/// One request that must succeed before the server counts as ready.
pub(crate) struct Probe {
    /// What it asks, for messages: "a chat completion".
    what: &'static str,
    path: &'static str,
    body: &'static str,
    /// A key the reply's JSON must hold.
    expect: &'static str,
}

/// A chat completion of a few tokens on a prompt of many.
pub(crate) const CHAT: Probe = Probe {
    what: "a chat completion",
    path: "/v1/chat/completions",
    body: r#"{"messages":[{"role":"user","content":"Say hello to the new user in one short sentence."}],"max_tokens":4,"temperature":0}"#,
    expect: "\"choices\"",
};

/// An Anthropic Messages API reply of a few tokens (llama.cpp's server).
pub(crate) const MESSAGES: Probe = Probe {
    what: "a Messages API reply",
    path: "/v1/messages",
    body: r#"{"model":"smollm2","max_tokens":4,"messages":[{"role":"user","content":"Say hello to the new user in one short sentence."}]}"#,
    expect: "\"content\"",
};

/// An embedding of a few words.
pub(crate) const EMBEDDING: Probe = Probe {
    what: "an embedding",
    path: "/v1/embeddings",
    body: r#"{"input":"hello from the readiness check"}"#,
    expect: "\"data\"",
};

/// How long each phase of the check may take.
pub(crate) struct Limits {
    /// Until `GET /v1/models` answers 200 (loading the model).
    pub(crate) listen: Duration,
    /// For one probe's reply.
    pub(crate) answer: Duration,
    /// After a failed probe, how long to wait for the process to exit, so a
    /// crash is reported as a crash.
    pub(crate) exit_grace: Duration,
}

/// What one HTTP exchange gave.
enum Reply {
    /// A status line and the body after the head.
    Answered(u16, String),
    /// Nobody listens on the port (yet).
    Refused,
    /// The connection closed or was reset before a whole reply came.
    Closed,
    /// No reply within the bound.
    TimedOut,
    /// Something else went wrong on the socket.
    Failed(std::io::Error),
}

/// The server waited for: how messages name it, its log file, and the
/// virtual environment its build lives in (what a crash's fix rebuilds).
pub(crate) struct Watched<'a> {
    pub(crate) name: &'a str,
    pub(crate) log: &'a Path,
    pub(crate) venv: &'a Path,
}

/// What to do about a model server built in `venv` when it listens but
/// cannot answer, or dies while a client talks to it.
pub(crate) fn crash_fix(venv: &Path) -> String {
    format!(
        "if the log shows a crash (SIGSEGV, SIGILL, \"illegal instruction\"), llama.cpp was \
         built for another CPU: delete {} and run again to rebuild it portably; otherwise \
         read the log above",
        venv.display()
    )
}

/// Waits until the server on `port` answers every probe. `exited` says
/// whether the server process has ended (and how).
pub(crate) fn wait_ready(
    port: u16,
    server: &Watched<'_>,
    probes: &[Probe],
    limits: &Limits,
    mut exited: impl FnMut() -> Option<ExitStatus>,
) -> Result<(), Error> {
    let (name, log) = (server.name, server.log);
    let started = Instant::now();
    loop {
        if let Some(status) = exited() {
            return Err(Error::new(format!(
                "{name} exited ({status}) before it listened; {}",
                log_tail(log)
            ))
            .or_fix(crash_fix(server.venv)));
        }
        if let Reply::Answered(200, _) = exchange(port, "GET", "/v1/models", "", limits.answer) {
            break;
        }
        if started.elapsed() > limits.listen {
            return Err(Error::new(format!(
                "{name} did not answer GET /v1/models within {}s; {}",
                limits.listen.as_secs(),
                log_tail(log)
            )));
        }
        // A synchronous tool waiting for a child process: no executor to block.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(Duration::from_millis(250));
    }
    for probe in probes {
        let failure = match ask(port, probe, limits, started, &mut exited) {
            Reply::Answered(200, body) if body.contains(probe.expect) => continue,
            Reply::Answered(status, body) => {
                format!("answered HTTP {status}: {}", excerpt(&body))
            }
            Reply::Refused => "refused the connection".to_owned(),
            Reply::Closed => "closed the connection without a reply".to_owned(),
            Reply::TimedOut => format!("sent no reply within {}s", limits.answer.as_secs()),
            Reply::Failed(e) => format!("failed: {e}"),
        };
        let ending = match wait_exit(&mut exited, limits.exit_grace) {
            Some(status) => format!(", then exited ({status})"),
            None => String::new(),
        };
        return Err(Error::new(format!(
            "{name} cannot answer: asked for {} (POST {}), it {failure}{ending}; {}",
            probe.what,
            probe.path,
            log_tail(log)
        ))
        .or_fix(crash_fix(server.venv)));
    }
    Ok(())
}

/// `probe`'s reply, asked again while the server answers 503: llama.cpp's
/// `llama-server` listens (and answers `GET /v1/models`) while it still
/// loads its model, and answers every other request with 503 "Loading
/// model" until it is done; asked again until the listen bound, counted
/// from `started`, or until the server exits.
fn ask(
    port: u16,
    probe: &Probe,
    limits: &Limits,
    started: Instant,
    exited: &mut impl FnMut() -> Option<ExitStatus>,
) -> Reply {
    loop {
        let reply = exchange(port, "POST", probe.path, probe.body, limits.answer);
        let loading = matches!(reply, Reply::Answered(503, _));
        if !loading || started.elapsed() > limits.listen || exited().is_some() {
            return reply;
        }
        // A synchronous tool waiting for a child process: no executor to block.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Polls `exited` for up to `grace`; the exit status if the process ended.
pub(crate) fn wait_exit(
    exited: &mut impl FnMut() -> Option<ExitStatus>,
    grace: Duration,
) -> Option<ExitStatus> {
    let started = Instant::now();
    loop {
        if let Some(status) = exited() {
            return Some(status);
        }
        if started.elapsed() >= grace {
            return None;
        }
        // A synchronous tool waiting for a child process: no executor to block.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One HTTP/1.1 request on a fresh connection, read to its close.
fn exchange(port: u16, method: &str, path: &str, body: &str, timeout: Duration) -> Reply {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
        Ok(stream) => stream,
        Err(_) => return Reply::Refused,
    };
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if let Err(e) = stream.write_all(request.as_bytes()) {
        return broken(e);
    }
    let mut reply = Vec::new();
    if let Err(e) = stream.read_to_end(&mut reply) {
        return broken(e);
    }
    let text = String::from_utf8_lossy(&reply);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return Reply::Closed;
    };
    let status = head
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| head.strip_prefix("HTTP/1.0 "))
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok());
    match status {
        Some(status) => Reply::Answered(status, body.to_owned()),
        None => Reply::Closed,
    }
}

fn broken(e: std::io::Error) -> Reply {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Reply::TimedOut,
        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe => {
            Reply::Closed
        }
        _ => Reply::Failed(e),
    }
}

/// The start of a reply body, on one line.
fn excerpt(body: &str) -> String {
    let line: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(300) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

/// "its log, PATH, ends:" and the log's last lines.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n        ");
    format!("its log, {}, ends:\n        {tail}", log.display())
}

#[cfg(test)]
mod tests;
