//! A server's tools as klieo tool definitions, kept current as the server
//! announces changes.

use crate::listing::{self, ListError};
use crate::scrub::Secrets;
use klieo_types::ToolDef;
use rmcp::service::{Peer, RoleClient};
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};
use tokio::sync::watch;

/// One server's tools as the model sees them, and the server's own name
/// of each.
pub(crate) struct Catalogue {
    /// The server's tools to offer, when not all.
    only: Option<Vec<String>>,
    listed: RwLock<Listed>,
    /// Counts the lists taken in, for those waiting on a change.
    version: watch::Sender<u64>,
}

#[derive(Default)]
struct Listed {
    defs: Arc<[ToolDef]>,
    /// The name shown to the model → the server's own name.
    own: HashMap<String, String>,
    /// Every name shown to the model so far, the tools gone since
    /// included → the server's own name: a name the model has seen never
    /// moves to another tool. Forgotten past [`GIVEN_LIMIT`].
    given: HashMap<String, String>,
    /// The server's own name → the first name it was shown as, which it
    /// gets again when it comes back.
    first: HashMap<String, String>,
}

/// The most names a catalogue remembers of tools gone from its server's
/// list (four listings' worth at their bound): past it, the names of
/// tools gone are forgotten, and may be given to others.
const GIVEN_LIMIT: usize = 4 * crate::MAX_LIST_TOOLS;

impl Catalogue {
    /// An empty catalogue that will offer the tools named in `only`, or
    /// all when `None`.
    pub(crate) fn new(only: Option<Vec<String>>) -> Self {
        Self {
            only,
            listed: RwLock::default(),
            version: watch::Sender::new(0),
        }
    }

    /// The definitions shown to the model.
    pub(crate) fn defs(&self) -> Arc<[ToolDef]> {
        let listed = self.listed.read().unwrap_or_else(PoisonError::into_inner);
        Arc::clone(&listed.defs)
    }

    /// The server's own name of the tool shown as `shown`.
    pub(crate) fn own_name(&self, shown: &str) -> Option<String> {
        let listed = self.listed.read().unwrap_or_else(PoisonError::into_inner);
        listed.own.get(shown).cloned()
    }

    /// A receiver that sees each new list.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Lists the server's tools again (every page, within the listing's
    /// bounds) and takes the list in. A listing that fails leaves the last
    /// good list in place.
    pub(crate) async fn refresh(
        &self,
        peer: &Peer<RoleClient>,
        secrets: &Secrets,
    ) -> Result<(), ListError> {
        let mut listed = listing::list(peer, secrets).await?;
        for tool in &mut listed.tools {
            scrub_tool(tool, secrets);
        }
        self.take(&listed.tools);
        Ok(())
    }

    /// Takes in `tools`, as the server listed them. A tool listed before
    /// keeps the name the model was shown (a name never moves to another
    /// of the server's tools when it lists them anew, in another order or
    /// without one); a new one gets a free name. A description is cut to
    /// [`DESCRIPTION_LIMIT`] characters, and a tool whose input schema is
    /// larger than [`SCHEMA_LIMIT`] is left out, told in the log: each is
    /// sent with every request to the model.
    pub(crate) fn take(&self, tools: &[rmcp::model::Tool]) {
        let (mut given, mut before) = {
            let listed = self.listed.read().unwrap_or_else(PoisonError::into_inner);
            (listed.given.clone(), listed.first.clone())
        };
        if given.len() > GIVEN_LIMIT {
            // Only the names of the tools still listed are kept.
            let listed: std::collections::HashSet<&str> =
                tools.iter().map(|tool| tool.name.as_ref()).collect();
            given.retain(|_, own| listed.contains(own.as_str()));
            before.retain(|own, _| listed.contains(own.as_str()));
        }
        let offered: Vec<&rmcp::model::Tool> = tools
            .iter()
            .filter(|tool| {
                self.only
                    .as_ref()
                    .is_none_or(|only| only.iter().any(|name| *name == tool.name))
            })
            .filter(|tool| fits(tool))
            .collect();
        // The names shown before first, then the new ones.
        let mut own: HashMap<String, String> = HashMap::new();
        let mut names: Vec<Option<String>> = offered
            .iter()
            .map(|tool| {
                // A name the server lists twice keeps its name once.
                let kept = before
                    .get(tool.name.as_ref())
                    .filter(|kept| !own.contains_key(*kept))?;
                own.insert(kept.clone(), tool.name.to_string());
                Some(kept.clone())
            })
            .collect();
        // The suffix each clashing name tries next: a list of many tools
        // whose names come out the same is named in time linear in it.
        let mut suffixes = HashMap::new();
        for (tool, name) in offered.iter().zip(names.iter_mut()) {
            if name.is_none() {
                // Not a name shown now, nor one another tool had.
                let taken = |name: &str| {
                    own.contains_key(name) || given.get(name).is_some_and(|had| **had != *tool.name)
                };
                let shown = unique(taken, model_name(&tool.name), &mut suffixes);
                own.insert(shown.clone(), tool.name.to_string());
                before
                    .entry(tool.name.to_string())
                    .or_insert_with(|| shown.clone());
                given.insert(shown.clone(), tool.name.to_string());
                *name = Some(shown);
            }
        }
        let defs: Vec<ToolDef> = offered
            .iter()
            .zip(names)
            .map(|(tool, shown)| {
                let description = tool
                    .description
                    .as_deref()
                    .or(tool.title.as_deref())
                    .unwrap_or_default();
                let description = klieo_types::text::bounded(description, DESCRIPTION_LIMIT);
                let schema = serde_json::Value::Object((*tool.input_schema).clone());
                ToolDef::new(shown.unwrap_or_default(), description, schema)
            })
            .collect();
        *self.listed.write().unwrap_or_else(PoisonError::into_inner) = Listed {
            defs: defs.into(),
            own,
            given,
            first: before,
        };
        self.version.send_modify(|v| *v += 1);
    }
}

/// Takes out of `tool`'s title, description and input schema every
/// credential the server was given (a server may put its own token in a
/// description, or as a schema's default): they go to the model, and to
/// the spans with content capture on.
fn scrub_tool(tool: &mut rmcp::model::Tool, secrets: &Secrets) {
    if let Some(title) = &tool.title {
        tool.title = Some(secrets.without_credentials(title));
    }
    if let Some(description) = &tool.description {
        tool.description = Some(secrets.without_credentials(description).into());
    }
    // Its strings only: a key names a property the model must fill.
    let mut schema = (*tool.input_schema).clone();
    schema
        .values_mut()
        .for_each(|value| scrub_strings(value, secrets));
    tool.input_schema = Arc::new(schema);
}

/// `value`'s strings without credentials, its keys as they are.
fn scrub_strings(value: &mut serde_json::Value, secrets: &Secrets) {
    match value {
        serde_json::Value::String(text) => *text = secrets.without_credentials(text),
        serde_json::Value::Array(items) => {
            items
                .iter_mut()
                .for_each(|item| scrub_strings(item, secrets));
        }
        serde_json::Value::Object(fields) => {
            fields
                .values_mut()
                .for_each(|item| scrub_strings(item, secrets));
        }
        _ => {}
    }
}

/// The most characters of a tool's description offered to the model; a
/// longer one is cut, with `…`.
pub const DESCRIPTION_LIMIT: usize = 4_000;

/// The largest input schema of a tool offered to the model, in bytes of
/// JSON; a tool with a larger one is left out.
pub const SCHEMA_LIMIT: usize = 64 * 1024;

/// Whether `tool`'s schema is within [`SCHEMA_LIMIT`]; logged when not.
fn fits(tool: &rmcp::model::Tool) -> bool {
    let bytes = serde_json::to_vec(&*tool.input_schema).map_or(usize::MAX, |s| s.len());
    if bytes <= SCHEMA_LIMIT {
        return true;
    }
    tracing::warn!(
        tool = %klieo_types::text::bounded(&tool.name, 128),
        bytes,
        limit = SCHEMA_LIMIT,
        "an MCP tool's input schema is too large to send with every request: it is not offered"
    );
    false
}

/// The longest tool name model APIs take; MCP allows 128.
const NAME_LIMIT: usize = ToolDef::NAME_LIMIT;

/// `name` as model APIs take a function name (OpenAI's
/// `^[a-zA-Z0-9_-]{1,64}$`): what they refuse made `_` (MCP allows `.`
/// and `/` as well), and cut to [`NAME_LIMIT`] characters.
fn model_name(name: &str) -> String {
    let cut = klieo_types::text::prefix_chars(name, NAME_LIMIT);
    let clean = ToolDef::usable_chars(cut).into_owned();
    if clean.is_empty() {
        "tool".to_owned()
    } else {
        clean
    }
}

/// `name`, or with `_2`, `_3`, ... after it when it is `taken` (two of
/// the server's names come out the same, or a tool gone had it), trying
/// from the suffix `suffixes` says the name tries next (those before it
/// were taken already in this listing).
fn unique(
    taken: impl Fn(&str) -> bool,
    name: String,
    suffixes: &mut HashMap<String, usize>,
) -> String {
    if !taken(&name) {
        return name;
    }
    let from = suffixes.get(&name).copied().unwrap_or(2);
    let found = (from..).find_map(|n| {
        let suffix = format!("_{n}");
        // ASCII by now: one byte a character.
        let room = NAME_LIMIT.saturating_sub(suffix.len()).min(name.len());
        let candidate = format!("{}{suffix}", name.get(..room).unwrap_or_default());
        (!taken(&candidate)).then_some((n, candidate))
    });
    match found {
        Some((n, candidate)) => {
            suffixes.insert(name, n.saturating_add(1));
            candidate
        }
        None => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str) -> rmcp::model::Tool {
        let schema = json!({"type": "object", "properties": {"x": {"type": "string"}}});
        let serde_json::Value::Object(schema) = schema else {
            unreachable!("an object")
        };
        rmcp::model::Tool::new(name.to_owned(), "Does x.", Arc::new(schema))
    }

    fn shown(catalogue: &Catalogue) -> Vec<String> {
        catalogue.defs().iter().map(|d| d.name.clone()).collect()
    }

    #[test]
    fn a_name_of_a_tool_gone_is_not_given_to_another() {
        let catalogue = Catalogue::new(None);
        catalogue.take(&[tool("files/read")]);
        assert_eq!(shown(&catalogue), ["files_read"]);
        catalogue.take(&[tool("echo")]);
        catalogue.take(&[tool("files.read"), tool("echo")]);
        assert_eq!(shown(&catalogue), ["files_read_2", "echo"]);
        assert_eq!(catalogue.own_name("files_read"), None, "not the new tool");
        // The tool gone comes back: under its own name again.
        catalogue.take(&[tool("files.read"), tool("files/read")]);
        assert_eq!(shown(&catalogue), ["files_read_2", "files_read"]);
        assert_eq!(
            catalogue.own_name("files_read").as_deref(),
            Some("files/read")
        );
    }

    #[test]
    fn names_a_model_refuses_are_made_valid_and_kept_apart() {
        let catalogue = Catalogue::new(None);
        catalogue.take(&[tool("files/read"), tool("files.read"), tool("echo")]);
        let names: Vec<String> = catalogue.defs().iter().map(|d| d.name.clone()).collect();
        assert_eq!(names, ["files_read", "files_read_2", "echo"]);
        assert_eq!(
            catalogue.own_name("files_read_2").as_deref(),
            Some("files.read")
        );
        assert_eq!(catalogue.own_name("files/read"), None);
        let def = &catalogue.defs()[2];
        assert_eq!(def.description, "Does x.");
        assert_eq!(def.parameters["properties"]["x"]["type"], "string");
    }

    #[test]
    fn long_names_are_cut_and_kept_apart() {
        let catalogue = Catalogue::new(None);
        let long = "n".repeat(100);
        catalogue.take(&[tool(&long), tool(&format!("{long}x"))]);
        let names: Vec<String> = catalogue.defs().iter().map(|d| d.name.clone()).collect();
        assert_eq!(names[0].len(), 64);
        assert_eq!(names[1].len(), 64);
        assert!(names[1].ends_with("_2"));
        assert_eq!(
            catalogue.own_name(&names[1]).as_deref(),
            Some(format!("{long}x").as_str())
        );
    }

    #[test]
    fn a_name_shown_stays_with_its_tool_when_the_server_lists_anew() {
        let catalogue = Catalogue::new(None);
        catalogue.take(&[tool("a/b"), tool("a.b")]);
        assert_eq!(catalogue.own_name("a_b_2").as_deref(), Some("a.b"));
        // Listed the other way round, then without the first.
        catalogue.take(&[tool("a.b"), tool("a/b")]);
        assert_eq!(catalogue.own_name("a_b").as_deref(), Some("a/b"));
        assert_eq!(catalogue.own_name("a_b_2").as_deref(), Some("a.b"));
        catalogue.take(&[tool("a.b")]);
        assert_eq!(catalogue.own_name("a_b"), None, "its tool is gone");
        assert_eq!(catalogue.own_name("a_b_2").as_deref(), Some("a.b"));
    }

    #[test]
    fn a_name_listed_twice_is_shown_twice_apart_when_listed_anew() {
        let catalogue = Catalogue::new(None);
        for _ in 0..2 {
            catalogue.take(&[tool("x"), tool("x")]);
            let mut names: Vec<String> = catalogue.defs().iter().map(|d| d.name.clone()).collect();
            names.sort();
            assert_eq!(names, ["x", "x_2"], "no name is offered twice");
        }
    }

    #[test]
    fn a_long_description_is_cut_and_a_huge_schema_left_out() {
        let catalogue = Catalogue::new(None);
        let mut wordy = tool("wordy");
        wordy.description = Some("x".repeat(100_000).into());
        let mut huge = tool("huge");
        let mut schema = serde_json::Map::new();
        schema.insert("description".into(), json!("y".repeat(SCHEMA_LIMIT)));
        huge.input_schema = Arc::new(schema);
        catalogue.take(&[wordy, huge, tool("echo")]);
        let defs = catalogue.defs();
        let names: Vec<&str> = defs.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["wordy", "echo"]);
        assert_eq!(defs[0].description.chars().count(), DESCRIPTION_LIMIT + 1);
    }

    #[test]
    fn only_the_tools_asked_for_are_offered() {
        let catalogue = Catalogue::new(Some(vec!["echo".into()]));
        catalogue.take(&[tool("files/read"), tool("echo")]);
        let names: Vec<String> = catalogue.defs().iter().map(|d| d.name.clone()).collect();
        assert_eq!(names, ["echo"]);
        assert_eq!(
            catalogue.own_name("files_read"),
            None,
            "never called either"
        );
    }

    #[test]
    fn each_new_list_is_seen_by_a_watcher() {
        let catalogue = Catalogue::new(None);
        let mut watcher = catalogue.watch();
        assert!(!watcher.has_changed().unwrap_or(true));
        catalogue.take(&[tool("a")]);
        assert!(watcher.has_changed().unwrap_or(false));
        watcher.mark_unchanged();
        catalogue.take(&[tool("a"), tool("b")]);
        assert_eq!(catalogue.defs().len(), 2);
        assert!(watcher.has_changed().unwrap_or(false));
    }

    #[test]
    fn many_names_that_come_out_the_same_are_named_in_linear_time() {
        // 1,000 names the same after the cut: each tries the suffix after
        // the last one given, not every one from `_2` again.
        let mut given = std::collections::HashSet::new();
        let mut suffixes = HashMap::new();
        let asked = std::cell::Cell::new(0usize);
        for _ in 0..1_000 {
            let taken = |name: &str| {
                asked.set(asked.get() + 1);
                given.contains(name)
            };
            let name = unique(taken, "x".repeat(64), &mut suffixes);
            assert!(given.insert(name), "a name given once");
        }
        assert!(
            asked.get() <= 2 * 1_000,
            "{} names asked about",
            asked.get()
        );
    }
}
