//! Driving a team's run: one agent's part after another, each on the
//! engine. A part that hands the run on ends as a stop does; the next
//! part takes the run up with the agent handed to, on the same thread.

use super::{SoFar, Team};
use crate::agent::Agent;
use crate::engine::{start, start_with, Engine, Mode};
use crate::events::{EarlyRun, RunEvents, StartPart};
use crate::resume::{journal_of, record_of, resume_engine, Why};
use crate::run::{Extras, Run};
use crate::summary::{Answer, RunSummary};
use crate::team::tree::TreeRoot;
use klieo_types::{ConfigError, Episode, Error, Message, RunId, ThreadId, Ticket};
use std::sync::Arc;

/// How an agent's part of a team's run begins.
enum Begin {
    /// A new run, asked this.
    Asked(String),
    /// Another agent handed the run on (after the model calls of the
    /// part's `so_far.began_after`).
    HandedOn,
    /// The run taken up again (its process stopped, or a person decided
    /// the call it waits on).
    TakenUp(Option<(Ticket, Option<String>)>),
}

/// One agent's part of a team's run.
struct Part {
    agent: Agent,
    begin: Begin,
    /// What the run had done when this part began.
    so_far: SoFar,
    /// Who the process is to the run's lease, from the part before.
    holder: Option<String>,
    /// The span of the part before, which this part's follows from.
    follows: Option<tracing::Span>,
}

/// A part's run and its engine, or the error that ended it as it started.
type Started = (Arc<Run>, Result<Engine, Error>);

impl Team {
    /// Asks `prompt` in a run of its own, started by the entry agent, and
    /// waits for the answer of whichever agent the run ends with. The
    /// answer's summary counts every agent's part.
    pub async fn run(&self, prompt: impl Into<String>) -> Result<Answer, Error> {
        let run = RunId::new();
        let first = self.first_part(prompt.into());
        self.drive(run, thread_of(run), first).await
    }

    /// [`run`](Self::run), streamed: each agent's events as the run goes,
    /// a [`RunEvent::HandedOff`](crate::RunEvent::HandedOff) between two
    /// agents' parts, and last [`RunEvent::Finished`](crate::RunEvent::Finished).
    pub fn stream(&self, prompt: impl Into<String>) -> RunEvents {
        let run = RunId::new();
        let first = self.first_part(prompt.into());
        self.streamed(run, thread_of(run), first)
    }

    /// Continues the team's run `run` after its process stopped, with the
    /// agent whose part it was (the last its log handed the run to), as
    /// [`Agent::resume`] does for one agent.
    pub async fn resume(&self, run: RunId) -> Result<Answer, Error> {
        let (root, thread, part) = self.taken_up(run, None).await?;
        self.drive(root, thread, part).await
    }

    /// Approves the call the team's run waits on ([`Error::Suspended`],
    /// in any agent's part, or in a child run of one), then goes on as
    /// [`resume`](Self::resume); see [`Agent::approve`].
    pub async fn approve(&self, ticket: &Ticket) -> Result<Answer, Error> {
        let decision = Some((ticket.clone(), None));
        let (root, thread, part) = self.taken_up(ticket.run, decision).await?;
        self.drive(root, thread, part).await
    }

    /// Denies the call the team's run waits on, telling the model
    /// `reason`, then goes on as [`approve`](Self::approve).
    pub async fn deny(&self, ticket: &Ticket, reason: impl Into<String>) -> Result<Answer, Error> {
        let decision = Some((ticket.clone(), Some(reason.into())));
        let (root, thread, part) = self.taken_up(ticket.run, decision).await?;
        self.drive(root, thread, part).await
    }

    fn first_part(&self, prompt: String) -> Part {
        Part {
            agent: self.entry().clone(),
            begin: Begin::Asked(prompt),
            so_far: SoFar::default(),
            holder: None,
            follows: None,
        }
    }

    /// The part that takes `run` (or its tree's root) up again: the agent
    /// its log last handed it to, with `decision` recorded first.
    async fn taken_up(
        &self,
        run: RunId,
        decision: Option<(Ticket, Option<String>)>,
    ) -> Result<(RunId, ThreadId, Part), Error> {
        let tree = TreeRoot::of(journal_of(self.entry().memories(), run)?, run).await?;
        let driver = tree.driver(self.entry().name());
        let Some(agent) = self.agent(driver).cloned() else {
            return Err(Error::NotResumable {
                run,
                reason: format!(
                    "agent `{driver}` drives it, and this team has no agent of that name: \
                     take it up with the team it ran in"
                ),
            });
        };
        let decision = tree.decision_for_root(run, decision).await?;
        let root = tree.root;
        let thread = record_of(tree.journal.as_ref(), root).await?.thread;
        let so_far = so_far_in(&tree.log);
        let part = Part {
            agent,
            begin: Begin::TakenUp(decision),
            so_far,
            holder: None,
            follows: None,
        };
        Ok((root, thread, part))
    }

    /// Drives run `run` from `part` to its answer, part after part.
    async fn drive(&self, run: RunId, thread: ThreadId, mut part: Part) -> Result<Answer, Error> {
        let mut so_far: Option<RunSummary> = None;
        loop {
            let (made, engine) = self
                .start_part(part, run, &thread, Mode::Blocking, None)
                .await?;
            let ended = match engine {
                Ok(engine) => engine.finish().await,
                Err(e) => Err(e),
            };
            let summary = match so_far.take() {
                Some(before) => before.followed_by(made.progress.summary()),
                None => made.progress.summary(),
            };
            let error = match ended {
                Ok(text) => return Ok(Answer { text, summary }),
                Err(error) => error,
            };
            let Some(next) = self.handed_on(&made, summary.steps) else {
                return Err(error);
            };
            so_far = Some(summary);
            part = next;
        }
    }

    /// The part after `ended`'s, when it handed the run on to an agent
    /// of the team, the run's model calls so far being `steps`.
    fn handed_on(&self, ended: &Run, steps: u32) -> Option<Part> {
        let handoff = ended.handoff.get()?.clone();
        let seat = ended.seat()?;
        // A part taken up again may hand on before its own first call.
        let steps = steps.max(seat.began_after);
        Some(Part {
            agent: self.agent(&handoff.to)?.clone(),
            begin: Begin::HandedOn,
            so_far: SoFar {
                handed: seat.handed.saturating_add(1),
                since: steps,
                began_after: steps,
            },
            holder: Some(ended.holder().to_owned()),
            follows: Some(ended.span.clone()),
        })
    }

    /// The events of run `run` from `part` on, part after part.
    fn streamed(&self, run: RunId, thread: ThreadId, part: Part) -> RunEvents {
        let first = self.part_starter(run, thread.clone(), part);
        let team = self.clone();
        RunEvents::starting(run, first).with_onward(Box::new(move |ended, so_far| {
            let next = team.handed_on(ended, so_far.steps)?;
            Some(team.part_starter(run, thread.clone(), next))
        }))
    }

    /// The start of `part` of a streamed run.
    fn part_starter(&self, run: RunId, thread: ThreadId, part: Part) -> StartPart {
        let team = self.clone();
        Box::new(move |early: EarlyRun| {
            Box::pin(async move {
                let (_, engine) = team
                    .start_part(part, run, &thread, Mode::Streamed, Some(&early))
                    .await?;
                engine
            })
        })
    }

    /// Makes `part`'s run of `run` on `thread` (kept in `early` as soon
    /// as it is made) and starts its engine in `mode`.
    async fn start_part(
        &self,
        part: Part,
        run: RunId,
        thread: &ThreadId,
        mode: Mode,
        early: Option<&EarlyRun>,
    ) -> Result<Started, Error> {
        let Part {
            agent,
            begin,
            so_far,
            holder,
            follows,
        } = part;
        let extras = Extras {
            seat: Some(self.seat(agent.name(), so_far)),
            holder,
            follows,
            events: mode == Mode::Streamed,
            ..Extras::default()
        };
        let keep = |made: &Arc<Run>| {
            if let Some(early) = early {
                let _ = early.set(Arc::clone(made));
            }
        };
        match begin {
            Begin::Asked(prompt) => {
                let made = Arc::new(agent.new_run(run, thread, extras)?);
                keep(&made);
                let engine = start(Arc::clone(&made), Some(Message::user(prompt)), mode).await;
                Ok((made, engine))
            }
            Begin::HandedOn => {
                let steps = so_far.began_after;
                let made = Arc::new(agent.new_run(run, thread, extras)?);
                keep(&made);
                let engine = match made.journal() {
                    Some(journal) => {
                        if journal.run(run).await?.is_none() {
                            return Err(not_shared(&agent, run));
                        }
                        resume_engine(Arc::clone(&made), journal, Why::Handoff, mode).await
                    }
                    None => {
                        let episodes = agent.episodes_of(run).await?;
                        if episodes.is_empty() {
                            return Err(not_shared(&agent, run));
                        }
                        // The run's budget counts every part's spend and
                        // their children's, as a journal's resume does.
                        made.take_up_from_log(&episodes, None).await?;
                        start_with(Arc::clone(&made), mode, move |_| async move { Ok(steps) }).await
                    }
                };
                Ok((made, engine))
            }
            Begin::TakenUp(decision) => {
                let (made, journal, why) = agent.take_up(run, decision, extras).await?;
                keep(&made);
                let engine = resume_engine(Arc::clone(&made), journal, why, mode).await;
                Ok((made, engine))
            }
        }
    }
}

/// The thread of a team's new run `run`.
fn thread_of(run: RunId) -> ThreadId {
    ThreadId::new(format!("run-{run}"))
}

/// Why `agent` cannot take run `run` on: its memories do not hold it.
fn not_shared(agent: &Agent, run: RunId) -> Error {
    let after = match agent.memories().journal_ref() {
        Some(_) => "; the run waits in its store, to go on with Team::resume once they do",
        None => "",
    };
    Error::Config(ConfigError::invalid(
        "TeamBuilder::add_agent",
        format!(
            "run {run} was handed to agent `{}`, whose memories do not hold it: build \
             the agents of a team on one store (with_memory(store.clone())){after}",
            agent.name()
        ),
    ))
}

/// What the run whose log is `log` had done, for the part that takes it
/// up: the hand-offs it records, the model calls made before the last of
/// them (the part of the agent that drives it now began after them), and
/// all its model calls.
fn so_far_in(log: &[Episode]) -> SoFar {
    let (mut handed, mut calls, mut since) = (0u32, 0u32, 0u32);
    for episode in log {
        match episode {
            Episode::LlmCall { .. } => calls = calls.saturating_add(1),
            Episode::HandedOff { .. } => {
                handed = handed.saturating_add(1);
                since = calls;
            }
            _ => {}
        }
    }
    SoFar {
        handed,
        since,
        began_after: calls,
    }
}
