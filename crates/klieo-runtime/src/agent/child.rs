//! A child run (an agent used as a tool): started by its parent's call,
//! or, when its journal holds it already (the call runs again after a
//! stop), taken up where its log ends, or its ending told.

use super::Agent;
use crate::output::OutputSpec;
use crate::resume::journal_of;
use crate::run::{Extras, ParentCall};
use crate::spend::Cover;
use crate::summary::{Relay, RunEvent};
use klieo_types::{Capabilities, Episode, Error, Role, RunId};
use tokio_util::sync::CancellationToken;

impl Agent {
    /// Runs the child run `child`, asked `prompt` on a thread of its own;
    /// when this agent's journal holds it already (its parent's call runs
    /// again after a stop), takes it up where its log ends, or says how it
    /// ended. With `relay`, its events go into its parent's stream as
    /// they happen.
    pub(crate) async fn run_child(
        &self,
        child: RunId,
        prompt: String,
        setup: ChildSetup,
    ) -> Result<ChildEnd, Error> {
        let ChildSetup {
            parent,
            relay,
            cancel,
            cover,
            output,
        } = setup;
        let thread = format!("run-{child}");
        let mut begun = false;
        if let Ok(journal) = journal_of(&self.inner.template.memories, child) {
            match journal.replay(child).await?.last() {
                None => {}
                Some(Episode::Completed { .. }) => {
                    let said = self.session(&thread).messages().await?;
                    let answer = said
                        .iter()
                        .rev()
                        .find(|m| m.role == Role::Assistant)
                        .map(|m| m.content.clone())
                        .unwrap_or_default();
                    return Ok(ChildEnd::Answered(answer));
                }
                Some(Episode::Failed { error }) => return Ok(ChildEnd::Failed(error.clone())),
                Some(_) => begun = true,
            }
        }
        // A typed child asks for its type, started or taken up again: taken
        // up without it, it would ask for the shape its log recorded, which
        // checks only that the answer holds JSON.
        let output = match output {
            Some(output) => Some(self.shaped(output).await),
            None => None,
        };
        // Taken up, it keeps its place in the tree (its depth), and its
        // `ChildOf`, written when it started, is not written again.
        let extras = Extras {
            parent: Some(parent),
            cancel: Some(cancel),
            cover,
            output,
            ..Extras::default()
        };
        let Some(relay) = relay else {
            let answer = match begun {
                true => self.go_on_exactly(child, None, extras).await?,
                false => {
                    self.session(&thread)
                        .run_with(child, prompt, extras)
                        .await?
                }
            };
            return Ok(ChildEnd::Answered(answer.text));
        };
        let mut events = match begun {
            true => self.go_on_streamed_from(child, None, false, extras, None),
            false => self.session(&thread).stream_with(child, prompt, extras),
        };
        while let Some(event) = events.next().await {
            let event = event?;
            let answer = match &event {
                RunEvent::Finished(answer) => Some(answer.text.clone()),
                _ => None,
            };
            relay.push(child, self.name(), event);
            if let Some(answer) = answer {
                return Ok(ChildEnd::Answered(answer));
            }
        }
        Err(Error::BadResponse(format!(
            "child run {child}'s events ended without its answer"
        )))
    }
}

/// What a child run is started with besides its input: the call that
/// starts it, its parent's stream (when streamed), its cancellation and
/// its parent's budget.
pub(crate) struct ChildSetup {
    pub(crate) parent: ParentCall,
    pub(crate) relay: Option<Relay>,
    pub(crate) cancel: CancellationToken,
    pub(crate) cover: Option<Cover>,
    /// The output a typed agent tool asks its child for, given the
    /// child's model's capabilities.
    pub(crate) output: Option<fn(Capabilities) -> OutputSpec>,
}

/// How a child run ended, as [`Agent::run_child`] found it.
pub(crate) enum ChildEnd {
    /// With this answer.
    Answered(String),
    /// Without an answer, as its log says (it ended so before).
    Failed(String),
}
