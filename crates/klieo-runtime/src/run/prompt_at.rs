//! [`PromptAt`]: where a run's own messages begin in its thread, which
//! its compaction never summarises. Found when the run first reads its
//! thread, written with its first model call (with compaction on, or in
//! a team's run, whose later parts may compact where the first did not),
//! and read back from the log by a process that takes the run up, whose
//! first read of the thread comes after the run's own messages.

use super::Run;
use crate::fact::Fact;
use klieo_types::{Episode, History};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The index in the thread of the run's first own message, once known.
#[derive(Debug, Default)]
pub(crate) struct PromptAt {
    index: OnceLock<u64>,
    /// Found by this process and not written yet.
    unwritten: AtomicBool,
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
    /// prompt, for a new run) is never summarised by it.
    pub(crate) fn note_prompt_at(&self, history: &History) {
        let newest = history.first.map(|first| {
            // An empty read (the newest turn did not fit beside the
            // summary) starts at the thread's end: its newest message is
            // the one before.
            let read = history.messages.len() as u64;
            (first + read).saturating_sub(1)
        });
        self.compaction_limit.get_or_found(newest);
    }

    /// Takes where the run's own messages begin from its log (`episodes`),
    /// for a run taken up again: the first `PromptAt`.
    pub(crate) fn prompt_at_as_logged(&self, episodes: &[Episode]) {
        let logged = episodes.iter().find_map(|e| match e {
            Episode::PromptAt { index } => Some(*index),
            _ => None,
        });
        if let Some(index) = logged {
            let _ = self.compaction_limit.index.set(index);
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
