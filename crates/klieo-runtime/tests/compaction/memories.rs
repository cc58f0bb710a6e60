//! Compaction in memories that are not a journal: the context's own (kept
//! in this process) and memories given to it. The summary is kept in the
//! conversation memory and read by the next request, as a journal keeps it.

use super::{options, reads_summary, BUDGET};
use klieo_runtime::{run_steps, AgentContext, InMemoryEpisodic, InMemoryShortTerm};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{Episode, Message, ThreadId};
use std::sync::Arc;

/// A context over `llm` with its own memories, or with memories given to
/// it.
fn context(llm: &ScriptedLlm, given: bool) -> AgentContext {
    let ctx = AgentContext::new(llm.clone());
    match given {
        false => ctx,
        true => ctx
            .with_short_term(Arc::new(InMemoryShortTerm::new()))
            .with_episodic(Arc::new(InMemoryEpisodic::new())),
    }
}

#[tokio::test]
async fn a_thread_past_its_trigger_is_summarised_in_memories_that_are_not_a_journal() {
    for given in [false, true] {
        let llm = ScriptedLlm::new()
            .then_text("The user asked seven questions.")
            .then_text("done");
        let ctx = context(&llm, given);
        let thread = ThreadId::new("long");
        let mut messages = Vec::new();
        for turn in 0..7 {
            let question = format!("question {turn} {}", "word ".repeat(30));
            messages.push(Message::user(question));
            messages.push(Message::assistant(format!("answer {turn}")));
        }
        messages.push(Message::user("one more"));
        ctx.short_term().append(&thread, messages).await.unwrap();

        let answer = run_steps(&ctx, "Answer briefly.", thread.clone(), options()).await;
        assert_eq!(answer, Ok("done".into()), "given: {given}");
        let requests = llm.requests();
        assert_eq!(requests.len(), 2, "the summary call, then the run's");
        assert!(reads_summary(
            &requests[1],
            "The user asked seven questions."
        ));
        let kept = ctx.short_term().load_history(&thread, BUDGET, 1).await;
        let summary = kept.unwrap().summary.map(|s| s.text);
        assert_eq!(
            summary.as_deref(),
            Some("The user asked seven questions."),
            "given: {given}"
        );
        let log = ctx.episodic().replay(ctx.run_id()).await.unwrap();
        let compacted = log.iter().any(|e| matches!(e, Episode::Compacted { .. }));
        assert!(compacted, "given: {given}: {log:?}");
    }
}
