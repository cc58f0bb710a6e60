//! The klieo stack's layering rules, as data, and the check of a dependency graph against them.
//!
//! Each klieo crate may depend (normal or build dependencies; dev-dependencies
//! are exempt) only on the klieo crates its row of the table allows, all of
//! them of a strictly lower layer, and the bottom crate's tree of normal
//! dependencies must stay free of async runtimes, HTTP stacks and tracing.
//! [`RULES`] is the source of truth; [`check`] is pure.

use std::collections::VecDeque;
use std::fmt;

use crate::metadata::Graph;

/// Which klieo crates may depend on which, and what the bottom crate must never pull in.
pub(crate) struct Rules<'a> {
    /// Each klieo crate, bottom first: its layer, and the klieo crates (all
    /// on lower layers) it may depend on. Crates not in the workspace are
    /// ignored.
    pub(crate) crates: &'a [(&'a str, u32, &'a [&'a str])],
    /// The crate whose tree of normal dependencies must not contain `forbidden`.
    pub(crate) leaf: &'a str,
    /// Crates that must not appear in `leaf`'s tree of normal dependencies.
    pub(crate) forbidden: &'a [&'a str],
}

/// The klieo stack, bottom to top.
pub(crate) const RULES: Rules<'static> = Rules {
    crates: &[
        ("klieo-types", 0, &[]),
        ("klieo-retry", 1, &[]),
        // The HTTP kit: secrets, URLs, the pooled client and its TLS
        // settings, for every crate that speaks HTTP, whatever it says.
        ("klieo-http", 1, &["klieo-types"]),
        // The LLM wire kit every HTTP provider builds on: SSE, bounded
        // bodies, status and hint mapping, streamed replies, tool calls.
        ("klieo-provider", 2, &["klieo-types", "klieo-http"]),
        // The store kit: the row layout, an in-memory journal, and (for
        // tests) the conformance suite and golden fixtures. The runtime
        // only dev-depends on it, to test resume, approvals and leases.
        ("klieo-store", 1, &["klieo-types"]),
        // A store needs the vocabulary, the store kit and its driver:
        // never the runtime.
        ("klieo-sqlite", 2, &["klieo-types", "klieo-store"]),
        ("klieo-postgres", 2, &["klieo-types", "klieo-store"]),
        // MCP tools need the vocabulary and the HTTP kit's client (with
        // rmcp): never the LLM wire kit, never the runtime.
        ("klieo-mcp", 2, &["klieo-types", "klieo-http"]),
        // Exporting spans needs the HTTP kit's TLS settings and
        // OpenTelemetry: never the runtime, whose spans it exports.
        ("klieo-otel", 2, &["klieo-types", "klieo-http"]),
        // The engine, with its chunk pump (once the crate klieo-stream,
        // whose one user it was).
        ("klieo-runtime", 3, &["klieo-types", "klieo-retry"]),
        // A provider needs the vocabulary and the provider kit: never the
        // runtime's layers.
        (
            "klieo-openai",
            4,
            &["klieo-types", "klieo-http", "klieo-provider"],
        ),
        (
            "klieo-anthropic",
            4,
            &["klieo-types", "klieo-http", "klieo-provider"],
        ),
        (
            "klieo",
            5,
            &[
                "klieo-types",
                "klieo-retry",
                "klieo-provider",
                "klieo-store",
                "klieo-runtime",
                "klieo-openai",
                "klieo-anthropic",
                "klieo-sqlite",
                "klieo-postgres",
                "klieo-mcp",
                "klieo-otel",
            ],
        ),
        ("klieo-cli", 6, &["klieo"]),
    ],
    leaf: "klieo-types",
    forbidden: &[
        // async runtimes and executors
        "tokio",
        "tokio-util",
        "async-std",
        "smol",
        "async-io",
        "futures-executor",
        "mio",
        // HTTP stacks
        "reqwest",
        "hyper",
        "hyper-util",
        "http",
        "h2",
        "ureq",
        "surf",
        "isahc",
        // logging frameworks
        "tracing",
        "log",
    ],
};

/// Whether a package name is one of klieo's own crates, and so bound by the layers.
pub(crate) fn is_klieo(name: &str) -> bool {
    name.starts_with("klieo")
}

/// One broken rule, displayed as a line that says what to change.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Violation {
    /// A workspace crate named like a klieo crate that has no layer in the table.
    Unlisted { krate: String },
    /// A normal or build dependency on a klieo crate of the same layer or above.
    Upward {
        from: String,
        from_layer: u32,
        to: String,
        to_layer: u32,
    },
    /// A normal or build dependency on a lower klieo crate that the table does
    /// not allow.
    NotAllowed {
        from: String,
        to: String,
        allowed: Vec<String>,
    },
    /// A forbidden crate in the leaf's tree: the chain from the leaf down to it.
    Forbidden { path: Vec<String> },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unlisted { krate } => write!(
                f,
                "`{krate}` is a klieo crate without a layer: \
                 add it to the layering table in xtask/src/layering.rs"
            ),
            Self::Upward {
                from,
                from_layer,
                to,
                to_layer,
            } => {
                let place = if to_layer == from_layer {
                    "on the same layer"
                } else {
                    "above it"
                };
                write!(
                    f,
                    "`{from}` (layer {from_layer}) depends on `{to}` (layer {to_layer}), {place}: \
                     a klieo crate may depend only on klieo crates below it; remove the \
                     dependency, or move what `{from}` needs from `{to}` down a layer"
                )
            }
            Self::NotAllowed { from, to, allowed } => write!(
                f,
                "`{from}` depends on `{to}`, which its row of the layering table does not \
                 allow (it may depend on: {}); remove the dependency, or change the table in \
                 xtask/src/layering.rs if the design really changed",
                if allowed.is_empty() {
                    "no klieo crate".to_owned()
                } else {
                    allowed.join(", ")
                }
            ),
            Self::Forbidden { path } => {
                let leaf = path.first().map_or("", String::as_str);
                let banned = path.last().map_or("", String::as_str);
                let direct = path.get(1).map_or("", String::as_str);
                write!(
                    f,
                    "`{leaf}` must not pull in `{banned}`, but does: {}; \
                     remove or replace `{leaf}`'s dependency on `{direct}`",
                    path.join(" -> ")
                )
            }
        }
    }
}

/// Checks `graph` against `rules`, returning every violation found (empty if clean).
pub(crate) fn check(graph: &Graph, rules: &Rules<'_>) -> Vec<Violation> {
    let row = |name: &str| {
        rules
            .crates
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|&(_, layer, allowed)| (layer, allowed))
    };
    let layer = |name: &str| row(name).map(|(layer, _)| layer);
    let mut violations = Vec::new();

    for (_, package) in graph.members().filter(|(_, p)| is_klieo(&p.name)) {
        let Some((from_layer, allowed)) = row(&package.name) else {
            violations.push(Violation::Unlisted {
                krate: package.name.clone(),
            });
            continue;
        };
        for dep in &package.deps {
            if !(dep.kinds.normal || dep.kinds.build) {
                continue;
            }
            let to = &graph.packages[dep.to].name;
            match layer(to) {
                Some(to_layer) if to_layer >= from_layer => violations.push(Violation::Upward {
                    from: package.name.clone(),
                    from_layer,
                    to: to.clone(),
                    to_layer,
                }),
                Some(_) if !allowed.contains(&to.as_str()) => {
                    violations.push(Violation::NotAllowed {
                        from: package.name.clone(),
                        to: to.clone(),
                        allowed: allowed.iter().map(|s| (*s).to_owned()).collect(),
                    })
                }
                _ => {}
            }
        }
    }

    let leaves = graph.members().filter(|(_, p)| p.name == rules.leaf);
    for (leaf, _) in leaves {
        for path in forbidden_paths(graph, leaf, rules.forbidden) {
            violations.push(Violation::Forbidden { path });
        }
    }
    violations
}

/// Walks `start`'s normal dependencies breadth first; for each forbidden package
/// reached, returns the shortest chain of names from `start` to it.
fn forbidden_paths(graph: &Graph, start: usize, forbidden: &[&str]) -> Vec<Vec<String>> {
    let mut parent: Vec<Option<usize>> = vec![None; graph.packages.len()];
    let mut seen = vec![false; graph.packages.len()];
    let mut queue = VecDeque::from([start]);
    seen[start] = true;
    let mut paths = Vec::new();
    while let Some(at) = queue.pop_front() {
        if at != start && forbidden.contains(&graph.packages[at].name.as_str()) {
            let mut path = vec![graph.packages[at].name.clone()];
            let mut step = at;
            while let Some(up) = parent[step] {
                path.push(graph.packages[up].name.clone());
                step = up;
            }
            path.reverse();
            paths.push(path);
        }
        for dep in graph.packages[at].deps.iter().filter(|d| d.kinds.normal) {
            if !seen[dep.to] {
                seen[dep.to] = true;
                parent[dep.to] = Some(at);
                queue.push_back(dep.to);
            }
        }
    }
    paths
}

#[cfg(test)]
mod tests;
