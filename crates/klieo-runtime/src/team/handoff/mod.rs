//! [`Team`]: agents that hand a run to one another. The run goes on with
//! the receiving agent's instructions, tools and options on the same
//! thread; its log records each hand-off (`Episode::HandedOff`).
//!
//! A hand-off ends one agent's part of the run as a stop does (nothing is
//! recorded as failed); the team then takes the run up with the agent
//! handed to (`drive`), as a run is taken up after its process stopped.
//! So a team's run on a journal survives a stop as any run does, and
//! [`Team::resume`] goes on with the agent whose part it was.

mod drive;
mod seat;
mod view;

pub(crate) use seat::{HandedOff, Route, Seat};
pub use view::HandoffHistory;

use crate::agent::Agent;
use klieo_types::ConfigError;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

/// How many hand-offs one run of a team may make, unless
/// [`TeamBuilder::with_max_handoffs`] says otherwise.
pub const DEFAULT_MAX_HANDOFFS: u32 = 10;

/// Agents that hand a run to one another: the model of one calls a
/// hand-off tool (`transfer_to_<agent>`, one for each hand-off declared
/// with [`TeamBuilder::add_handoff`]), or one of its guardrails hands
/// off ([`GuardrailOutcome::Handoff`](crate::GuardrailOutcome::Handoff))
/// to another agent of the team, and the run goes on with that agent's
/// instructions, tools and options on the same thread, which it sees
/// whole. The run's log records each hand-off (`Episode::HandedOff`),
/// and a streamed run tells it ([`RunEvent::HandedOff`](crate::RunEvent::HandedOff)).
///
/// Built with [`Team::builder`] from agents already built, checked where
/// it is built: every agent named once, every hand-off between agents
/// of the team. The agents keep their runs in one store. What an agent
/// sees of the thread once the run is handed to it is its
/// [`HandoffHistory`] (the whole thread unless
/// [`with_history`](TeamBuilder::with_history) says otherwise).
///
/// ```
/// use klieo_runtime::{Agent, Team};
/// use klieo_store::InMemoryJournal;
/// use klieo_types::testing::ScriptedLlm;
/// use klieo_types::{Episode, EpisodicMemory, ToolCall};
/// use serde_json::json;
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build()?.block_on(async {
/// let store = InMemoryJournal::new();
/// let hand_off = ToolCall::new("c1", "transfer_to_refund", json!({"reason": "a refund"}));
/// let triage = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![hand_off]))
///     .with_name("triage")
///     .with_memory(store.clone())
///     .build()?;
/// let refund = Agent::builder(ScriptedLlm::new().then_text("Your refund is on its way."))
///     .with_name("refund")
///     .with_instructions("You refund orders.")
///     .with_memory(store.clone())
///     .build()?;
/// let team = Team::builder(triage)
///     .add_agent(refund)
///     .add_handoff("triage", "refund", "Hands the customer to the refund desk.")
///     .build()?;
///
/// let answer = team.run("I want my money back.").await?;
/// assert_eq!(answer.text, "Your refund is on its way.");
/// assert_eq!(answer.summary.steps, 2);
/// let log = store.replay(answer.summary.run_id).await?;
/// assert!(log.iter().any(|e| matches!(e, Episode::HandedOff { to, .. } if to == "refund")));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Team {
    inner: Arc<Inner>,
}

/// What a team's run had done when an agent's part of it began.
#[derive(Debug, Clone, Copy, Default)]
struct SoFar {
    /// Hand-offs made before the part.
    handed: u32,
    /// Model calls made before this agent's part: its first step is the
    /// agent's first.
    since: u32,
    /// Model calls made when the part began (after `since` for a part
    /// taken up again).
    began_after: u32,
}

struct Inner {
    /// The agent every new run starts with.
    entry: Agent,
    agents: BTreeMap<String, Agent>,
    members: Arc<BTreeSet<String>>,
    /// The hand-off tools each agent is offered.
    routes: BTreeMap<String, Arc<[Route]>>,
    /// What each agent sees of the thread, when not the whole of it.
    histories: BTreeMap<String, HandoffHistory>,
    max_handoffs: u32,
}

impl Team {
    /// Starts building a team whose runs start with `entry`.
    pub fn builder(entry: Agent) -> TeamBuilder {
        TeamBuilder {
            entry,
            agents: Vec::new(),
            handoffs: Vec::new(),
            histories: Vec::new(),
            max_handoffs: DEFAULT_MAX_HANDOFFS,
        }
    }

    /// The agent called `name`, if the team has it.
    pub fn agent(&self, name: &str) -> Option<&Agent> {
        self.inner.agents.get(name)
    }

    /// The agent every new run starts with.
    pub fn entry(&self) -> &Agent {
        &self.inner.entry
    }

    /// The most hand-offs one run may make.
    pub fn max_handoffs(&self) -> u32 {
        self.inner.max_handoffs
    }

    /// The seat of agent `name` in a run that had done `so_far` when its
    /// part began.
    fn seat(&self, name: &str, so_far: SoFar) -> Seat {
        let SoFar {
            handed,
            since,
            began_after,
        } = so_far;
        Seat {
            agent: name.to_owned(),
            handed,
            since,
            began_after,
            members: Arc::clone(&self.inner.members),
            routes: self
                .inner
                .routes
                .get(name)
                .cloned()
                .unwrap_or_else(|| Arc::from(Vec::new())),
            limit: self.inner.max_handoffs,
            history: self.inner.histories.get(name).copied().unwrap_or_default(),
        }
    }
}

impl fmt::Debug for Team {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Team")
            .field("entry", &self.inner.entry.name())
            .field("agents", &self.inner.members)
            .field("max_handoffs", &self.inner.max_handoffs)
            .finish()
    }
}

/// Builds a [`Team`]; see [`Team::builder`].
///
/// Defaults: no agent but the entry, no hand-off tool, every agent sees
/// the whole thread ([`HandoffHistory::Whole`]),
/// [`DEFAULT_MAX_HANDOFFS`] hand-offs a run.
#[must_use = "a builder does nothing until built"]
pub struct TeamBuilder {
    entry: Agent,
    agents: Vec<Agent>,
    handoffs: Vec<(String, String, String)>,
    histories: Vec<(String, HandoffHistory)>,
    max_handoffs: u32,
}

impl TeamBuilder {
    /// Adds `agent`, known to the team by its name
    /// ([`AgentBuilder::with_name`](crate::AgentBuilder::with_name)).
    pub fn add_agent(mut self, agent: Agent) -> Self {
        self.agents.push(agent);
        self
    }

    /// Lets agent `from` hand the run to agent `to`: `from`'s model is
    /// offered a tool `transfer_to_<to>`, described by `description`
    /// (what `to` does, for the model to choose), taking an optional
    /// `reason`. A guardrail of any agent may hand off to any other
    /// agent of the team without one.
    pub fn add_handoff(
        mut self,
        from: impl Into<String>,
        to: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.handoffs
            .push((from.into(), to.into(), description.into()));
        self
    }

    /// Sets what agent `agent` sees of the thread once a run is handed
    /// to it (default [`HandoffHistory::Whole`]).
    pub fn with_history(mut self, agent: impl Into<String>, history: HandoffHistory) -> Self {
        self.histories.push((agent.into(), history));
        self
    }

    /// Sets how many hand-offs one run may make (default
    /// [`DEFAULT_MAX_HANDOFFS`]): one more ends the run with
    /// [`Error::HandoffLimit`](klieo_types::Error::HandoffLimit), so
    /// agents that hand a run back and forth stop. At least 1.
    pub fn with_max_handoffs(mut self, max: u32) -> Self {
        self.max_handoffs = max;
        self
    }

    /// The team, or a [`ConfigError`] naming what cannot work: two agents
    /// of one name, a hand-off from or to an agent the team does not
    /// have (or from an agent to itself), a hand-off tool whose name the
    /// agent has a tool of already or that a model would refuse, a limit
    /// of 0 hand-offs.
    pub fn build(self) -> Result<Team, ConfigError> {
        if self.max_handoffs == 0 {
            return Err(ConfigError::invalid(
                "TeamBuilder::with_max_handoffs",
                "0 lets no run hand off: give at least 1 (the default is 10)",
            ));
        }
        let entry = self.entry.clone();
        let mut agents = BTreeMap::new();
        for agent in std::iter::once(self.entry).chain(self.agents) {
            let name = agent.name().to_owned();
            if agents.insert(name.clone(), agent).is_some() {
                return Err(ConfigError::invalid(
                    "TeamBuilder::add_agent",
                    format!(
                        "two agents of the team are called `{name}`: give each a name of \
                         its own (AgentBuilder::with_name)"
                    ),
                ));
            }
        }
        let mut routes: BTreeMap<String, Vec<Route>> = BTreeMap::new();
        for (from, to, description) in &self.handoffs {
            let route = checked_route(&agents, from, to, description)?;
            let offered = routes.entry(from.clone()).or_default();
            if offered.iter().any(|r| r.to == route.to) {
                return Err(ConfigError::invalid(
                    "TeamBuilder::add_handoff",
                    format!("the hand-off from `{from}` to `{to}` is declared twice: keep one"),
                ));
            }
            offered.push(route);
        }
        let mut histories = BTreeMap::new();
        for (agent, history) in self.histories {
            if !agents.contains_key(&agent) {
                return Err(ConfigError::invalid(
                    "TeamBuilder::with_history",
                    format!(
                        "the team has no agent `{agent}` (it has `{}`): add it with \
                         add_agent, or fix the name",
                        agents.keys().cloned().collect::<Vec<_>>().join("`, `")
                    ),
                ));
            }
            histories.insert(agent, history);
        }
        let apart = agents
            .values()
            .find(|agent| entry.memories().same_store(agent.memories()) == Some(false));
        if let Some(agent) = apart {
            return Err(ConfigError::invalid(
                "TeamBuilder::add_agent",
                format!(
                    "agent `{}` keeps its runs in memories of its own, not those of agent \
                     `{}`, so it would not see a run handed to it: build the agents of a \
                     team on one store (with_memory(store.clone()), or the same \
                     with_short_term and with_episodic memories)",
                    agent.name(),
                    entry.name()
                ),
            ));
        }
        let members = Arc::new(agents.keys().cloned().collect());
        Ok(Team {
            inner: Arc::new(Inner {
                entry,
                agents,
                members,
                routes: routes
                    .into_iter()
                    .map(|(from, r)| (from, Arc::from(r)))
                    .collect(),
                histories,
                max_handoffs: self.max_handoffs,
            }),
        })
    }
}

/// The hand-off from `from` to `to`, checked against the team's agents.
fn checked_route(
    agents: &BTreeMap<String, Agent>,
    from: &str,
    to: &str,
    description: &str,
) -> Result<Route, ConfigError> {
    let invalid = |reason: String| ConfigError::invalid("TeamBuilder::add_handoff", reason);
    let known = || agents.keys().cloned().collect::<Vec<_>>().join("`, `");
    let Some(giver) = agents.get(from) else {
        return Err(invalid(format!(
            "a hand-off from `{from}`, which the team does not have (it has `{}`): \
             add the agent with add_agent, or fix the name",
            known()
        )));
    };
    if !agents.contains_key(to) {
        return Err(invalid(format!(
            "agent `{from}` hands off to `{to}`, which the team does not have (it has \
             `{}`): add the agent with add_agent, or fix the name",
            known()
        )));
    }
    if from == to {
        return Err(invalid(format!(
            "agent `{from}` hands off to itself: a hand-off goes to another agent"
        )));
    }
    let name = seat::tool_name(to);
    if !klieo_types::ToolDef::is_usable_name(&name) {
        return Err(invalid(format!(
            "the hand-off tool to agent `{to}` would be called `{name}`, which models \
             refuse (at most 64 letters, digits, `_` and `-`): name the agent so"
        )));
    }
    if giver.tool_names().contains(&name) {
        return Err(invalid(format!(
            "agent `{from}` has a tool called `{name}` already, the name of its hand-off \
             tool to `{to}`: rename that tool"
        )));
    }
    Ok(Route::new(to, description))
}
