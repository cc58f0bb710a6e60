//! One listing of a server's tools, every page, bounded (pages, tools,
//! bytes, a cursor seen twice), read tool by tool: a tool that cannot be
//! used is skipped with a warning naming it, the others are kept.

use crate::error::ListFault;
use crate::scrub::Secrets;
use rmcp::model::{ClientRequest, ListToolsRequest, PaginatedRequestParams, ServerResult, Tool};
use rmcp::service::{Peer, RoleClient, ServiceError};
use serde_json::Value;
use std::collections::HashSet;

/// The most pages one listing follows.
pub const MAX_LIST_PAGES: usize = 100;
/// The most tools one listing takes.
pub const MAX_LIST_TOOLS: usize = 10_000;
/// The most bytes of tool definitions (as JSON) one listing takes.
pub const MAX_LIST_BYTES: usize = 16 * 1024 * 1024;

/// Why a listing gave no list.
#[derive(Debug)]
pub(crate) enum ListError {
    /// The request failed.
    Service(ServiceError),
    /// The listing passed a bound.
    Fault(ListFault),
}

impl From<ServiceError> for ListError {
    fn from(e: ServiceError) -> Self {
        Self::Service(e)
    }
}

/// A tool left out of a listing, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Skipped {
    /// Its name, as the server gave it (scrubbed, bounded), or `<no name>`.
    pub(crate) name: String,
    /// The field that is wrong, and how.
    pub(crate) reason: String,
}

/// The tools listed, and those skipped.
#[derive(Debug, Default)]
pub(crate) struct Listed {
    pub(crate) tools: Vec<Tool>,
    pub(crate) skipped: Vec<Skipped>,
}

/// Lists every page of `peer`'s tools within the bounds.
pub(crate) async fn list(peer: &Peer<RoleClient>, secrets: &Secrets) -> Result<Listed, ListError> {
    let mut listed = Listed::default();
    let mut bytes = 0usize;
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    for page in 0.. {
        if page == MAX_LIST_PAGES {
            return Err(ListError::Fault(ListFault::Pages {
                limit: MAX_LIST_PAGES,
            }));
        }
        let params = cursor
            .take()
            .map(|cursor| PaginatedRequestParams::default().with_cursor(Some(cursor)));
        let request = ListToolsRequest {
            method: Default::default(),
            params,
            extensions: Default::default(),
        };
        let result = peer
            .send_request(ClientRequest::ListToolsRequest(request))
            .await?;
        let next = take_page(result, &mut listed, &mut bytes, secrets)?;
        // An empty cursor is the last page's, as some servers send it.
        match next.filter(|cursor| !cursor.is_empty()) {
            None => return Ok(listed),
            Some(next) if !seen.insert(next.clone()) => {
                return Err(ListError::Fault(ListFault::CursorRepeated));
            }
            Some(next) => cursor = Some(next),
        }
    }
    Ok(listed)
}

/// Takes one page's tools into `listed`; its next cursor.
pub(crate) fn take_page(
    result: ServerResult,
    listed: &mut Listed,
    bytes: &mut usize,
    secrets: &Secrets,
) -> Result<Option<String>, ListError> {
    let (items, next): (Vec<Value>, Option<String>) = match result {
        // Every tool parsed: each is taken as it is.
        ServerResult::ListToolsResult(page) => {
            for tool in page.tools {
                let size = serde_json::to_vec(&tool).map_or(0, |v| v.len());
                take(listed, bytes, tool, size)?;
            }
            return Ok(page.next_cursor);
        }
        // One tool did not parse, so the page became another shape: read
        // it as JSON, tool by tool.
        other => {
            let mut raw = serde_json::to_value(other).unwrap_or_default();
            let Some(tools) = raw.get_mut("tools").map(Value::take) else {
                return Err(ListError::Service(ServiceError::UnexpectedResponse));
            };
            let Value::Array(items) = tools else {
                return Err(ListError::Service(ServiceError::UnexpectedResponse));
            };
            let next = raw
                .get("nextCursor")
                .and_then(Value::as_str)
                .map(str::to_owned);
            (items, next)
        }
    };
    for item in items {
        let size = serde_json::to_vec(&item).map_or(0, |v| v.len());
        match tool_of(item, secrets) {
            Ok(tool) => take(listed, bytes, tool, size)?,
            Err(skipped) => {
                // Counted as a tool is: a listing of tools klieo cannot
                // use is bounded too.
                hold(listed, bytes, size)?;
                if listed.skipped.len() < SKIPS_TOLD {
                    tracing::warn!(
                        tool = %skipped.name,
                        reason = %skipped.reason,
                        "an MCP server listed a tool klieo cannot use; it is left out"
                    );
                }
                listed.skipped.push(skipped);
            }
        }
    }
    Ok(next)
}

/// The tools left out that are each told in the log; the rest are
/// counted in the listing's `skipped`.
const SKIPS_TOLD: usize = 10;

fn take(listed: &mut Listed, bytes: &mut usize, tool: Tool, size: usize) -> Result<(), ListError> {
    hold(listed, bytes, size)?;
    listed.tools.push(tool);
    Ok(())
}

/// Counts one more tool of `size` bytes, taken or left out, against the
/// listing's bounds.
fn hold(listed: &Listed, bytes: &mut usize, size: usize) -> Result<(), ListError> {
    *bytes = bytes.saturating_add(size);
    if *bytes > MAX_LIST_BYTES {
        return Err(ListError::Fault(ListFault::Bytes {
            limit: MAX_LIST_BYTES,
        }));
    }
    if listed.tools.len() + listed.skipped.len() >= MAX_LIST_TOOLS {
        return Err(ListError::Fault(ListFault::Tools {
            limit: MAX_LIST_TOOLS,
        }));
    }
    Ok(())
}

/// One tool of a raw page, or why it is skipped.
fn tool_of(item: Value, secrets: &Secrets) -> Result<Tool, Skipped> {
    let name = match item.get("name").and_then(Value::as_str) {
        Some(name) => secrets.shown(name, 128),
        None => "<no name>".to_owned(),
    };
    let skipped = |reason: String| Skipped {
        name: name.clone(),
        reason,
    };
    match item.get("inputSchema") {
        Some(Value::Object(_)) => {}
        Some(other) => {
            return Err(skipped(format!(
                "`inputSchema` is {}, not a JSON object",
                kind(other)
            )))
        }
        None => return Err(skipped("`inputSchema` is missing".into())),
    }
    if let Some(output) = item.get("outputSchema").filter(|v| !v.is_null()) {
        if !output.is_object() {
            return Err(skipped(format!(
                "`outputSchema` is {}, not a JSON object",
                kind(output)
            )));
        }
    }
    serde_json::from_value(item).map_err(|e| skipped(secrets.shown(&e.to_string(), 300)))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn page(value: Value) -> ServerResult {
        serde_json::from_value(value).expect("a result")
    }

    #[test]
    fn a_tool_with_a_bad_schema_is_skipped_and_the_rest_kept() {
        let result = page(json!({"tools": [
            {"name": "echo", "inputSchema": {"type": "object"}},
            {"name": "broken", "inputSchema": "not an object"},
            {"name": "no_schema"},
            {"name": "add", "inputSchema": {"type": "object"}, "outputSchema": {"type": "object"}}
        ], "nextCursor": "p2"}));
        let mut listed = Listed::default();
        let next = take_page(result, &mut listed, &mut 0, &Secrets::default());
        assert_eq!(next.ok().flatten().as_deref(), Some("p2"));
        let names: Vec<&str> = listed.tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["echo", "add"]);
        assert_eq!(
            listed.skipped,
            [
                Skipped {
                    name: "broken".into(),
                    reason: "`inputSchema` is a string, not a JSON object".into()
                },
                Skipped {
                    name: "no_schema".into(),
                    reason: "`inputSchema` is missing".into()
                }
            ]
        );
    }

    #[test]
    fn a_page_past_the_tool_bound_is_refused() {
        let tools: Vec<Value> = (0..=MAX_LIST_TOOLS)
            .map(|i| json!({"name": format!("t{i}"), "inputSchema": {"type": "object"}}))
            .collect();
        let mut listed = Listed::default();
        let out = take_page(
            page(json!({"tools": tools})),
            &mut listed,
            &mut 0,
            &Secrets::default(),
        );
        assert!(matches!(
            out,
            Err(ListError::Fault(ListFault::Tools {
                limit: MAX_LIST_TOOLS
            }))
        ));
    }

    #[test]
    fn tools_left_out_count_against_the_bound_too() {
        // A schema-less tool cannot be used, and is left out.
        let tools: Vec<Value> = (0..=MAX_LIST_TOOLS)
            .map(|i| json!({"name": format!("t{i}")}))
            .collect();
        let mut listed = Listed::default();
        let out = take_page(
            page(json!({"tools": tools})),
            &mut listed,
            &mut 0,
            &Secrets::default(),
        );
        assert!(
            matches!(
                out,
                Err(ListError::Fault(ListFault::Tools {
                    limit: MAX_LIST_TOOLS
                }))
            ),
            "{} left out",
            listed.skipped.len()
        );
    }
}
