//! Back-pressure: the provider's stream is pulled only as the consumer asks.

use crate::support::{context, start};
use klieo_runtime::RunOptions;
use klieo_types::testing::{next, text_chunks, ScriptedLlm};

#[tokio::test]
async fn provider_is_pulled_only_as_the_consumer_reads() {
    let pieces: Vec<String> = (0..100).map(|i| format!("c{i} ")).collect();
    let pieces: Vec<&str> = pieces.iter().map(String::as_str).collect();
    let llm = ScriptedLlm::new().then_chunks(text_chunks(&pieces, None));
    let (ctx, thread) = context(&llm).await;
    let mut stream = start(&ctx, thread, RunOptions::default()).await;

    assert!(next(&mut stream).await.is_some_and(|i| i.is_ok()));
    // Nothing pulls behind the consumer's back while it does not read.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert!(llm.pulled_chunks() <= 2, "pulled {}", llm.pulled_chunks());

    for read in 2..=10 {
        assert!(next(&mut stream).await.is_some());
        assert!(
            llm.pulled_chunks() <= read + 1,
            "after {read} items, pulled {}",
            llm.pulled_chunks()
        );
    }
}
