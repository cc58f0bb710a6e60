//! [`Worker`]: drives the runs a [`RunQueue`] holds, with the agents it
//! knows by name: claims what is due, up to its concurrency, holds their
//! leases while it drives them, and on shutdown drains, then gives up the
//! leases of what is left so another worker takes it over at once.
//! [`wait`] follows a submitted run from any process.

mod drain;
mod listening;
mod options;
mod wait;

pub use options::WorkerOptions;
pub use wait::wait;

use crate::lease::release_within;
use crate::team::tree::{append_fenced, Pending};
use crate::Agent;
use drain::Claiming;
use klieo_types::{Claimed, ConfigError, Episode, Error, MemoryError, RunId, RunQueue};
use listening::Listening;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use tokio::task::{AbortHandle, Id, JoinSet};
use tokio_util::sync::CancellationToken;

/// Drives queued runs with the agents it holds.
///
/// Every agent must use the worker's store as its memory
/// ([`AgentBuilder::with_memory`](crate::AgentBuilder::with_memory)): the
/// worker claims runs there and the agent writes them there. A run whose
/// agent no worker holds stays queued. Runs that wait for a person (an
/// approval, a call in doubt) are not claimed; a decision made with the
/// agent (`Agent::approve`) drives the run on where it is made, and one
/// recorded in the store ([`decisions`](crate::decisions)) leaves it for
/// a worker to claim.
///
/// ```
/// use klieo_runtime::{wait, Agent, Worker, WorkerOptions};
/// use klieo_store::InMemoryJournal;
/// use klieo_types::testing::ScriptedLlm;
/// use klieo_types::{RunQueue, RunState, Submission};
/// use std::time::Duration;
/// use tokio_util::sync::CancellationToken;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let store = InMemoryJournal::new();
/// // Any process that opens the store submits:
/// let run = store.submit(&Submission::new("greeter", "Hello!")).await?;
///
/// // A worker process drives it:
/// let agent = Agent::builder(ScriptedLlm::new().then_text("Hi there."))
///     .with_memory(store.clone())
///     .build()?;
/// let worker = Worker::builder(store.clone())
///     .add_agent("greeter", agent)
///     .with_options(WorkerOptions::new().with_poll_interval(Duration::from_millis(10)))
///     .build()?;
/// let shutdown = CancellationToken::new();
/// let working = tokio::spawn({
///     let shutdown = shutdown.clone();
///     async move { worker.run(shutdown).await }
/// });
///
/// let state = wait(&store, run, Duration::from_secs(10)).await?;
/// assert_eq!(state, RunState::Completed { answer: "Hi there.".into() });
/// shutdown.cancel();
/// assert_eq!(working.await?.finished, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Worker {
    queue: Arc<dyn RunQueue>,
    agents: Arc<BTreeMap<String, Agent>>,
    names: Arc<[String]>,
    options: WorkerOptions,
    holder: Arc<str>,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("holder", &self.holder)
            .field("agents", &self.names)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Worker`]; see [`Worker::builder`].
///
/// # Default
/// - agents: none (`build` refuses a worker without one)
/// - options: [`WorkerOptions::default`] (8 runs at once, leases of 30 s;
///   see its list)
pub struct WorkerBuilder {
    queue: Arc<dyn RunQueue>,
    agents: BTreeMap<String, Agent>,
    options: WorkerOptions,
}

impl fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("agents", &self.agents.keys().collect::<Vec<_>>())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl WorkerBuilder {
    /// Drives the runs submitted for `name` with `agent`; a second agent
    /// of the same name replaces the first.
    pub fn add_agent(mut self, name: impl Into<String>, agent: Agent) -> Self {
        self.agents.insert(name.into(), agent);
        self
    }

    /// Sets the worker's options (see [`WorkerOptions`] for the defaults).
    pub fn with_options(mut self, options: WorkerOptions) -> Self {
        self.options = options;
        self
    }

    /// The worker, or `ConfigError::Invalid` for options that cannot work,
    /// a worker without agents, or an agent whose memory is no journal
    /// (built without [`with_memory`](crate::AgentBuilder::with_memory)).
    pub fn build(self) -> Result<Worker, ConfigError> {
        self.options.validate()?;
        if self.agents.is_empty() {
            return Err(ConfigError::invalid(
                "WorkerBuilder::add_agent",
                "a worker without agents would claim no run: add one with \
                 `add_agent(name, agent)`, named as its runs are submitted",
            ));
        }
        if self.agents.contains_key("") {
            return Err(ConfigError::invalid(
                "WorkerBuilder::add_agent",
                "an agent named \"\" is most likely a setting left unset (an empty \
                 variable): name it as its runs are submitted, such as `billing`",
            ));
        }
        if let Some(name) = self
            .agents
            .iter()
            .find_map(|(name, agent)| agent.memories().journal_ref().is_none().then_some(name))
        {
            // Its runs would be written only in its own process: the
            // store would never see them end, and would hand them out
            // again, prompt and all, each time a lease ran out.
            return Err(ConfigError::invalid(
                "WorkerBuilder::add_agent",
                format!(
                    "the agent {name:?} keeps its runs in its own process, where no worker \
                     can take them up: build it with `with_memory(store)`, the store the \
                     worker claims runs from"
                ),
            ));
        }
        Ok(Worker {
            queue: self.queue,
            names: self.agents.keys().cloned().collect(),
            agents: Arc::new(self.agents),
            options: self.options,
            holder: format!("worker-{}", RunId::new()).into(),
        })
    }
}

/// What a worker did, once it stopped.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerReport {
    /// Runs it drove to their end (an answer, a failure, or a suspension
    /// for approval); not those it stopped to be taken up again (a write
    /// that failed, a lease lost) or that were cancelled while it drove
    /// them.
    pub finished: u64,
    /// Runs it stopped at the drain deadline, their leases given up for
    /// another worker to take over.
    pub released: Vec<RunId>,
}

impl Worker {
    /// A worker claiming runs from `queue`; add agents with
    /// [`WorkerBuilder::add_agent`].
    pub fn builder(queue: impl RunQueue + 'static) -> WorkerBuilder {
        WorkerBuilder {
            queue: Arc::new(queue),
            agents: BTreeMap::new(),
            options: WorkerOptions::default(),
        }
    }

    /// The name this worker holds leases as.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// Drives runs until `shutdown` is cancelled, then drains: claims no
    /// more, waits up to the drain deadline for its runs, stops those
    /// still going and gives up their leases. It does not fail: a failure
    /// to claim (the store unreachable) is logged and tried again after
    /// the poll interval, and a run's own failure is the run's, recorded
    /// in its log.
    ///
    /// A store that does not answer does not hold shutdown up. A claim in
    /// flight when `shutdown` comes has the drain deadline to return, and
    /// the runs it took are given up at once, not driven; a claim still
    /// unanswered then is abandoned, and whatever it took is taken over
    /// once its lease runs out. The leases of runs stopped at the deadline
    /// are given up within one lease TTL, or left to run out.
    pub async fn run(&self, shutdown: CancellationToken) -> WorkerReport {
        let mut report = WorkerReport::default();
        let mut running: JoinSet<bool> = JoinSet::new();
        let mut runs: Runs = HashMap::new();
        let mut listening = Listening::new();
        let mut late = None;
        while !shutdown.is_cancelled() {
            // Runs that ended are let go first: one given up (left to be
            // resumed) may be claimed again at once.
            while let Some(done) = running.try_join_next_with_id() {
                ended(&mut runs, &mut report, done);
            }
            tokio::select! {
                biased;
                () = listening.renew(self.queue.as_ref(), &self.holder, self.options.lease_ttl() / 3) => {}
                () = shutdown.cancelled() => break,
            }
            if shutdown.is_cancelled() {
                break;
            }
            let room = self.options.concurrency().saturating_sub(running.len());
            let claimed = match room {
                0 => Vec::new(),
                _ => {
                    let mut claim: Claiming<'_> = Box::pin(self.claim(room));
                    // Told to stop, the worker starts no more runs, even
                    // ones the claim has taken.
                    tokio::select! {
                        biased;
                        () = shutdown.cancelled() => {
                            late = Some(claim);
                            break;
                        }
                        claimed = &mut claim => claimed,
                    }
                }
            };
            let mut spawned = 0;
            for claim in claimed {
                let run = claim.run;
                if runs
                    .values()
                    .any(|(driven, task)| *driven == run && !task.is_finished())
                {
                    // Its lease ran out while this worker still drives it
                    // (the store was out of reach): the claim renewed it
                    // for the task that holds it, which goes on.
                    continue;
                }
                let task = running.spawn(self.clone().drive(claim));
                runs.insert(task.id(), (run, task));
                spawned += 1;
            }
            let full = spawned > 0 && spawned == room;
            if full {
                // Room was filled: look again once a run ends. The store's
                // wake-ups are read meanwhile (and say nothing to a worker
                // without room): PostgreSQL holds its queue of
                // notifications for a listener that does not read them,
                // until `NOTIFY` fails for every process on the database.
                if let Some(done) = tokio::select! {
                    () = shutdown.cancelled() => None,
                    done = running.join_next_with_id() => done,
                    () = listening.woken(&self.holder) => None,
                } {
                    ended(&mut runs, &mut report, done);
                }
                continue;
            }
            tokio::select! {
                () = shutdown.cancelled() => {}
                Some(done) = running.join_next_with_id(), if !running.is_empty() => {
                    ended(&mut runs, &mut report, done);
                }
                () = listening.woken(&self.holder) => {}
                () = tokio::time::sleep(self.options.poll_interval()) => {}
            }
        }
        self.drain(running, runs, report, late).await
    }

    /// Claims at most `room` runs, or none when the store fails or does
    /// not answer within a third of the lease's time to live (a claim it
    /// took meanwhile holds its runs' leases until they run out; they are
    /// claimed again then).
    async fn claim(&self, room: usize) -> Vec<Claimed> {
        let ttl = self.options.lease_ttl();
        let answer = ttl / 3;
        let claim = self.queue.claim(&self.holder, &self.names, room, ttl);
        match tokio::time::timeout(answer, claim).await {
            Ok(Ok(claimed)) => claimed,
            Ok(Err(e)) => {
                tracing::warn!(holder = %self.holder, error = %e, "could not claim runs; trying again");
                Vec::new()
            }
            Err(_) => {
                let waited = answer.as_millis();
                tracing::warn!(holder = %self.holder, "the store did not answer a claim within {waited} ms; trying again");
                Vec::new()
            }
        }
    }

    /// Drives the claimed run under the claim's lease; whether it drove it
    /// to its end (see [`WorkerReport::finished`]).
    async fn drive(self, mut claim: Claimed) -> bool {
        let Some(agent) = self.agents.get(&claim.agent) else {
            // Claims name only this worker's agents.
            return false;
        };
        let lease = Some((self.holder.to_string(), self.options.lease_ttl()));
        let extras = crate::run::Extras {
            lease,
            ..Default::default()
        };
        let resumed = claim.prompt.is_none();
        let outcome = match claim.prompt.take() {
            Some(prompt) => {
                agent
                    .session(claim.thread.as_str())
                    .run_with(claim.run, prompt, extras)
                    .await
            }
            None => agent.go_on_exactly(claim.run, None, extras).await,
        };
        match outcome {
            Ok(_) => true,
            // A run taken up only to find it still waits for a person
            // stops before it would hold its lease: the claim's lease is
            // given up here, so that once the person decides, a worker
            // takes the run at once instead of when the lease runs out.
            // (A fresh run's engine gave its lease up already.)
            Err(e) if e.waits_for_person() && resumed => {
                let ttl = self.options.lease_ttl();
                release_within(self.queue.as_ref(), claim.run, &self.holder, ttl).await;
                true
            }
            Err(e) if e.waits_for_person() => true,
            // Nothing to take up: a log that ended since the claim (the
            // run was cancelled), or one without episodes, which is ended
            // here, as it would be claimed again each time its lease ran
            // out.
            Err(e @ Error::NotResumable { .. }) => {
                self.end_unresumable(agent, &claim, &e).await;
                false
            }
            // Stopped, for a worker to take up again, or cancelled
            // elsewhere (its lease lost, its write refused).
            Err(e @ (Error::Memory(_) | Error::Cancelled)) => {
                tracing::info!(run_id = %claim.run, error = %e, "run stopped before its end");
                false
            }
            Err(e) => {
                tracing::info!(run_id = %claim.run, error = %e, "run ended without an answer");
                true
            }
        }
    }
}

impl Worker {
    /// Writes the end of the claimed run `agent` could not take up, when
    /// its log holds no episode (it was written without any, then
    /// assigned): no worker ever can. A log with episodes is left as it
    /// is (the run was cancelled since its claim, its end written).
    async fn end_unresumable(&self, agent: &Agent, claim: &Claimed, error: &Error) {
        let Some(journal) = agent.memories().journal_ref() else {
            return;
        };
        let failed = Episode::Failed {
            error: error.to_string(),
        };
        let holder = Some(&*self.holder);
        match append_fenced(
            journal.as_ref(),
            claim.run,
            0,
            failed,
            Pending::Clear,
            holder,
        )
        .await
        {
            Ok(true) => {
                tracing::warn!(run_id = %claim.run, error = %error, "a claimed run had nothing to take up; it is ended");
            }
            Ok(false) | Err(Error::Memory(MemoryError::Cancelled { .. })) => {}
            Err(e) => {
                tracing::warn!(run_id = %claim.run, error = %e, "could not end a claimed run that had nothing to take up; it is claimed again once its lease runs out");
            }
        }
    }
}

/// The runs a worker drives, by their task: each run and its task.
type Runs = HashMap<Id, (RunId, AbortHandle)>;

/// Books a run whose task ended.
fn ended(
    runs: &mut Runs,
    report: &mut WorkerReport,
    done: Result<(Id, bool), tokio::task::JoinError>,
) {
    match done {
        Ok((id, to_its_end)) => {
            if runs.remove(&id).is_some() && to_its_end {
                report.finished += 1;
            }
        }
        Err(e) => {
            // A run that panicked keeps its lease until it runs out; then
            // a worker takes the run over.
            if let Some((run, _)) = runs.remove(&e.id()) {
                tracing::error!(run_id = %run, error = %e, "a run's task panicked");
            }
        }
    }
}
