//! A typed run's answer: judged against its shape, and asked again (a
//! repair) in words of the run's own, which pre-LLM guardrails do not
//! read as the user's.

use super::Run;
use klieo_types::{ChatRequest, Error, Message, Role};
use std::borrow::Cow;
use std::sync::atomic::Ordering;
use std::sync::PoisonError;

/// What a typed run does with an answer.
pub(crate) enum Verdict {
    /// It fits (or the run is not typed).
    Fits,
    /// It does not; the model is asked again with this message.
    Repair(Message),
}

impl Run {
    /// Whether `answer` is one the run ends with: any, for an untyped
    /// run; one of its shape, for a typed one (which [`judge`] does not
    /// count as a repair).
    ///
    /// [`judge`]: Self::judge
    pub(crate) fn fits(&self, answer: &str) -> bool {
        self.output
            .as_ref()
            .is_none_or(|spec| spec.check(answer).is_ok())
    }

    /// Checks a typed run's answer, given at step `step`: fits, ask
    /// again, or `Error::InvalidOutput` when the repairs are used up or no
    /// step is left to ask in (the run would end with
    /// `MaxStepsExceeded`, the answer and why it did not fit lost, and
    /// the thread ending on a request of the run's own).
    pub(crate) fn judge(&self, answer: &str, step: u32) -> Result<Verdict, Error> {
        let Some(spec) = &self.output else {
            return Ok(Verdict::Fits);
        };
        let Err(reason) = spec.check(answer) else {
            return Ok(Verdict::Fits);
        };
        let attempts = self.repairs.fetch_add(1, Ordering::Relaxed) + 1;
        if attempts > self.opts.output_repairs || !self.steps_left(step) {
            return Err(Error::InvalidOutput {
                reason,
                reply: answer.to_owned(),
                attempts,
            });
        }
        let prompt = spec.repair_prompt(&reason);
        self.repair_prompts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(prompt.clone());
        Ok(Verdict::Repair(Message::user(prompt)))
    }

    /// `req` as pre-LLM guardrails read it: without the repair prompts
    /// this run wrote as user messages (its words, holding the answer's
    /// schema and why the last answer did not fit, not the user's).
    pub(crate) fn as_guardrails_read<'a>(&self, req: &'a ChatRequest) -> Cow<'a, ChatRequest> {
        if self.repairs.load(Ordering::Relaxed) == 0 {
            return Cow::Borrowed(req);
        }
        let asked = self
            .repair_prompts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let own = |m: &Message| m.role == Role::User && asked.contains(&m.content);
        if !req.messages.iter().any(own) {
            return Cow::Borrowed(req);
        }
        let mut read = req.clone();
        read.messages = req.messages.iter().filter(|m| !own(m)).cloned().collect();
        Cow::Owned(read)
    }
}
