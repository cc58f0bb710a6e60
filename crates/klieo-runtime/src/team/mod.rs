//! Agents working together. [`AgentTool`]: an agent given to another as a
//! tool; each call is a child run of its own.
//!
//! A call that needs a person inside a child suspends the whole tree: the
//! parent's step waits with the child (`tree`), and one decision carries
//! the tree on.
//!
//! A child of a streamed run relays its events into its parent's stream
//! (`RunEvent::Child`), through [`RELAY`], set around each tool call of a
//! run that queues events.
//!
//! [`Team`]: agents that hand one run to one another (`handoff`), on the
//! same thread, each part driven by the engine as a run taken up again.

mod agent_tool;
pub(crate) mod cut_off;
pub(crate) mod handoff;
mod tool_shape;
pub(crate) mod tree;

pub use agent_tool::{AgentTool, AGENT_TOOL_TIMEOUT};
pub use handoff::{HandoffHistory, Team, TeamBuilder, DEFAULT_MAX_HANDOFFS};
