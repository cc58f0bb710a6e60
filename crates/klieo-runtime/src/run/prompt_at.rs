//! [`PromptAt`]: where a run's own messages begin in its thread, which
//! its compaction never summarises. Found when the run first reads its
//! thread, written with its first model call (with compaction on, or in
//! a team's run, whose later parts may compact where the first did not),
//! and read back from the log by a process that takes the run up, whose
//! first read of the thread comes after the run's own messages.

use super::Run;
use crate::fact::Fact;
use klieo_types::{Episode, History, Role, Transcript};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The index in the thread of the run's first own message, once known.
#[derive(Debug, Default)]
pub(crate) struct PromptAt {
    index: OnceLock<u64>,
    /// Found by this process and not written yet.
    unwritten: AtomicBool,
    /// The run's first own message (its prompt), once a read held it:
    /// put back in front of a window that slid past it.
    message: OnceLock<Transcript>,
    /// Taken up from a log that does not say where the run's messages
    /// begin, after its first model call: its first read here is past
    /// them, so it is not where they begin.
    unknown: AtomicBool,
}

impl PromptAt {
    /// The index, once known.
    pub(crate) fn get(&self) -> Option<u64> {
        self.index.get().copied()
    }

    /// The index; `newest` (the thread's newest message, as the run
    /// first reads it) when not known yet, to be written. Memories that
    /// do not number their messages give none: 0 then, not written.
    pub(crate) fn get_or_found(&self, newest: Option<u64>) -> u64 {
        *self.index.get_or_init(|| {
            self.unwritten.store(newest.is_some(), Ordering::Release);
            newest.unwrap_or(0)
        })
    }
}

impl Run {
    /// Notes where the run's own messages begin, at its first read of its
    /// thread (`history`), when not known yet: the newest message then (its
    /// prompt, for a new run) is never summarised by it, and stays in its
    /// requests. Written to the log (see `prompt_at_unwritten`) when
    /// `logged` (with compaction on, or in a team).
    #[inline]
    pub(crate) fn note_prompt_at(&self, history: &History, logged: bool) {
        // Once the prompt is kept, its index is known: nothing to note.
        if self.compaction_limit.message.get().is_none() {
            self.note_prompt_at_first(history, logged);
        }
    }

    /// [`note_prompt_at`](Self::note_prompt_at) until the prompt is kept.
    fn note_prompt_at_first(&self, history: &History, logged: bool) {
        let at = &self.compaction_limit;
        let index = match at.get() {
            Some(index) => index,
            // Compaction needs a limit, and takes the newest message's
            // when the log says none (as it always has); only the prompt
            // kept in requests needs to be sure of it.
            None if !logged && at.unknown.load(Ordering::Relaxed) => return,
            None => {
                let newest = history.first.map(|first| {
                    // An empty read (the newest turn did not fit beside
                    // the summary) starts at the thread's end: its newest
                    // message is the one before.
                    let read = history.messages.len() as u64;
                    (first + read).saturating_sub(1)
                });
                match logged {
                    true => at.get_or_found(newest),
                    false => *at.index.get_or_init(|| newest.unwrap_or(0)),
                }
            }
        };
        if at.message.get().is_none() && !at.unknown.load(Ordering::Relaxed) {
            let held = history
                .first
                .and_then(|first| index.checked_sub(first))
                .and_then(|nth| history.messages.get(usize::try_from(nth).ok()?))
                // A run started on a thread that ends with a tool result
                // or a call (`run_steps` on a thread of its caller's) has
                // no prompt of its own to keep in front.
                .filter(|prompt| prompt.role == Role::User);
            if let Some(prompt) = held {
                let _ = at.message.set(Transcript::from(vec![prompt.clone()]));
            }
        }
    }

    /// `history` with the run's prompt put back in front when its window
    /// slid past it (tool results that fill the history budget), the
    /// window's oldest messages making room for it within `budget`
    /// tokens (with its summary's, as stores cut), never starting at a
    /// tool result: a request never asks the model to go on with a task
    /// it no longer shows. A window whose newest turn leaves no room for
    /// the prompt is left as it is, as is one from memories that do not
    /// number their messages. Any other window cut inside the thread
    /// opens on the user's words (see `open_on_the_users_words`). Made
    /// before a team seat's view, which may leave the prompt out as it
    /// leaves out what came before a hand-off.
    #[inline]
    pub(crate) fn with_prompt(&self, history: &mut History, budget: usize) {
        let Some(first) = history.first else {
            return;
        };
        let past_prompt = self
            .compaction_limit
            .get()
            .is_some_and(|index| first > index);
        if past_prompt && self.put_prompt_in_front(history, budget, first) {
            return;
        }
        if first > 0 && history.summary.is_none() {
            open_on_the_users_words(history);
        }
    }

    /// [`with_prompt`](Self::with_prompt) for a window that starts past
    /// the prompt, at the thread's `first`: whether it put the prompt in
    /// front (not when the run holds no prompt, or the newest turn leaves
    /// no room for it).
    fn put_prompt_in_front(&self, history: &mut History, budget: usize, first: u64) -> bool {
        let Some(prompt) = self.compaction_limit.message.get() else {
            return false;
        };
        let needed: usize = prompt.iter().map(|m| m.estimated_tokens()).sum();
        let (_, room) = History::window_bounds(history.summary.as_ref(), budget);
        let room = room.saturating_sub(needed);
        let messages: Vec<&klieo_types::Message> = history.messages.iter().collect();
        let (mut start, mut tokens) = (messages.len(), 0usize);
        for (nth, message) in messages.iter().enumerate().rev() {
            tokens = tokens.saturating_add(message.estimated_tokens());
            if tokens > room {
                break;
            }
            start = nth;
        }
        while messages.get(start).is_some_and(|m| m.role == Role::Tool) {
            start += 1;
        }
        let Some(kept) = messages.get(start..).filter(|kept| !kept.is_empty()) else {
            return false;
        };
        let kept: Transcript = kept.iter().map(|m| (*m).clone()).collect();
        history.messages = Transcript::concat(&[prompt, &kept]);
        history.first = Some(first + start as u64);
        history.tokens = None;
        true
    }

    /// Takes where the run's own messages begin from its log (`episodes`),
    /// for a run taken up again: the first `PromptAt`.
    pub(crate) fn prompt_at_as_logged(&self, episodes: &[Episode]) {
        let logged = episodes.iter().find_map(|e| match e {
            Episode::PromptAt { index } => Some(*index),
            _ => None,
        });
        match logged {
            Some(index) => {
                let _ = self.compaction_limit.index.set(index);
            }
            // Past its first model call, the run's first read here is
            // past its prompt.
            None if episodes
                .iter()
                .any(|e| matches!(e, Episode::LlmCall { .. })) =>
            {
                self.compaction_limit.unknown.store(true, Ordering::Relaxed);
            }
            None => {}
        }
    }

    /// The episode of where the run's own messages begin, when this
    /// process found it and has not written it: for the commit of the
    /// model call that follows.
    pub(crate) fn prompt_at_unwritten(&self) -> Option<Episode> {
        if !self
            .compaction_limit
            .unwritten
            .swap(false, Ordering::AcqRel)
        {
            return None;
        }
        let index = self.compaction_limit.get()?;
        self.emit(Fact::PromptAt { index }).episode
    }
}

/// A window cut inside its thread (with no summary before
/// it) that opens with the assistant's turn starts at its first user
/// message instead: Anthropic, and chat templates that make the user and
/// the assistant alternate, refuse a conversation that opens with the
/// assistant. A window without a user message is left as it is (a run's
/// window past its prompt gets the prompt back in front instead).
pub(crate) fn open_on_the_users_words(history: &mut History) {
    let skip = match history.messages.iter().position(|m| m.role == Role::User) {
        Some(skip) if skip > 0 => skip,
        _ => return,
    };
    history.messages = history.messages.iter().skip(skip).cloned().collect();
    history.first = history.first.map(|first| first + skip as u64);
    history.tokens = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_found_first_is_kept_and_written_once() {
        let at = PromptAt::default();
        assert_eq!(at.get(), None);
        assert_eq!(at.get_or_found(Some(7)), 7);
        assert_eq!(at.get_or_found(Some(9)), 7, "the first found is kept");
        assert!(at.unwritten.swap(false, Ordering::AcqRel));
        assert!(!at.unwritten.load(Ordering::Acquire));
        let unnumbered = PromptAt::default();
        assert_eq!(unnumbered.get_or_found(None), 0);
        assert!(
            !unnumbered.unwritten.load(Ordering::Acquire),
            "nothing to write"
        );
    }
}
