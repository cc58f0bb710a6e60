//! [`ToolSet`]: lookup by name, replacement, and the unknown-tool error.

use klieo_types::{RunId, Tool, ToolContext, ToolDef, ToolError, ToolInvoker, ToolSet};
use serde_json::{json, Value};

struct Constant {
    def: ToolDef,
    value: Value,
}

impl Constant {
    fn new(name: &str, value: Value) -> Self {
        Self {
            def: ToolDef::new(name, "returns a constant", json!({"type": "object"})),
            value,
        }
    }
}

#[klieo_types::async_trait]
impl Tool for Constant {
    fn def(&self) -> &ToolDef {
        &self.def
    }
    async fn invoke(&self, _args: Value, _ctx: ToolContext<'_>) -> Result<Value, ToolError> {
        Ok(self.value.clone())
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn later_tool_with_same_name_replaces_earlier_in_place() {
    let set = ToolSet::new()
        .add_tool(Constant::new("a", json!(1)))
        .add_tool(Constant::new("b", json!(2)))
        .add_tool(Constant::new("a", json!(3)));
    let names: Vec<String> = set.catalogue().iter().map(|d| d.name.clone()).collect();
    assert_eq!(names, ["a", "b"]);
    let ctx = ToolContext::new(RunId::new(), "c", "test");
    assert_eq!(block_on(set.invoke("a", json!({}), ctx)).unwrap(), json!(3));
}

#[test]
fn unknown_tool_lists_the_available_ones() {
    let set = ToolSet::new()
        .add_tool(Constant::new("now", json!(0)))
        .add_tool(Constant::new("calculator", json!(0)));
    let ctx = ToolContext::new(RunId::new(), "c", "test");
    let err = block_on(set.invoke("calc", json!({}), ctx)).unwrap_err();
    assert_eq!(
        err,
        ToolError::UnknownTool {
            name: "calc".into(),
            available: vec!["now".into(), "calculator".into()],
        }
    );
}
