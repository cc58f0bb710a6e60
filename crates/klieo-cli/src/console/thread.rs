//! A run's thread on its page: the newest messages, who said each and
//! what (tool calls with their arguments).

use super::run_page::{cut, NAME, SHORT};
use super::Console;
use crate::runs::plain;
use klieo::types::{MemoryError, ThreadId, Transcript};
use maud::{html, Markup};

/// How much of a run's thread its page shows, the newest messages, in
/// estimated tokens.
const THREAD_TOKENS: usize = 20_000;
/// The most a page reads of a thread whose newest turn is over
/// [`THREAD_TOKENS`] alone, in estimated tokens.
const THREAD_TOKENS_MAX: usize = 16 * THREAD_TOKENS;

/// What a page read of a thread.
pub(super) struct ThreadRead {
    messages: Transcript,
    /// The budget they were read under, in estimated tokens.
    budget: usize,
    /// The thread holds no message (a run still queued).
    empty: bool,
}

impl ThreadRead {
    /// The newest messages of `thread`, up to about [`THREAD_TOKENS`];
    /// when its newest turn alone is larger (a few large tool results,
    /// which a window never starts in), read again with twice the budget,
    /// up to [`THREAD_TOKENS_MAX`]: the newest turn whole. A thread with
    /// no message is read once more, to say so.
    pub(super) async fn newest(console: &Console, thread: &ThreadId) -> Result<Self, MemoryError> {
        let threads = console.store.threads();
        let mut budget = THREAD_TOKENS;
        loop {
            let messages = threads.load(thread, budget).await?;
            if !messages.is_empty() || budget >= THREAD_TOKENS_MAX {
                return Ok(Self {
                    messages,
                    budget,
                    empty: false,
                });
            }
            if budget == THREAD_TOKENS {
                // Where an empty read starts: the thread's end.
                let end = threads.load_history(thread, 0, 1).await?.first;
                if end == Some(0) {
                    return Ok(Self {
                        messages,
                        budget,
                        empty: true,
                    });
                }
            }
            budget = budget.saturating_mul(2);
        }
    }

    /// The thread's section of the page.
    pub(super) fn shown(&self, thread: &ThreadId) -> Markup {
        let budget = self.budget;
        html! {
            p.muted {
                "The newest messages of thread " span.mono { (plain(thread.as_str(), NAME)) }
                " (the runs that share it share these), up to about " (budget) " tokens."
            }
            @if self.empty {
                p.muted { "No messages yet." }
            } @else if self.messages.is_empty() {
                p.muted {
                    "No messages to show: the thread's newest turn is over about " (budget)
                    " tokens."
                }
            } @else {
                table.thread {
                    tbody {
                        @for message in self.messages.iter() {
                            tr {
                                td.mono { (message.role.as_str()) }
                                td {
                                    @if !message.content.is_empty() {
                                        pre.message { (cut(&message.content)) }
                                    }
                                    @for call in &message.tool_calls {
                                        p.muted { "calls " strong.mono { (plain(&call.name, NAME)) } " (" (plain(&call.id, SHORT)) ")" }
                                        pre.arguments { (cut(call.arguments())) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
