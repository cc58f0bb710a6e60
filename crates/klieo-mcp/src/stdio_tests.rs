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
