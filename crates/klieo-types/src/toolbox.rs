//! [`Toolbox`]: one catalogue over several sources of tools (local tools,
//! MCP servers), with the names that clash made unique by a prefix.

use crate::error::ToolError;
use crate::request::ToolDef;
use crate::tool::{ToolContext, ToolInvoker};
use crate::tool_policy::ToolPolicy;
use async_trait::async_trait;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// A [`ToolInvoker`] over several invokers: the local tools of an agent
/// and the tools of servers (such as `klieo_mcp::McpServer`), shown to the
/// model as one catalogue.
///
/// # Names
///
/// A tool keeps its own name unless a part added earlier has a tool of
/// that name. Then it is shown to the model as `{prefix}{name}`, with the
/// prefix given for its part ([`add_prefixed`](Self::add_prefixed)), and
/// if that name is taken too, with `_2`, `_3`, ... after it; a name made
/// so is at most 64 characters. No tool is ever dropped. The catalogue
/// follows its parts: when a part's catalogue changes (an MCP server
/// announcing a new tool list), a new tool is named at the next
/// [`catalogue`](ToolInvoker::catalogue) or call, and a tool keeps the name
/// it had, so a name the model saw never moves to another tool.
///
/// ```
/// use klieo_types::{FnTool, RunId, ToolContext, ToolDef, ToolInvoker, ToolSet, Toolbox};
/// use serde_json::json;
///
/// let def = |name: &str| ToolDef::new(name, "A tool.", json!({"type": "object"}));
/// let local = ToolSet::new().add_tool(FnTool::new(def("search"), |_| Ok(json!("local"))));
/// let server = ToolSet::new()
///     .add_tool(FnTool::new(def("search"), |_| Ok(json!("server"))))
///     .add_tool(FnTool::new(def("fetch"), |_| Ok(json!("fetched"))));
/// let tools = Toolbox::new().add_source(local).add_prefixed("web_", server);
///
/// let names: Vec<String> = tools.catalogue().iter().map(|d| d.name.clone()).collect();
/// assert_eq!(names, ["search", "web_search", "fetch"]);
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let ctx = ToolContext::new(RunId::new(), "c1", "doc");
/// assert_eq!(tools.invoke("web_search", json!({}), ctx).await?, json!("server"));
/// assert_eq!(tools.invoke("search", json!({}), ctx).await?, json!("local"));
/// # Ok::<(), klieo_types::ToolError>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Default)]
pub struct Toolbox {
    parts: Vec<Part>,
    names: Arc<Mutex<Names>>,
}

#[derive(Clone)]
struct Part {
    prefix: Arc<str>,
    tools: Arc<dyn ToolInvoker>,
}

/// The catalogue worked out from the parts' catalogues it was made of.
#[derive(Default)]
struct Names {
    /// Each part's catalogue, as last seen.
    seen: Vec<Arc<[ToolDef]>>,
    catalogue: Arc<[ToolDef]>,
    /// The name shown to the model: the part, and the tool's own name.
    routes: HashMap<String, (usize, String)>,
}

impl Toolbox {
    /// An empty toolbox.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a source of tools whose clashing names get `_2`, `_3`, ...
    /// after them.
    pub fn add_source(self, tools: impl ToolInvoker + 'static) -> Self {
        self.add_shared("", Arc::new(tools))
    }

    /// Adds a source of tools; a tool whose name an earlier part has
    /// already is shown as `{prefix}{name}`.
    pub fn add_prefixed(
        self,
        prefix: impl Into<String>,
        tools: impl ToolInvoker + 'static,
    ) -> Self {
        self.add_shared(prefix, Arc::new(tools))
    }

    /// Adds a shared source of tools, as [`add_prefixed`](Self::add_prefixed).
    pub fn add_shared(mut self, prefix: impl Into<String>, tools: Arc<dyn ToolInvoker>) -> Self {
        self.parts.push(Part {
            prefix: Arc::from(prefix.into()),
            tools,
        });
        // A new part list: the names are worked out again.
        self.names = Arc::default();
        self
    }

    /// Adds every part of `other`, after the parts here.
    pub fn merge(self, other: Toolbox) -> Self {
        other.parts.into_iter().fold(self, |toolbox, part| {
            toolbox.add_shared(&*part.prefix, part.tools)
        })
    }

    /// Number of parts.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether there are no parts.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Runs `f` on the names as they are now, working them out again when
    /// a part's catalogue has changed since they were.
    fn with_names<T>(&self, f: impl FnOnce(&Names) -> T) -> T {
        let now: Vec<Arc<[ToolDef]>> = self.parts.iter().map(|p| p.tools.catalogue()).collect();
        let mut names = self.names.lock().unwrap_or_else(PoisonError::into_inner);
        let current = names.seen.len() == now.len()
            && names.seen.iter().zip(&now).all(|(a, b)| Arc::ptr_eq(a, b));
        if !current {
            let previous = std::mem::take(&mut *names);
            *names = Names::work_out(&self.parts, now, &previous);
        }
        f(&names)
    }

    /// The part and own name of the tool shown as `name`.
    fn route(&self, name: &str) -> Result<(Arc<dyn ToolInvoker>, String), ToolError> {
        self.with_names(|names| match names.routes.get(name) {
            Some((part, own)) => self
                .parts
                .get(*part)
                .map(|p| (Arc::clone(&p.tools), own.clone()))
                .ok_or_else(|| names.unknown(name)),
            None => Err(names.unknown(name)),
        })
    }
}

impl Names {
    /// The names for the parts' catalogues `seen`. A tool named before
    /// (in `previous`) keeps its name while it is there, so a change in one
    /// part never moves a name to another tool; a new tool gets a free one.
    fn work_out(parts: &[Part], seen: Vec<Arc<[ToolDef]>>, previous: &Names) -> Self {
        let mut routes: HashMap<String, (usize, String)> = previous
            .routes
            .iter()
            .filter(|(_, (part, own))| {
                seen.get(*part)
                    .is_some_and(|defs| defs.iter().any(|d| d.name == *own))
            })
            .map(|(shown, route)| (shown.clone(), route.clone()))
            .collect();
        let kept: HashMap<(usize, String), String> = routes
            .iter()
            .map(|(shown, route)| (route.clone(), shown.clone()))
            .collect();
        let mut catalogue = Vec::new();
        for (index, (part, defs)) in parts.iter().zip(&seen).enumerate() {
            for def in defs.iter() {
                let shown = match kept.get(&(index, def.name.clone())) {
                    Some(shown) => shown.clone(),
                    None => {
                        let shown = unique_name(&routes, &part.prefix, &def.name);
                        routes.insert(shown.clone(), (index, def.name.clone()));
                        shown
                    }
                };
                let mut def = def.clone();
                def.name = shown;
                catalogue.push(def);
            }
        }
        Self {
            seen,
            catalogue: catalogue.into(),
            routes,
        }
    }

    fn unknown(&self, name: &str) -> ToolError {
        ToolError::UnknownTool {
            name: name.to_owned(),
            available: self.catalogue.iter().map(|d| d.name.clone()).collect(),
        }
    }
}

/// The longest name a [`Toolbox`] makes: the bound OpenAI and Anthropic
/// put on a tool's name.
const NAME_LIMIT: usize = crate::ToolDef::NAME_LIMIT;

/// `name` if it is free; else `{prefix}{name}`; else that with `_2`, `_3`,
/// ... The names made are cut to [`NAME_LIMIT`] characters.
fn unique_name<V>(taken: &HashMap<String, V>, prefix: &str, name: &str) -> String {
    if !taken.contains_key(name) {
        return name.to_owned();
    }
    let prefixed = crate::text::prefix_chars(&format!("{prefix}{name}"), NAME_LIMIT).to_owned();
    if !taken.contains_key(&prefixed) {
        return prefixed;
    }
    (2..)
        .map(|n| {
            let suffix = format!("_{n}");
            format!(
                "{}{suffix}",
                crate::text::prefix_chars(&prefixed, NAME_LIMIT - suffix.len())
            )
        })
        .find(|candidate| !taken.contains_key(candidate))
        .unwrap_or(prefixed)
}

impl fmt::Debug for Toolbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let catalogue = self.catalogue();
        f.debug_list()
            .entries(catalogue.iter().map(|d| &d.name))
            .finish()
    }
}

#[async_trait]
impl ToolInvoker for Toolbox {
    fn catalogue(&self) -> Arc<[ToolDef]> {
        self.with_names(|names| Arc::clone(&names.catalogue))
    }

    async fn invoke(
        &self,
        name: &str,
        args: serde_json::Value,
        ctx: ToolContext<'_>,
    ) -> Result<serde_json::Value, ToolError> {
        let (tools, own) = self.route(name)?;
        tools.invoke(&own, args, ctx).await
    }

    fn policy(&self, name: &str) -> ToolPolicy {
        self.route(name)
            .map_or_else(|_| ToolPolicy::new(), |(tools, own)| tools.policy(&own))
    }
}

#[cfg(test)]
mod tests {
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
}
