//! The klieo stack's layering rules, as data, and the check of a dependency graph against them.
//!
//! Each klieo crate may depend (normal or build dependencies; dev-dependencies
//! are exempt) only on klieo crates of a strictly lower layer, and the bottom
//! crate's tree of normal dependencies must stay free of async runtimes, HTTP
//! stacks and tracing. [`RULES`] is the source of truth; [`check`] is pure.

use std::collections::VecDeque;
use std::fmt;

use crate::metadata::Graph;

/// Which klieo crates may depend on which, and what the bottom crate must never pull in.
pub(crate) struct Rules<'a> {
    /// Each klieo crate's layer, bottom first. Crates not in the workspace yet are ignored.
    pub(crate) layers: &'a [(&'a str, u32)],
    /// The crate whose tree of normal dependencies must not contain `forbidden`.
    pub(crate) leaf: &'a str,
    /// Crates that must not appear in `leaf`'s tree of normal dependencies.
    pub(crate) forbidden: &'a [&'a str],
}

/// The klieo stack, bottom to top.
pub(crate) const RULES: Rules<'static> = Rules {
    layers: &[
        ("klieo-types", 0),
        ("klieo-retry", 1),
        ("klieo-stream", 2),
        ("klieo-runtime", 3),
        ("klieo-openai", 4),
        ("klieo", 5),
    ],
    leaf: "klieo-types",
    forbidden: &["tokio", "tokio-util", "reqwest", "hyper", "tracing"],
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
    let layer = |name: &str| {
        rules
            .layers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, l)| l)
    };
    let mut violations = Vec::new();

    for (_, package) in graph.members().filter(|(_, p)| is_klieo(&p.name)) {
        let Some(from_layer) = layer(&package.name) else {
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
            if let Some(to_layer) = layer(to).filter(|&l| l >= from_layer) {
                violations.push(Violation::Upward {
                    from: package.name.clone(),
                    from_layer,
                    to: to.clone(),
                    to_layer,
                });
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
