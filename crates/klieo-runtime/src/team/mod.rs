//! Agents working together. [`AgentTool`]: an agent given to another as a
//! tool; each call is a child run of its own.
//!
//! Not built yet (issue 28): hand-offs between the agents of a team, a
//! call that needs approval inside a child suspending the whole tree, a
//! child's events on its parent's stream, and the tree in `klieo runs
//! show` and the console.

mod agent_tool;

pub use agent_tool::AgentTool;
