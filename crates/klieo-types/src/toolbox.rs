//! [`Toolbox`]: one catalogue over several sources of tools (local tools,
//! MCP servers), with the names that clash made unique by a prefix.

use crate::error::ToolError;
use crate::request::ToolDef;
use crate::tool::{ToolContext, ToolInvoker};
use crate::tool_policy::ToolPolicy;
use async_trait::async_trait;
use std::collections::{HashMap, HashSet};
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
/// it had, so a name the model saw never moves to another tool: not while
/// the tool is listed, nor after it is gone (it gets that name back if it
/// returns).
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
    /// Every name given since the parts were set, and the tool it was
    /// given to, listed now or not: a name is never given to another
    /// tool, and a tool that comes back gets its own again.
    given: HashMap<String, (usize, String)>,
}

/// The most names a toolbox remembers of tools no longer listed; past it,
/// only those of the tools listed now are kept.
const GIVEN_LIMIT: usize = 40_000;

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
    /// part never moves a name to another tool; a tool that was named
    /// before, went and came back gets its name again; a new tool gets a
    /// name never given.
    fn work_out(parts: &[Part], seen: Vec<Arc<[ToolDef]>>, previous: &Names) -> Self {
        let now: HashSet<(usize, &str)> = seen
            .iter()
            .enumerate()
            .flat_map(|(part, defs)| defs.iter().map(move |d| (part, d.name.as_str())))
            .collect();
        let listed = |(part, own): &(usize, String)| now.contains(&(*part, own.as_str()));
        let mut given = previous.given.clone();
        if given.len() > GIVEN_LIMIT {
            given.retain(|_, route| listed(route));
        }
        let first: HashMap<(usize, String), String> = given
            .iter()
            .map(|(shown, route)| (route.clone(), shown.clone()))
            .collect();
        let mut routes: HashMap<String, (usize, String)> = previous
            .routes
            .iter()
            .filter(|(_, route)| listed(route))
            .map(|(shown, route)| (shown.clone(), route.clone()))
            .collect();
        let kept: HashMap<(usize, String), String> = routes
            .iter()
            .map(|(shown, route)| (route.clone(), shown.clone()))
            .collect();
        let mut catalogue = Vec::new();
        for (index, (part, defs)) in parts.iter().zip(&seen).enumerate() {
            for def in defs.iter() {
                let route = (index, def.name.clone());
                let shown = match kept.get(&route) {
                    Some(shown) => shown.clone(),
                    None => {
                        let shown = match first.get(&route) {
                            Some(had) if !routes.contains_key(had) => had.clone(),
                            _ => {
                                // Every name routed is among those given.
                                let taken = |name: &str| given.contains_key(name);
                                unique_name(taken, &part.prefix, &def.name)
                            }
                        };
                        routes.insert(shown.clone(), route.clone());
                        given.insert(shown.clone(), route);
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
            given,
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

/// `name` if it is free; else `{prefix}{name}`, the characters of the
/// prefix that model APIs refuse made `_` (`web.` makes `web_search`);
/// else that with `_2`, `_3`, ... The names made are cut to
/// [`NAME_LIMIT`] characters.
fn unique_name(taken: impl Fn(&str) -> bool, prefix: &str, name: &str) -> String {
    if !taken(name) {
        return name.to_owned();
    }
    let prefix = crate::ToolDef::usable_chars(prefix);
    let prefixed = crate::text::prefix_chars(&format!("{prefix}{name}"), NAME_LIMIT).to_owned();
    if !taken(&prefixed) {
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
        .find(|candidate| !taken(candidate))
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
#[path = "toolbox_tests.rs"]
mod tests;
