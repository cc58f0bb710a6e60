//! The `mcpServers` configuration file other MCP clients use, read into
//! [`McpOptions`].
//!
//! ```json
//! {
//!   "mcpServers": {
//!     "everything": { "command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"] },
//!     "tracker": {
//!       "url": "https://mcp.example.com/mcp",
//!       "headers": { "Authorization": "Bearer ${TRACKER_TOKEN}" }
//!     }
//!   }
//! }
//! ```
//!
//! A server has either `command` (with `args`, `env` and `cwd`: a child
//! process over stdio) or `url` (with `headers`: streamable HTTP). `type`
//! may say which (`stdio`, `http` or `streamable-http`); `sse`, the
//! transport the specification retired, is refused. `${NAME}` in any
//! string is the environment variable `NAME`, so a token need not be kept
//! in the file. `includeTools` (as in Gemini CLI's file) lists the only
//! tools of a server to offer the model ([`McpOptions::with_only`]). Other
//! keys are ignored. Servers come in the order of their names.

use crate::error::McpError;
use crate::options::McpOptions;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Deserialize)]
struct File {
    #[serde(rename = "mcpServers")]
    servers: BTreeMap<String, Entry>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "type")]
    kind: Option<String>,
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<String>,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(rename = "includeTools")]
    include_tools: Option<Vec<String>>,
}

/// Reads the configuration file at `path`.
///
/// # Errors
///
/// [`McpError::File`] when it cannot be read or parsed, naming the file.
pub fn read(path: impl AsRef<Path>) -> Result<Vec<McpOptions>, McpError> {
    let path = path.as_ref();
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| McpError::File {
        path: shown.clone(),
        reason: "cannot be read".into(),
        cause: Some(Box::new(e)),
    })?;
    parse(&text).map_err(|e| match e {
        McpError::File { reason, cause, .. } => McpError::File {
            path: shown,
            reason,
            cause,
        },
        other => other,
    })
}

/// Parses a configuration's text.
///
/// ```
/// let servers = klieo_mcp::config::parse(r#"{"mcpServers": {
///     "everything": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-everything"]},
///     "web": {"url": "http://127.0.0.1:3001/mcp"}
/// }}"#)?;
/// let names: Vec<&str> = servers.iter().map(|s| s.name()).collect();
/// assert_eq!(names, ["everything", "web"]);
/// # Ok::<(), klieo_mcp::McpError>(())
/// ```
///
/// # Errors
///
/// [`McpError::File`] (with the path `<text>`) for text that is not the
/// `mcpServers` shape, a server with neither or both of `command` and
/// `url`, an unknown `type`, or a `${NAME}` not set in the environment.
pub fn parse(text: &str) -> Result<Vec<McpOptions>, McpError> {
    let bad = |reason: String| McpError::File {
        path: "<text>".into(),
        reason,
        cause: None,
    };
    let file: File = serde_json::from_str(text).map_err(|e| McpError::File {
        path: "<text>".into(),
        reason: "is not an `mcpServers` configuration".into(),
        cause: Some(Box::new(NotParsed::from(&e))),
    })?;
    file.servers
        .into_iter()
        .map(|(name, entry)| {
            settings(&name, entry).map_err(|reason| bad(format!("server `{name}`: {reason}")))
        })
        .collect()
}

/// Where a configuration's text is not one, and what is wrong there,
/// without a value it held: serde_json quotes a value of the wrong type
/// (`invalid type: string "Bearer sk-…", expected a map`), and a
/// configuration's values may be secrets. Its messages that quote only
/// keys and the parser's expectations (a missing or unknown key, a
/// syntax error) are kept; any other is said without its text.
#[derive(Debug, thiserror::Error)]
#[error("{what} at line {line}, column {column}")]
struct NotParsed {
    what: String,
    line: usize,
    column: usize,
}

/// The beginnings of serde_json's messages that quote no value.
const QUOTES_NO_VALUE: [&str; 4] = [
    "missing field",
    "unknown field",
    "duplicate field",
    "invalid length",
];

impl From<&serde_json::Error> for NotParsed {
    fn from(e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        let said = e.to_string();
        let at = said.rfind(" at line ").unwrap_or(said.len());
        let message = &said[..at];
        let what = match e.classify() {
            Category::Data if !QUOTES_NO_VALUE.iter().any(|safe| message.starts_with(safe)) => {
                "a value of the wrong type or shape (a text where a map of names is wanted, say)"
                    .to_owned()
            }
            _ => message.to_owned(),
        };
        Self {
            what,
            line: e.line(),
            column: e.column(),
        }
    }
}

fn settings(name: &str, entry: Entry) -> Result<McpOptions, String> {
    let only = entry.include_tools.clone();
    let settings = transport(name, entry)?;
    Ok(match only {
        Some(tools) => settings.with_only(tools),
        None => settings,
    })
}

fn transport(name: &str, entry: Entry) -> Result<McpOptions, String> {
    let kind = entry.kind.as_deref();
    match (entry.command, entry.url, kind) {
        (_, _, Some("sse")) => Err("the `sse` transport is not supported: use the server's streamable HTTP endpoint (`url`) or run it over stdio (`command`)".into()),
        (_, _, Some(other)) if !matches!(other, "stdio" | "http" | "streamable-http" | "streamableHttp") => {
            Err(format!("unknown `type` `{other}`: use `stdio` or `http`"))
        }
        (None, Some(_), Some("stdio")) => {
            Err("has `type` `stdio` but a `url`: a stdio server needs a `command`".into())
        }
        (Some(_), None, Some(kind)) if kind != "stdio" => Err(format!(
            "has `type` `{kind}` but a `command`: an HTTP server needs a `url`"
        )),
        (Some(command), None, _) => {
            let mut used = Vec::new();
            let mut expand = |text: &str| expand(text, &mut used);
            let mut s = McpOptions::stdio(name, expand(&command)?)
                .with_args(entry.args.iter().map(|a| expand(a)).collect::<Result<Vec<_>, _>>()?);
            for (k, v) in &entry.env {
                s = s.add_env(k, expand(v)?);
            }
            if let Some(cwd) = entry.cwd {
                s = s.with_cwd(expand(&cwd)?);
            }
            Ok(used.into_iter().fold(s, |s, (name, value)| s.expanded(&name, value)))
        }
        (None, Some(url), _) => {
            let mut used = Vec::new();
            let mut expand = |text: &str| expand(text, &mut used);
            let mut s = McpOptions::http(name, expand(&url)?);
            for (k, v) in &entry.headers {
                s = s.add_header(k, expand(v)?);
            }
            Ok(used.into_iter().fold(s, |s, (name, value)| s.expanded(&name, value)))
        }
        (Some(_), Some(_), _) => Err("has both `command` and `url`: keep the one that reaches the server".into()),
        (None, None, _) => Err("has neither `command` (a program to run) nor `url` (a streamable HTTP endpoint)".into()),
    }
}

/// `text` with each `${NAME}` replaced by the environment variable `NAME`,
/// each name and value put in `used` (scrubbed as the settings'
/// environment values are: a token may be put anywhere). The error names
/// the variable, never a value.
fn expand(text: &str, used: &mut Vec<(String, String)>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(rest.get(..start).unwrap_or_default());
        let after = rest.get(start + 2..).unwrap_or_default();
        let Some(end) = after.find('}') else {
            return Err("has a `${` without its `}`".into());
        };
        let var = after.get(..end).unwrap_or_default();
        let value = std::env::var(var).map_err(|_| {
            format!("uses `${{{var}}}`, which is not set in the environment: set it, or write the value in")
        })?;
        out.push_str(&value);
        used.push((var.to_owned(), value));
        rest = after.get(end + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Transport;

    fn reason(text: &str) -> String {
        match parse(text) {
            Err(McpError::File { reason, .. }) => reason,
            other => format!("not a file error: {other:?}"),
        }
    }

    #[test]
    fn text_that_is_not_json_keeps_the_parsers_error_saying_where() {
        let parsed = parse("{\n  \"mcpServers\": ");
        let error = parsed.as_ref().err();
        let source = error
            .and_then(std::error::Error::source)
            .map(ToString::to_string);
        assert!(
            source.as_deref().is_some_and(|s| s.contains("line 2")),
            "{source:?}"
        );
        let shown = error.map(ToString::to_string).unwrap_or_default();
        assert!(!shown.contains("line 2"), "said once: {shown}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_not_quoted() {
        let text = r#"{"mcpServers": {"a": {"url": "http://h/mcp", "headers": "Bearer sk-live-0123456789"}}}"#;
        let error = parse(text).expect_err("not a configuration");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert!(
            source.as_deref().is_some_and(|s| s.contains("line 1")),
            "where: {source:?}"
        );
        let shown = format!("{error} {error:?} {source:?}");
        assert!(!shown.contains("sk-live"), "{shown}");
    }

    #[test]
    fn a_missing_key_is_named() {
        let error = parse("{}").expect_err("no servers");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert!(
            source
                .as_deref()
                .is_some_and(|s| s.contains("missing field `mcpServers`")),
            "{source:?}"
        );
    }

    #[test]
    fn each_wrong_shape_is_named() {
        assert!(reason("[]").contains("not an `mcpServers` configuration"));
        assert!(reason(r#"{"mcpServers": {"a": {}}}"#).contains("server `a`: has neither"));
        let both = r#"{"mcpServers": {"a": {"command": "x", "url": "http://h/mcp"}}}"#;
        assert!(reason(both).contains("both"));
        let sse = r#"{"mcpServers": {"a": {"type": "sse", "url": "http://h/sse"}}}"#;
        assert!(reason(sse).contains("`sse` transport is not supported"));
        let mixed = r#"{"mcpServers": {"a": {"type": "http", "command": "x"}}}"#;
        assert!(reason(mixed).contains("an HTTP server needs a `url`"));
        let unset = r#"{"mcpServers": {"a": {"url": "http://h/mcp", "headers": {"k": "${KLIEO_TEST_NEVER_SET}"}}}}"#;
        assert!(reason(unset).contains("`${KLIEO_TEST_NEVER_SET}`, which is not set"));
    }

    #[test]
    fn include_tools_limits_what_is_offered() {
        let text = r#"{"mcpServers": {"e": {"command": "x", "includeTools": ["echo"]}}}"#;
        let servers = parse(text).unwrap_or_default();
        assert_eq!(servers[0].only.as_deref(), Some(&["echo".to_owned()][..]));
    }

    #[test]
    fn variables_are_expanded_and_values_stay_out_of_debug() {
        // PATH is set wherever tests run.
        let path = std::env::var("PATH").unwrap_or_default();
        let text = r#"{"mcpServers": {"a": {"command": "run", "args": ["--path=${PATH}"], "env": {"TOKEN": "${PATH}"}}}}"#;
        let servers = parse(text).unwrap_or_default();
        let shown = format!("{servers:?}");
        assert!(shown.contains("only: None"));
        assert!(
            !shown.contains(&format!("--path={path}")),
            "args are counted, not shown"
        );
        assert!(shown.contains("TOKEN"));
        let args = match servers.first().map(|s| &s.transport) {
            Some(Transport::Stdio { args, .. }) => args.clone(),
            _ => Vec::new(),
        };
        assert_eq!(args, [format!("--path={path}")]);
        let mut used = Vec::new();
        assert_eq!(expand("a${PATH}b", &mut used), Ok(format!("a{path}b")));
        assert_eq!(used, [("PATH".to_owned(), path)]);
        assert!(expand("${OPEN", &mut used).is_err());
    }

    #[test]
    fn a_variables_value_is_kept_out_of_texts_wherever_it_is_put() {
        // Set by cargo for the test, and not a variable every process has.
        let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
        let text = r#"{"mcpServers": {
            "a": {"command": "run", "args": ["--root=${CARGO_MANIFEST_DIR}"]},
            "b": {"url": "https://mcp.example.com/s/${CARGO_MANIFEST_DIR}/mcp"}
        }}"#;
        for server in parse(text).unwrap_or_default() {
            let said = format!("no such file {dir}/x");
            assert_eq!(server.scrub(&said), "no such file ***/x");
            let shown = format!("{server:?}");
            assert!(!shown.contains(&dir), "{shown}");
        }
        // PATH, HOME and the like are every process's: not secrets.
        let path = std::env::var("PATH").unwrap_or_default();
        let text = r#"{"mcpServers": {"a": {"command": "run", "args": ["${PATH}"]}}}"#;
        let servers = parse(text).unwrap_or_default();
        let said = format!("searched {path}");
        assert_eq!(servers[0].scrub(&said), said);
    }

    #[test]
    fn a_key_by_its_name_is_kept_out_of_answers_too() {
        let server = McpOptions::stdio("s", "run")
            .expanded("GITHUB_TOKEN", "ghp_0123456789".into())
            .expanded("ROOT", "/srv/docs".into());
        let answer = serde_json::json!("ghp_0123456789 in /srv/docs/a.md");
        assert_eq!(
            server.secrets().scrub_value(answer),
            serde_json::json!("*** in /srv/docs/a.md")
        );
    }
}
