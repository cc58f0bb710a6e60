//! The faults server (the official Python SDK): a tool that fails, one that
//! hangs until cancelled, a server that exits mid-call or cannot start
//! again, and a tool list that changes.

use crate::support::{ctx, faults_stdio, faults_under_a_wrapper};
use klieo_mcp::{Approval, McpServer};
use klieo_types::{ToolError, ToolInvoker};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn an_error_result_is_a_failure_for_the_model_and_structured_output_is_kept() {
    let server = McpServer::connect(faults_stdio()).await.unwrap();
    let out = server
        .invoke("fail", json!({"message": "no such city"}), ctx())
        .await;
    match out {
        Err(ToolError::Failed { tool, message }) => {
            assert_eq!(tool, "fail");
            assert!(message.contains("no such city"), "{message}");
        }
        other => panic!("expected ToolError::Failed, got {other:?}"),
    }
    let sum = server.invoke("add", json!({"a": 2, "b": 3}), ctx()).await;
    assert_eq!(sum, Ok(json!({"sum": 5})));
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_call_that_hangs_times_out_and_the_server_is_told_to_cancel_it() {
    // Long enough for the hang to reach the server, and for the count of
    // cancellations after it, on a loaded machine.
    let settings = faults_stdio().with_call_timeout(Duration::from_secs(3));
    let server = McpServer::connect(settings).await.unwrap();
    let out = server.invoke("hang", json!({}), ctx()).await;
    assert!(matches!(out, Err(ToolError::Timeout { .. })), "{out:?}");
    assert_one_cancellation_reached(&server).await;
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_call_dropped_mid_way_is_cancelled_at_the_server() {
    let server = McpServer::connect(faults_stdio()).await.unwrap();
    let hang = hanging_call(&server).await;
    // Once the server has the call, drop it, as a cancelled run does.
    hang.abort();
    assert!(hang.await.unwrap_err().is_cancelled());
    assert_one_cancellation_reached(&server).await;
}

/// A call of `hang` on `server`, in a task of its own, once the server
/// has it (its `hanging` says so).
async fn hanging_call(
    server: &McpServer,
) -> tokio::task::JoinHandle<Result<serde_json::Value, ToolError>> {
    let hang = {
        let server = server.clone();
        tokio::spawn(async move { server.invoke("hang", json!({}), ctx()).await })
    };
    let started = server
        .invoke("hanging", json!({"at_least": 1}), ctx())
        .await;
    assert_eq!(started, Ok(json!("1")));
    hang
}

/// The server counts the cancellations it received (waiting for the
/// first, 10 s at most): one.
async fn assert_one_cancellation_reached(server: &McpServer) {
    let cancelled = server
        .invoke("cancelled_calls", json!({"at_least": 1}), ctx())
        .await;
    assert_eq!(cancelled, Ok(json!("1")));
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_server_that_exits_mid_call_is_reported_then_started_again() {
    let dir = tempfile::tempdir().unwrap();
    let starts = dir.path().join("starts");
    let settings = faults_stdio().add_env("KLIEO_MCP_STARTS", starts.display().to_string());
    let server = McpServer::connect(settings).await.unwrap();

    let out = server.invoke("exit_mid_call", json!({}), ctx()).await;
    let Err(
        error @ ToolError::Retryable {
            retry_after: None, ..
        },
    ) = out
    else {
        panic!("expected a retryable error with no automatic retry, got {out:?}");
    };
    let message = error.to_string();
    assert!(message.contains("MCP server `faults`"), "{message}");
    assert!(
        message.contains("unknown"),
        "the outcome is unknown: {message}"
    );
    assert!(
        message.contains("exiting mid-call on purpose"),
        "its stderr: {message}"
    );

    let echoed = server.invoke("echo", json!({"text": "back"}), ctx()).await;
    assert_eq!(echoed, Ok(json!("back")), "started again at the next call");
    let lines = std::fs::read_to_string(&starts).unwrap();
    assert_eq!(lines.lines().count(), 2);
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_server_killed_between_calls_is_started_again_by_the_next_call() {
    let dir = tempfile::tempdir().unwrap();
    let starts = dir.path().join("starts");
    let settings = faults_stdio().add_env("KLIEO_MCP_STARTS", starts.display().to_string());
    let server = McpServer::connect(settings).await.unwrap();
    let pid = server.invoke("pid", json!({}), ctx()).await.unwrap();
    let pid = pid.as_str().unwrap().to_owned();
    let killed = tokio::process::Command::new("kill")
        .args(["-9", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());

    // klieo learns of the death from the closed pipe, which may come just
    // after a call has gone out: then that one call says the outcome is
    // unknown, and the next starts the server. Never more than one.
    let mut failures = 0;
    let echoed = loop {
        match server.invoke("echo", json!({"text": "again"}), ctx()).await {
            Ok(out) => break out,
            Err(ToolError::Retryable { .. }) if failures == 0 => failures += 1,
            Err(e) => panic!("after {failures} failure(s): {e}"),
        }
    };
    assert_eq!(echoed, json!("again"));
    let lines = std::fs::read_to_string(&starts).unwrap();
    assert_eq!(lines.lines().count(), 2, "started once more");
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_server_that_cannot_start_again_fails_calls_at_once_with_its_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let refuse = dir.path().join("refuse");
    let starts = dir.path().join("starts");
    let settings = faults_stdio()
        .add_env("KLIEO_MCP_REFUSE", refuse.display().to_string())
        .add_env("KLIEO_MCP_STARTS", starts.display().to_string());
    let server = McpServer::connect(settings).await.unwrap();
    let exited = server.invoke("exit_mid_call", json!({}), ctx()).await;
    assert!(matches!(exited, Err(ToolError::Retryable { .. })));
    std::fs::write(&refuse, "").unwrap();

    let first = server.invoke("echo", json!({"text": "x"}), ctx()).await;
    let Err(ToolError::Retryable {
        message,
        retry_after: Some(wait),
    }) = first
    else {
        panic!("expected a retryable error with a wait, got {first:?}");
    };
    assert!(
        message.contains("refusing to start"),
        "its stderr: {message}"
    );
    assert_eq!(wait, Duration::from_secs(1), "the first backoff");

    // Within the backoff no start is tried: the call fails at once.
    let second = server.invoke("echo", json!({"text": "x"}), ctx()).await;
    assert!(matches!(second, Err(ToolError::Retryable { retry_after: Some(w), .. }) if w <= wait));
    let lines = std::fs::read_to_string(&starts).unwrap();
    assert_eq!(
        lines.lines().count(),
        1,
        "only the first start got that far"
    );
}

#[cfg(unix)]
#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_restart_the_system_refuses_says_why() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("server");
    let (python, faults) = (crate::support::python(), crate::support::faults_script());
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexec \"{python}\" \"{faults}\"\n"),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let settings = klieo_mcp::McpOptions::stdio("faults", script.display().to_string());
    let server = McpServer::connect(settings).await.unwrap();
    let exited = server.invoke("exit_mid_call", json!({}), ctx()).await;
    assert!(matches!(exited, Err(ToolError::Retryable { .. })));
    // No longer executable, by root either.
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();

    let refused = server.invoke("echo", json!({"text": "x"}), ctx()).await;
    let Err(ToolError::Retryable { message, .. }) = refused else {
        panic!("expected a retryable error, got {refused:?}");
    };
    assert!(message.contains("os error 13"), "{message}");
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn close_never_waits_behind_a_restart_that_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let mute = dir.path().join("mute");
    let settings = faults_stdio()
        .add_env("KLIEO_MCP_MUTE", mute.display().to_string())
        .with_connect_timeout(Duration::from_secs(3600));
    let server = McpServer::connect(settings).await.unwrap();
    let exited = server.invoke("exit_mid_call", json!({}), ctx()).await;
    assert!(matches!(exited, Err(ToolError::Retryable { .. })));
    std::fs::write(&mute, "").unwrap();

    let restarting = {
        let server = server.clone();
        tokio::spawn(async move { server.invoke("echo", json!({"text": "x"}), ctx()).await })
    };
    // On this one-thread runtime the call runs until it waits for the
    // start, which never ends by itself (the server never answers).
    tokio::task::yield_now().await;
    tokio::time::timeout(Duration::from_secs(30), server.close())
        .await
        .expect("close does not wait for the start");
    let out = restarting.await.unwrap();
    assert!(
        matches!(&out, Err(ToolError::Retryable { message, .. }) if message.contains("closed")),
        "{out:?}"
    );
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_tool_list_change_the_server_announces_reaches_the_catalogue() {
    let server = McpServer::connect(faults_stdio()).await.unwrap();
    assert!(!server.catalogue().iter().any(|d| d.name == "late"));
    let changed = server.tools_changed();
    let added = server
        .invoke("add_tool", json!({"name": "late"}), ctx())
        .await;
    assert_eq!(added, Ok(json!("added late")));
    tokio::time::timeout(Duration::from_secs(10), changed)
        .await
        .expect("the list is refreshed within 10 s");
    assert!(server.catalogue().iter().any(|d| d.name == "late"));
    let late = server.invoke("late", json!({}), ctx()).await;
    assert_eq!(late, Ok(json!("added late")));
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn tools_marked_for_approval_say_so() {
    let settings = faults_stdio().with_approval(Approval::Tools(vec!["add".into()]));
    let server = McpServer::connect(settings).await.unwrap();
    assert!(server.policy("add").requires_approval());
    assert!(!server.policy("echo").requires_approval());
}

/// A server closed while a call to it is in flight is ended then, not
/// when the call is done: the call fails as one whose server stopped
/// answering, and the next call starts the server again.
#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_server_closed_during_a_call_ends_then() {
    let settings = faults_stdio().with_call_timeout(Duration::from_secs(3600));
    let server = McpServer::connect(settings).await.unwrap();
    let pid = server.invoke("pid", json!({}), ctx()).await.unwrap();
    let pid = pid.as_str().unwrap().to_owned();
    let hang = hanging_call(&server).await;
    server.close().await;
    // Bounded: without the close reaching it, the call would hang an hour.
    let out = tokio::time::timeout(Duration::from_secs(60), hang)
        .await
        .expect("the call ends with its server")
        .unwrap();
    assert!(matches!(out, Err(ToolError::Retryable { .. })), "{out:?}");
    // Its end is the kernel's to deliver: look a bounded number of times.
    let ended = (0..1_000_000).any(|_| {
        std::thread::yield_now();
        matches!(state(&pid), None | Some('Z' | 'X'))
    });
    assert!(ended, "the server process still runs: {:?}", state(&pid));
    let echoed = server.invoke("echo", json!({"text": "on"}), ctx()).await;
    assert_eq!(echoed, Ok(json!("on")), "started again");
}

/// How a fault server closed with `stays` said it ended (see faults.py's
/// `KLIEO_MCP_ENDS`), read once `close` returned.
async fn closed_and_ended(stays: bool) -> String {
    let dir = tempfile::tempdir().unwrap();
    let ends = dir.path().join("ends");
    let mut settings = faults_stdio().add_env("KLIEO_MCP_ENDS", ends.display().to_string());
    if stays {
        settings = settings.add_env("KLIEO_MCP_STAYS", "1");
    }
    let server = McpServer::connect(settings).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), server.close())
        .await
        .expect("close is bounded");
    std::fs::read_to_string(&ends).unwrap_or_default()
}

/// A stdio server closed is let exit on its own once its stdin closes
/// (this one writes what it keeps half a second later, as it exits),
/// not killed as its stdin closes; `close` returns once it has ended.
#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_closed_server_is_let_exit_on_its_own() {
    assert_eq!(closed_and_ended(false).await, "stdin closed\n");
}

/// A stdio server that does not exit when its stdin closes is sent
/// SIGTERM before it would be killed.
#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_closed_server_that_stays_is_sent_sigterm() {
    assert_eq!(closed_and_ended(true).await, "terminated\n");
}

/// The state letter of process `pid` (`R`, `S`, `Z` for one that died and
/// waits to be reaped), or `None` once it is gone.
fn state(pid: &str) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    after_name.trim_start().chars().next()
}

#[test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
fn a_server_dropped_after_its_runtime_takes_its_wrappers_children_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child");
    let first = format!("sleep 300 & echo $! > '{}'", pid_file.display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(McpServer::connect(faults_under_a_wrapper(&first)))
        .unwrap();
    let child = std::fs::read_to_string(&pid_file).unwrap();
    let child = child.trim();
    assert!(
        matches!(state(child), Some(s) if s != 'Z'),
        "the wrapper's child runs"
    );
    // The runtime goes first (a program ending), then the server.
    drop(runtime);
    drop(server);
    // SIGKILL is sent by then; its delivery is the kernel's, so look a
    // bounded number of times.
    let ended = (0..1_000_000).any(|_| {
        std::thread::yield_now();
        matches!(state(child), None | Some('Z' | 'X'))
    });
    assert!(ended, "the wrapper's child still runs: {:?}", state(child));
}
