//! Many writers on one thread at once: every append lands, whole and in
//! each writer's order.

use klieo_types::{Message, ShortTermMemory, ThreadId};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;

/// Writers per store handle, and appends per writer.
const WRITERS: usize = 8;
const APPENDS: usize = 10;

type Writer<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

/// Polls every writer until all are done, in this task: the store's own
/// connections and threads are what run them at once.
async fn join_all(mut writers: Vec<Writer<'_>>) {
    poll_fn(|cx| {
        writers.retain_mut(|w| w.as_mut().poll(cx).is_pending());
        if writers.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// Eight writers per handle append ten messages each to one thread, all at
/// once; `handles` are separate handles on one store (two connections to
/// one database stand for two processes). No append may be lost, and each
/// writer's messages must come back in the order it appended them.
pub async fn concurrent_appends(handles: &[&dyn ShortTermMemory]) {
    let thread = ThreadId::new("shared");
    let mut writers: Vec<Writer<'_>> = Vec::new();
    for (h, store) in handles.iter().enumerate() {
        for w in 0..WRITERS {
            let thread = &thread;
            writers.push(Box::pin(async move {
                for k in 0..APPENDS {
                    let note = Message::user(format!("{h}/{w}:{k}"));
                    if let Err(e) = store.append(thread, vec![note]).await {
                        panic!("append {h}/{w}:{k} failed: {e}");
                    }
                }
            }));
        }
    }
    join_all(writers).await;
    let notes: Vec<String> = match handles[0].load(&thread, usize::MAX).await {
        Ok(transcript) => transcript.iter().map(|m| m.content.clone()).collect(),
        Err(e) => panic!("load failed: {e}"),
    };
    assert_eq!(
        notes.len(),
        handles.len() * WRITERS * APPENDS,
        "no append is lost"
    );
    for h in 0..handles.len() {
        for w in 0..WRITERS {
            let prefix = format!("{h}/{w}:");
            let mine: Vec<&String> = notes.iter().filter(|n| n.starts_with(&prefix)).collect();
            let expected: Vec<String> = (0..APPENDS).map(|k| format!("{prefix}{k}")).collect();
            assert_eq!(
                mine,
                expected.iter().collect::<Vec<_>>(),
                "{prefix} in order"
            );
        }
    }
}
