//! Where the servers are, and how to start them.

use klieo_mcp::McpOptions;
use klieo_types::{RunId, ToolContext};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The environment variable `name`, which `cargo xtask ci` sets.
fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run these tests through `cargo xtask ci`, which installs the MCP servers and sets it")
    })
}

/// Node.js, and server-everything's entry point.
fn everything() -> (String, String) {
    (required("KLIEO_MCP_NODE"), required("KLIEO_MCP_EVERYTHING"))
}

/// server-everything as a child process over stdio.
pub(crate) fn everything_stdio() -> McpOptions {
    let (node, entry) = everything();
    McpOptions::stdio("everything", node).with_args([entry, "stdio".into()])
}

/// The Python SDK's interpreter, and the fault server's script.
pub(crate) fn faults_stdio() -> McpOptions {
    McpOptions::stdio("faults", python()).with_args([faults_script()])
}

/// The interpreter that has the MCP Python SDK.
pub(crate) fn python() -> String {
    required("KLIEO_MCP_PYTHON")
}

/// The fault server started by a shell that first runs `first` (the way
/// `npx` is a wrapper with children of its own).
pub(crate) fn faults_under_a_wrapper(first: &str) -> McpOptions {
    let script = format!("{first}; exec \"$0\" \"$@\"");
    McpOptions::stdio("faults", "sh").with_args([
        "-c".to_owned(),
        script,
        required("KLIEO_MCP_PYTHON"),
        faults_script(),
    ])
}

pub(crate) fn faults_script() -> String {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/servers/faults.py");
    script.display().to_string()
}

/// A server process this test started, stopped when dropped.
pub(crate) struct Running {
    _child: Child,
    pub(crate) url: String,
}

/// Starts server-everything over streamable HTTP on a free port and waits
/// (bounded) for the line saying it listens.
pub(crate) async fn everything_http(port: u16) -> Running {
    let (node, entry) = everything();
    let mut child = Command::new(node)
        .args([entry.as_str(), "streamableHttp"])
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let stderr = child.stderr.take().expect("piped");
    let mut lines = BufReader::new(stderr).lines();
    let listening = async {
        while let Some(line) = lines.next_line().await.expect("stderr reads") {
            if line.contains("listening on port") {
                return;
            }
        }
        panic!("server-everything ended before it listened");
    };
    tokio::time::timeout(Duration::from_secs(60), listening)
        .await
        .expect("server-everything listens within 60 s");
    // Keep reading its stderr so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Running {
        _child: child,
        url: format!("http://127.0.0.1:{port}/mcp"),
    }
}

/// A port nothing listens on now.
pub(crate) fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// The context of a call made outside a run.
pub(crate) fn ctx() -> ToolContext<'static> {
    ToolContext::new(RunId::new(), "call-1", "test")
}

/// `servers/raw.py` (a server written by hand, no SDK) in `mode`, over
/// stdio.
pub(crate) fn raw_stdio(mode: &str) -> McpOptions {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/servers/raw.py");
    McpOptions::stdio("raw", required("KLIEO_MCP_PYTHON"))
        .with_args([script.display().to_string(), mode.to_owned()])
}
