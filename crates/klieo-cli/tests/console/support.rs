//! What the console's tests share: a store its agents wrote, the
//! `klieo console` process over it (stopped when dropped), and plain
//! HTTP/1.1 requests to it.

use klieo::prelude::*;
use klieo::runtime::decisions::{in_doubt, pending_approval, record_decision, Decision};
use klieo::runtime::{wait, TypedTool, Worker, WorkerOptions};
use klieo::sqlite::SqliteStore;
use klieo::types::{async_trait, Capabilities, FinishReason, RunState, Submission, ToolError};
use serde_json::json;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The token the tests' consoles are started with.
pub(crate) const TOKEN: &str = "test-token-0123456789";

/// The text the lookup tool returns: markup that must show as text.
pub(crate) const HOSTILE: &str =
    "<script>window.__xss = 1</script><a href=\"javascript:window.__xss=2\">click</a>";

/// How long a test waits for a run to get where it goes.
pub(crate) const LONG: Duration = Duration::from_secs(60);

/// A model with no script: it calls the run's tool with the user's
/// message, then answers with what the tool said ("The tool said: …").
/// Told `twice: …`, it calls the tool a second time, with
/// [`SECOND_CALL`], before it answers.
pub(crate) struct EchoModel;

/// What a `twice: …` run's second call is made with.
pub(crate) const SECOND_CALL: &str = "then to Carol";

#[async_trait]
impl LlmClient for EchoModel {
    fn name(&self) -> &str {
        "echo"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    async fn complete(&self, req: ChatRequest) -> Result<ChatResponse, LlmError> {
        let last = req
            .messages
            .last()
            .cloned()
            .unwrap_or_else(|| Message::user(""));
        let results = req.messages.iter().filter(|m| m.role == Role::Tool).count();
        let twice = req
            .messages
            .iter()
            .any(|m| m.role == Role::User && m.content.starts_with("twice:"));
        let (id, text) = match (last.role, twice, results) {
            (Role::Tool, true, 1) => ("c2", SECOND_CALL.to_owned()),
            (Role::Tool, _, _) => {
                let answer = Message::assistant(format!("The tool said: {}", last.content));
                return Ok(ChatResponse::new(answer, FinishReason::Stop));
            }
            _ => ("c1", last.content.clone()),
        };
        let tool = req
            .tools
            .first()
            .map(|t| t.name.clone())
            .unwrap_or_default();
        let call = ToolCall::new(id, tool, json!({"text": text}));
        let reply = Message::assistant_tool_calls("", vec![call]);
        Ok(ChatResponse::new(reply, FinishReason::ToolCalls))
    }
}

/// The tools' one argument.
#[derive(serde::Deserialize, schemars::JsonSchema)]
pub(crate) struct Text {
    /// What the user said.
    pub(crate) text: String,
}

/// A worker on `store` with three agents: `mail`, whose `send_mail` needs
/// a person's approval; `lookup`, whose tool returns [`HOSTILE`]; and
/// `pay`, whose `pay` needs approval too and, with `hang`, says so when it
/// starts and never ends (a process that dies while it pays).
pub(crate) fn worker(store: &SqliteStore, hang: Option<Arc<Notify>>) -> Worker {
    let send = TypedTool::new("send_mail", "Sends a mail.", |mail: Text| async move {
        Ok::<_, ToolError>(format!("sent: {}", mail.text))
    })
    .with_approval(true);
    let lookup = TypedTool::new("lookup", "Looks up.", |_: Text| async move {
        Ok::<_, ToolError>(HOSTILE)
    });
    let mail = Agent::builder(EchoModel)
        .add_tool(send)
        .with_memory(store.clone())
        .build()
        .unwrap();
    let looking = Agent::builder(EchoModel)
        .add_tool(lookup)
        .with_memory(store.clone())
        .build()
        .unwrap();
    let pay = TypedTool::new("pay", "Pays.", move |_: Text| {
        let hang = hang.clone();
        async move {
            if let Some(started) = hang {
                started.notify_one();
                std::future::pending::<()>().await;
            }
            Ok::<_, ToolError>("paid")
        }
    })
    .with_approval(true);
    let paying = Agent::builder(EchoModel)
        .add_tool(pay)
        .with_memory(store.clone())
        .build()
        .unwrap();
    let options = WorkerOptions::new()
        .with_poll_interval(Duration::from_millis(100))
        .with_drain_deadline(Duration::from_millis(50));
    Worker::builder(store.clone())
        .add_agent("mail", mail)
        .add_agent("lookup", looking)
        .add_agent("pay", paying)
        .with_options(options)
        .build()
        .unwrap()
}

/// The runs of the tests' store.
pub(crate) struct Runs {
    /// Completed; its tool said [`HOSTILE`].
    pub(crate) looked_up: RunId,
    /// Waits for approval of a mail.
    pub(crate) to_approve: RunId,
    /// Waits for approval of another mail.
    pub(crate) to_deny: RunId,
    /// Approved, then its worker stopped while it paid: in doubt.
    pub(crate) in_doubt: RunId,
}

/// Fills the store at `path` through workers: one lookup run completed,
/// two mail runs waiting for a person, and a payment approved and cut
/// short by its worker's stop, which the next worker found in doubt.
pub(crate) async fn fill(path: &Path) -> Runs {
    let store = SqliteStore::open(path).await.unwrap();
    let submit = |agent: &'static str, prompt: &'static str| {
        let store = store.clone();
        async move { store.submit(&Submission::new(agent, prompt)).await.unwrap() }
    };
    let runs = Runs {
        looked_up: submit("lookup", "find the page").await,
        to_approve: submit("mail", "to Ada").await,
        to_deny: submit("mail", "to Eve").await,
        in_doubt: submit("pay", "12 euros to Ada").await,
    };
    let started = Arc::new(Notify::new());
    let first = Working::start(&store, Some(Arc::clone(&started)));
    let done = wait(&store, runs.looked_up, LONG).await.unwrap();
    assert!(matches!(done, RunState::Completed { .. }), "{done:?}");
    for run in [runs.to_approve, runs.to_deny, runs.in_doubt] {
        assert_eq!(wait(&store, run, LONG).await.unwrap(), RunState::Suspended);
    }
    let payment = pending_approval(&store, runs.in_doubt)
        .await
        .unwrap()
        .unwrap();
    let approve = Decision::Approve { by: "ada".into() };
    record_decision(&store, &payment.ticket, approve)
        .await
        .unwrap();
    tokio::time::timeout(LONG, started.notified())
        .await
        .unwrap();
    // The worker stops while it pays: the payment's outcome is lost.
    first.stop().await;
    let second = Working::start(&store, None);
    assert_eq!(
        wait(&store, runs.in_doubt, LONG).await.unwrap(),
        RunState::Suspended
    );
    assert!(in_doubt(&store, runs.in_doubt).await.unwrap().is_some());
    second.stop().await;
    store.close().await;
    runs
}

/// A worker driving runs on a task until stopped.
pub(crate) struct Working {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<klieo::runtime::WorkerReport>,
}

impl Working {
    /// [`worker`] on `store`, started.
    pub(crate) fn start(store: &SqliteStore, hang: Option<Arc<Notify>>) -> Self {
        let shutdown = CancellationToken::new();
        let (worker, token) = (worker(store, hang), shutdown.clone());
        let task = tokio::spawn(async move { worker.run(token).await });
        Self { shutdown, task }
    }

    /// Stops it, its runs drained or given up.
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}

/// A filled store in a temporary directory and a console over it.
pub(crate) struct Opened {
    /// The store's file (its directory lives as long as this).
    pub(crate) path: std::path::PathBuf,
    pub(crate) runs: Runs,
    pub(crate) console: Console,
    /// Bind it (`_dir`) so the directory outlives the test.
    pub(crate) _dir: tempfile::TempDir,
}

/// A store [`fill`]ed, and `klieo console` started over it.
pub(crate) async fn opened() -> Opened {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agents.db");
    let runs = fill(&path).await;
    let console = Console::start(&format!("sqlite://{}", path.display()));
    Opened {
        path,
        runs,
        console,
        _dir: dir,
    }
}

/// `klieo console` over a store, killed when dropped.
pub(crate) struct Console {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub(crate) base: String,
}

impl Console {
    /// Starts the console over `spec` on a free port, with [`TOKEN`].
    pub(crate) fn start(spec: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_klieo"))
            .args(["--store", spec, "console", "--bind", "127.0.0.1:0"])
            .args(["--token", TOKEN, "--operator", "ops"])
            .env_remove("KLIEO_STORE")
            .env_remove("KLIEO_CONSOLE_TOKEN")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        // Held from here: a console that prints no URL is stopped too.
        let mut console = Self {
            child,
            base: String::new(),
        };
        let (said, first_line) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = said.send(line);
        });
        // A bound, not a timing: a console that says nothing fails here.
        let line = first_line
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the console prints its URL");
        let url = line
            .split_whitespace()
            .find(|word| word.starts_with("http://"))
            .unwrap_or_else(|| panic!("the console printed no URL: {line:?}"));
        // A token given is not printed.
        assert!(!line.contains(TOKEN), "{line}");
        assert!(line.contains("?token=YOUR_TOKEN"), "{line}");
        console.base = url.split("/?").next().unwrap().to_owned();
        console
    }

    /// The address it listens on, `127.0.0.1:PORT`.
    pub(crate) fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: its status, its headers (names lowercase) and its body.
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    /// The first value of header `name`.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `method path` to `addr` with `headers` (and a form `body`), and
/// reads the whole response (the connection is closed after it).
pub(crate) async fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    if method == "POST" {
        text.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        text.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    text.push_str("\r\n");
    text.push_str(body);
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    // Bodies are read whole: chunked ones keep their chunk sizes, which
    // no test's assertion depends on.
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// `GET path` with the token as a bearer header.
pub(crate) async fn get(console: &Console, path: &str) -> Reply {
    let bearer = format!("Bearer {TOKEN}");
    request(
        console.addr(),
        "GET",
        path,
        &[("Authorization", &bearer)],
        "",
    )
    .await
}

/// `POST path` with the token and `form`, from the console's own page.
pub(crate) async fn post(console: &Console, path: &str, form: &str) -> Reply {
    let bearer = format!("Bearer {TOKEN}");
    let origin = console.base.clone();
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Origin", origin.as_str()),
    ];
    request(console.addr(), "POST", path, &headers, form).await
}

/// The value of the hidden input `name` in `page`.
pub(crate) fn hidden(page: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker).unwrap_or_else(|| {
        panic!(
            "no hidden {name} in the page: {}",
            &page[..page.len().min(2_000)]
        )
    }) + marker.len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].replace("&amp;", "&")
}

/// `text` for a form body: every byte but unreserved ones escaped.
pub(crate) fn form_value(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
