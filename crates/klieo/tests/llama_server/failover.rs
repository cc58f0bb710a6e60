//! Failover against llama-server: a fallback list whose first three
//! providers are down (connection refused), overloaded (503 with
//! `retry-after`) and stalled hands the run to llama-server within one
//! retry budget, and the journal names each switch.

use super::{options, server};
use klieo::openai::OpenAiClient;
use klieo::prelude::*;
use klieo::sqlite::SqliteStore;
use klieo::types::EpisodicMemory;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A loopback server that answers each request with `reply`, or holds the
/// connection open without a word when there is none.
async fn loopback(reply: Option<&'static str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 64 * 1024];
            let _ = sock.read(&mut buf).await;
            match reply {
                Some(reply) => {
                    let _ = sock.write_all(reply.as_bytes()).await;
                }
                None => held.push(sock),
            }
        }
    });
    base
}

const OVERLOADED: &str = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
retry-after: 30\r\ncontent-length: 39\r\nconnection: close\r\n\r\n\
{\"error\":{\"message\":\"overloaded now\"}}";

/// A client of the server at `base` named `name`, with the default
/// timeouts: a real server's long prompt may take a while to answer.
pub(crate) fn client(name: &str, base: String) -> OpenAiClient {
    OpenAiClient::builder()
        .with_base_url(base)
        .with_model("smollm2")
        .with_provider_name(name)
        .build()
        .expect("a client")
}

/// A client of a faulty server, given up on after 2 s.
fn faulty(name: &str, base: String) -> OpenAiClient {
    OpenAiClient::builder()
        .with_base_url(base)
        .with_model("smollm2")
        .with_provider_name(name)
        .with_connect_timeout(Duration::from_secs(2))
        .with_first_byte_timeout(Duration::from_secs(2))
        .build()
        .expect("a client")
}

#[tokio::test]
#[ignore = "needs llama-server: cargo xtask ci builds and starts it"]
async fn a_run_fails_over_from_down_overloaded_and_stalled_servers_to_llama_server() {
    let down = {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1", free.local_addr().unwrap())
    };
    let overloaded = loopback(Some(OVERLOADED)).await;
    let stalled = loopback(None).await;
    let llm = Fallback::builder()
        .add_provider(faulty("down", down))
        .add_provider(faulty("overloaded", overloaded))
        .add_provider(faulty("stalled", stalled))
        .add_provider(client("llama", format!("{}/v1", server())))
        .build()
        .expect("a fallback");
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("runs.db")).await.unwrap();
    // One budget for the whole list: the 503's 30 s hint is not waited on,
    // and a second pass would not fit.
    let retry = klieo::retry::RetryPolicy::new()
        .with_max_retries(0)
        .with_total_budget(Some(Duration::from_secs(20)));
    let agent = Agent::builder(llm)
        .with_instructions("You are a friendly assistant. Answer in one short sentence.")
        .with_memory(store.clone())
        .with_options(options().with_retry(retry))
        .build()
        .unwrap();
    let mut events = agent.session("failover").stream("Say hello to Ada.");
    let run = events.run_id();
    let (mut switched, mut answer) = (Vec::new(), None);
    while let Some(event) = events.next().await {
        match event.unwrap_or_else(|e| panic!("the run failed over to llama-server: {e}")) {
            RunEvent::ProviderSwitched { switch, .. } => switched.push(switch),
            RunEvent::Finished(done) => answer = Some(done),
            _ => {}
        }
    }
    let answer = answer.expect("an answer");
    assert!(!answer.text.trim().is_empty(), "llama-server answered");
    let pairs: Vec<(&str, &str)> = switched
        .iter()
        .map(|s| (s.from.as_str(), s.to.as_str()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("down", "overloaded"),
            ("overloaded", "stalled"),
            ("stalled", "llama")
        ]
    );
    assert!(switched[1].reason.contains("503"), "{:?}", switched[1]);
    let logged = store.replay(run).await.unwrap();
    let kinds: Vec<&str> = logged.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "provider_switched").count(),
        3,
        "{kinds:?}"
    );
}
