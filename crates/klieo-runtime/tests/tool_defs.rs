//! Tools models would refuse are refused when the agent is built, naming
//! the tool: a name models refuse, arguments that are not one JSON
//! object, an agent tool with no time at all.

use klieo_runtime::{Agent, AgentTool, TypedTool};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{ConfigError, ToolError};
use std::time::Duration;

fn refused(built: Result<Agent, ConfigError>, field: &str) {
    assert!(
        matches!(&built, Err(ConfigError::Invalid { name, .. }) if name == field),
        "{built:?}"
    );
}

#[test]
fn a_tool_name_models_refuse_is_refused_at_build() {
    let long = "x".repeat(65);
    for name in ["get weather", "", "files/read", &long] {
        let tool = TypedTool::new(name.to_owned(), "Tells.", |_: serde_json::Value| async {
            Ok::<_, ToolError>("sunny")
        });
        let built = Agent::builder(ScriptedLlm::new()).add_tool(tool).build();
        refused(built, &format!("the name of tool `{name}`"));
    }
}

#[test]
fn a_typed_tool_whose_arguments_are_not_an_object_is_refused_at_build() {
    let now = TypedTool::new("now", "Tells the time.", |_: ()| async {
        Ok::<_, ToolError>("noon")
    });
    let built = Agent::builder(ScriptedLlm::new()).add_tool(now).build();
    refused(built, "the parameters of tool `now`");
}

#[test]
fn an_agent_tool_with_a_timeout_of_zero_is_refused_at_build() {
    let child = Agent::builder(ScriptedLlm::new()).build().unwrap();
    let tool = AgentTool::new("ask_child", "Asks.", child).with_timeout(Duration::ZERO);
    let built = Agent::builder(ScriptedLlm::new()).add_tool(tool).build();
    refused(built, "ToolPolicy::timeout of tool `ask_child`");
}
