//! Tools models would refuse are refused when the agent is built, naming
//! the tool: a name models refuse (a tool's own, or a source's tool's),
//! arguments that are not one JSON object, an agent tool with no time at
//! all; a clash's prefix is made usable.

use klieo_runtime::{Agent, AgentTool, TypedTool};
use klieo_types::testing::ScriptedLlm;
use klieo_types::{ConfigError, ToolError, ToolSet};
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

/// An enum the model picks a shape of, tagged by `op`.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(tag = "op")]
#[expect(dead_code, reason = "only the schema is asked for")]
enum Op {
    Add { a: i64, b: i64 },
    Negate { a: i64 },
}

#[test]
fn a_typed_tool_whose_arguments_are_one_of_several_shapes_is_refused_at_build() {
    let calc = TypedTool::new("calc", "Calculates.", |_: Op| async {
        Ok::<_, ToolError>(0)
    });
    let built = Agent::builder(ScriptedLlm::new()).add_tool(calc).build();
    refused(built, "the parameters of tool `calc`");
}

#[test]
fn a_prefix_with_characters_models_refuse_makes_a_name_they_take() {
    let search = || {
        TypedTool::new("search", "Searches.", |_: serde_json::Value| async {
            Ok::<_, ToolError>("found")
        })
    };
    let agent = Agent::builder(ScriptedLlm::new())
        .add_tool(search())
        .add_invoker("web.", ToolSet::new().add_tool(search()))
        .build()
        .unwrap();
    let names: Vec<String> = agent
        .context()
        .tools()
        .catalogue()
        .iter()
        .map(|def| def.name.clone())
        .collect();
    assert_eq!(names, ["search", "web_search"]);
}

#[test]
fn a_sources_tool_whose_name_models_refuse_is_refused_at_build() {
    let read = TypedTool::new("files/read", "Reads.", |_: serde_json::Value| async {
        Ok::<_, ToolError>("text")
    });
    let built = Agent::builder(ScriptedLlm::new())
        .add_invoker("files_", ToolSet::new().add_tool(read))
        .build();
    refused(built, "the name of tool `files/read`");
}
