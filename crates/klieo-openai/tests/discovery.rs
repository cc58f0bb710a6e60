//! What a server says it can do (`GET /props`, llama.cpp's server): asked
//! once, when asked for, and never over what the user declared.

use crate::support::{client, completion, json_reply, last_body, mock_chat};
use klieo_openai::OpenAiClient;
use klieo_provider::builder::ClientBuilder;
use klieo_types::{Capabilities, ChatRequest, LlmClient, Message, ToolChoice, ToolDef};
use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// llama.cpp's `/props`, as `llama-server` answers it (cut down).
fn llama_cpp_props() -> serde_json::Value {
    json!({
        "default_generation_settings": {"n_ctx": 4096, "params": {"temperature": 0.8}},
        "chat_template_caps": {"supports_tool_calls": false, "supports_system_role": true},
        "build_info": "b0-unknown",
        "total_slots": 4
    })
}

async fn props_server() -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/props"))
        .respond_with(ResponseTemplate::new(200).set_body_json(llama_cpp_props()))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn llama_cpps_props_are_learned_once_when_asked_for() {
    let server = props_server().await;
    let llm = client(&server.uri());
    let before = llm.capabilities();
    assert!(
        !before.json_schema(),
        "a local server's defaults: no schema"
    );
    assert!(
        server.received_requests().await.unwrap().is_empty(),
        "nothing is asked until a run needs it"
    );

    let learned = llm.discover_capabilities().await;
    assert!(
        learned.json_schema() && learned.usage_in_streams(),
        "{learned:?}"
    );
    assert_eq!(learned.max_context_tokens(), Some(4096));
    assert!(!learned.tool_calling(), "its template cannot call tools");
    assert_eq!(llm.capabilities(), learned, "kept");
    assert_eq!(llm.clone().discover_capabilities().await, learned);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "asked once, clones included"
    );
}

#[tokio::test]
async fn declared_capabilities_win_and_nothing_is_asked() {
    let server = props_server().await;
    let declared = Capabilities::default().with_json_mode(true);
    let llm = OpenAiClient::builder()
        .with_base_url(format!("{}/v1", server.uri()))
        .with_capabilities(declared)
        .build()
        .unwrap();
    assert_eq!(llm.discover_capabilities().await, declared);
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_server_without_props_keeps_the_defaults() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/props"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"detail": "Not Found"})))
        .mount(&server)
        .await;
    let llm = client(&server.uri());
    let defaults = llm.capabilities();
    assert_eq!(llm.discover_capabilities().await, defaults);
    assert_eq!(llm.discover_capabilities().await, defaults);
    assert_eq!(
        server.received_requests().await.unwrap().len(),
        1,
        "a server that said nothing is not asked again"
    );
}

#[tokio::test]
async fn a_tool_forced_by_name_asks_the_server_first_and_is_sent_as_it_can_take_it() {
    let server = props_server().await;
    let reply = completion(json!({"role": "assistant", "content": "ok"}), json!("stop"));
    mock_chat(&server, json_reply(reply)).await;
    let tool = |name: &str| ToolDef::new(name, "a tool", json!({"type": "object"}));
    let req = ChatRequest::new(vec![Message::user("refund order 7")])
        .with_tools(vec![tool("lookup"), tool("refund")])
        .with_tool_choice(ToolChoice::Function("refund".into()));
    // A plain call: nothing asked for the capabilities beforehand.
    client(&server.uri()).complete(req).await.unwrap();
    let body = last_body(&server).await;
    assert_eq!(
        body["tool_choice"],
        json!("required"),
        "llama.cpp takes a named choice for auto"
    );
    let offered: Vec<&str> = body["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["function"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(offered, ["refund"], "only the forced tool is offered");
}

#[tokio::test]
async fn a_server_not_reachable_yet_is_asked_again() {
    // A port nothing listens on (for now).
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let llm = client(&format!("http://{addr}"));
    let defaults = llm.capabilities();
    assert_eq!(llm.discover_capabilities().await, defaults, "refused");

    let listener = std::net::TcpListener::bind(addr).unwrap();
    let server = MockServer::builder().listener(listener).start().await;
    Mock::given(method("GET"))
        .and(path("/props"))
        .respond_with(ResponseTemplate::new(200).set_body_json(llama_cpp_props()))
        .mount(&server)
        .await;
    let learned = llm.discover_capabilities().await;
    assert_eq!(
        learned.max_context_tokens(),
        Some(4096),
        "asked again, learned"
    );
}
