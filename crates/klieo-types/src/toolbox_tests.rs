//! The toolbox's names: unique, kept by their tools, never moved.

use super::*;
use crate::ids::RunId;
use crate::tool::{FnTool, ToolSet};
use serde_json::json;
use std::sync::RwLock;

fn def(name: &str) -> ToolDef {
    ToolDef::new(name, "A tool.", json!({"type": "object"}))
}

fn answering(names: &[&str], answer: &'static str) -> ToolSet {
    names.iter().fold(ToolSet::new(), |set, name| {
        set.add_tool(FnTool::new(def(name), move |_| Ok(json!(answer))))
    })
}

fn names(tools: &Toolbox) -> Vec<String> {
    tools.catalogue().iter().map(|d| d.name.clone()).collect()
}

#[test]
fn a_name_taken_twice_over_gets_a_number_and_no_tool_is_dropped() {
    let tools = Toolbox::new()
        .add_source(answering(&["a", "s_a"], "one"))
        .add_prefixed("s_", answering(&["a"], "two"))
        .add_prefixed("s_", answering(&["a"], "three"));
    assert_eq!(names(&tools), ["a", "s_a", "s_a_2", "s_a_3"]);
}

#[tokio::test]
async fn each_shown_name_reaches_its_own_tool() {
    let tools = Toolbox::new()
        .add_source(answering(&["a"], "one"))
        .add_source(answering(&["a"], "two"));
    let ctx = ToolContext::new(RunId::new(), "c", "t");
    assert_eq!(tools.invoke("a", json!({}), ctx).await, Ok(json!("one")));
    assert_eq!(tools.invoke("a_2", json!({}), ctx).await, Ok(json!("two")));
    let unknown = tools.invoke("b", json!({}), ctx).await.expect_err("no b");
    assert_eq!(
        unknown,
        ToolError::UnknownTool {
            name: "b".into(),
            available: vec!["a".into(), "a_2".into()]
        }
    );
}

/// A source whose catalogue changes, as an MCP server's does.
#[derive(Default)]
struct Changing(RwLock<Arc<[ToolDef]>>);

#[async_trait]
impl ToolInvoker for Changing {
    fn catalogue(&self) -> Arc<[ToolDef]> {
        Arc::clone(&self.0.read().expect("lock"))
    }
    async fn invoke(
        &self,
        name: &str,
        _: serde_json::Value,
        _: ToolContext<'_>,
    ) -> Result<serde_json::Value, ToolError> {
        Ok(json!(name))
    }
    fn policy(&self, name: &str) -> ToolPolicy {
        ToolPolicy::new().with_approval(name == "risky")
    }
}

#[tokio::test]
async fn the_catalogue_follows_a_part_whose_list_changes() {
    let server = Arc::new(Changing::default());
    let tools = Toolbox::new()
        .add_source(answering(&["risky"], "local"))
        .add_shared("srv_", server.clone());
    assert_eq!(names(&tools), ["risky"]);

    *server.0.write().expect("lock") = vec![def("risky")].into();
    assert_eq!(names(&tools), ["risky", "srv_risky"]);
    let ctx = ToolContext::new(RunId::new(), "c", "t");
    let out = tools.invoke("srv_risky", json!({}), ctx).await;
    assert_eq!(out, Ok(json!("risky")), "called by its own name");
    assert!(tools.policy("srv_risky").requires_approval());
    assert!(
        !tools.policy("risky").requires_approval(),
        "the local one does not"
    );
}

#[tokio::test]
async fn a_name_never_moves_to_another_tool_when_a_list_changes() {
    let server = Arc::new(Changing::default());
    let tools = Toolbox::new()
        .add_shared("srv_", server.clone())
        .add_prefixed("local_", answering(&["search"], "local"));
    assert_eq!(names(&tools), ["search"], "the local one has the name");

    // The earlier part gains a tool of the same name: the name stays
    // with the tool that had it, and the newcomer gets the prefix.
    *server.0.write().expect("lock") = vec![def("search")].into();
    assert_eq!(names(&tools), ["srv_search", "search"]);
    let ctx = ToolContext::new(RunId::new(), "c", "t");
    let out = tools.invoke("search", json!({}), ctx).await;
    assert_eq!(out, Ok(json!("local")));
}

#[test]
fn names_made_are_at_most_64_characters() {
    let long = "t".repeat(60);
    let tools = Toolbox::new()
        .add_source(answering(&[long.as_str()], "one"))
        .add_prefixed("prefix_", answering(&[long.as_str()], "two"))
        .add_prefixed("prefix_", answering(&[long.as_str()], "three"));
    let shown = names(&tools);
    assert_eq!(shown.len(), 3);
    assert!(
        shown.iter().skip(1).all(|n| n.chars().count() <= 64),
        "{shown:?}"
    );
    assert_ne!(shown[1], shown[2]);
}

#[test]
fn an_unchanged_catalogue_is_the_same_allocation() {
    let tools = Toolbox::new().add_source(answering(&["a"], "one"));
    assert!(Arc::ptr_eq(&tools.catalogue(), &tools.catalogue()));
}

#[test]
fn a_name_of_a_tool_gone_never_moves_to_another_part() {
    let (a, b) = (Arc::new(Changing::default()), Arc::new(Changing::default()));
    let tools = Toolbox::new()
        .add_shared("a_", a.clone())
        .add_shared("b_", b.clone());
    *a.0.write().expect("lock") = vec![def("search")].into();
    assert_eq!(names(&tools), ["search"]);
    // A drops it, and B brings a tool of that name: the model's `search`
    // does not come to mean B's.
    *a.0.write().expect("lock") = Vec::new().into();
    *b.0.write().expect("lock") = vec![def("search")].into();
    assert_eq!(names(&tools), ["b_search"]);
    // A's comes back: under its own name again.
    *a.0.write().expect("lock") = vec![def("search")].into();
    assert_eq!(names(&tools), ["search", "b_search"]);
}
