//! The pump's cancellation: seen on the next event, whether the provider
//! has chunks ready or is waiting; and a pumped reply rebuilt whole.
#![allow(clippy::panic)]

use super::{ChunkPump, PumpEvent};
use klieo_types::testing::{text_chunks, ScriptedLlm, ScriptedStep};
use klieo_types::{ChatRequest, Error, LlmClient};
use tokio_util::sync::CancellationToken;

async fn pump(llm: &ScriptedLlm, cancel: &CancellationToken) -> ChunkPump {
    let provider = llm
        .stream(ChatRequest::default())
        .await
        .expect("a scripted stream opens");
    ChunkPump::new(provider, cancel.clone(), 1 << 20)
}

fn pieces(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{i} ")).collect()
}

#[tokio::test]
async fn a_cancel_with_chunks_ready_ends_the_next_event() {
    let pieces = pieces(100);
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&pieces, None));
    let cancel = CancellationToken::new();
    let mut pump = pump(&llm, &cancel).await;
    for _ in 0..5 {
        assert!(matches!(pump.next_event().await, PumpEvent::Chunk(_)));
    }
    cancel.cancel();
    assert!(matches!(
        pump.next_event().await,
        PumpEvent::Failed(Error::Cancelled)
    ));
    assert_eq!(
        llm.pulled_chunks(),
        5,
        "no chunk is pulled after the cancel"
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancel_while_the_provider_waits_wakes_the_consumer() {
    let chunks = text_chunks(&["Hel"], None).into_iter().take(1).collect();
    let llm = ScriptedLlm::new().then(ScriptedStep::ChunksThenStall(chunks));
    let cancel = CancellationToken::new();
    let mut pump = pump(&llm, &cancel).await;
    assert!(matches!(pump.next_event().await, PumpEvent::Chunk(_)));
    let canceller = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        canceller.cancel();
    });
    assert!(matches!(
        pump.next_event().await,
        PumpEvent::Failed(Error::Cancelled)
    ));
}

#[tokio::test]
async fn a_token_cancelled_before_the_pump_yields_no_chunk() {
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["a", "b"], None));
    let cancel = CancellationToken::new();
    cancel.cancel();
    let mut pump = pump(&llm, &cancel).await;
    assert!(matches!(
        pump.next_event().await,
        PumpEvent::Failed(Error::Cancelled)
    ));
}

#[tokio::test]
async fn the_chunks_are_relayed_and_the_reply_rebuilt() {
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&["Hel", "lo"], None));
    let mut pump = pump(&llm, &CancellationToken::new()).await;
    let mut seen = String::new();
    let reply = loop {
        match pump.next_event().await {
            PumpEvent::Chunk(chunk) => seen.push_str(&chunk.delta),
            PumpEvent::Finished(reply) => break reply,
            PumpEvent::Failed(e) => panic!("{e:?}"),
        }
    };
    assert_eq!(seen, "Hello");
    assert_eq!(reply.message.content, "Hello");
}
