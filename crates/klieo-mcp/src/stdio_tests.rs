//! The requests klieo's stdio transport keeps pending.

use super::*;

#[test]
fn a_request_given_up_is_pending_no_more() {
    let message = |value: serde_json::Value| -> TxJsonRpcMessage<RoleClient> {
        serde_json::from_value(value).unwrap()
    };
    let mut pending = Vec::new();
    for id in [2, 3] {
        let call = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "t", "arguments": {}}});
        track(&mut pending, &message(call));
    }
    let cancelled = serde_json::json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
        "params": {"requestId": 2, "reason": "timed out"}});
    track(&mut pending, &message(cancelled));
    assert_eq!(pending, [RequestId::Number(3)]);
}

#[tokio::test(start_paused = true)]
async fn close_does_not_wait_behind_a_send_the_server_never_reads() {
    use process_wrap::tokio::{CommandWrap, KillOnDrop, ProcessGroup};
    let mut cmd = tokio::process::Command::new("sleep");
    cmd.arg("300")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut wrap = CommandWrap::from(cmd);
    wrap.wrap(ProcessGroup::leader()).wrap(KillOnDrop);
    let child = wrap.spawn().unwrap();
    let mut lines = StdioLines::new(child, Secrets::default(), LastFault::default()).unwrap();
    // More than a pipe holds, to a server that never reads: the send
    // blocks, holding the server's stdin.
    let call = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "t", "arguments": {"text": "a".repeat(1 << 20)}}});
    let sending = tokio::spawn(lines.send(serde_json::from_value(call).unwrap()));
    tokio::task::yield_now().await;
    assert!(!sending.is_finished(), "the send is blocked");
    let closed = tokio::time::timeout(std::time::Duration::from_secs(60), lines.close()).await;
    assert!(closed.is_ok(), "close waited behind the blocked send");
    // The child is killed with the transport, and the send ends.
    drop(lines);
    assert!(sending.await.unwrap().is_err(), "the pipe is closed");
}
