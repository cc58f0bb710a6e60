//! Tests of the layering check on made-up `cargo metadata` output.

use serde_json::{json, Value};

use super::{check, Rules, Violation, RULES};
use crate::metadata::Graph;

fn id(name: &str, members: &[&str]) -> String {
    if members.contains(&name) {
        format!("path+file:///ws/crates/{name}#0.1.0")
    } else {
        format!("registry+https://github.com/rust-lang/crates.io-index#{name}@1.0.0")
    }
}

/// Builds `cargo metadata --format-version 1` JSON for `members` and every crate
/// named in `edges` (`(from, to, kind)`, kind "normal", "build" or "dev"), and parses it.
fn graph(members: &[&str], edges: &[(&str, &str, &str)]) -> Graph {
    let mut names: Vec<&str> = members.to_vec();
    for &(from, to, _) in edges {
        for name in [from, to] {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let packages: Vec<Value> = names
        .iter()
        .map(|&n| json!({"name": n, "version": "0.1.0", "id": id(n, members), "features": {}}))
        .collect();
    let nodes: Vec<Value> = names
        .iter()
        .map(|&n| {
            let deps: Vec<Value> = edges
                .iter()
                .filter(|(from, _, _)| *from == n)
                .map(|&(_, to, kind)| {
                    let kind = if kind == "normal" {
                        Value::Null
                    } else {
                        json!(kind)
                    };
                    json!({
                        "name": to.replace('-', "_"),
                        "pkg": id(to, members),
                        "dep_kinds": [{"kind": kind, "target": null}],
                    })
                })
                .collect();
            json!({"id": id(n, members), "dependencies": [], "deps": deps, "features": []})
        })
        .collect();
    let ids: Vec<String> = members.iter().map(|m| id(m, members)).collect();
    let json = json!({
        "packages": packages,
        "workspace_members": ids,
        "resolve": {"nodes": nodes, "root": null},
        "version": 1,
    });
    Graph::parse(&json.to_string()).expect("made-up metadata parses")
}

const TODAY: &[&str] = &[
    "klieo-types",
    "klieo-retry",
    "klieo-provider",
    "klieo-runtime",
    "klieo-openai",
    "klieo",
    "xtask",
];

fn upward(from: &str, from_layer: u32, to: &str, to_layer: u32) -> Violation {
    Violation::Upward {
        from: from.into(),
        from_layer,
        to: to.into(),
        to_layer,
    }
}

#[test]
fn clean_graph_passes() {
    let g = graph(
        TODAY,
        &[
            ("klieo-types", "serde", "normal"),
            ("klieo-types", "futures-core", "normal"),
            ("klieo-runtime", "klieo-retry", "normal"),
            ("klieo-retry", "tokio", "normal"),
            ("klieo", "klieo-types", "normal"),
            ("klieo", "klieo-retry", "normal"),
            ("xtask", "serde_json", "normal"),
        ],
    );
    assert_eq!(check(&g, &RULES), []);
}

#[test]
fn upward_edges_are_reported() {
    let members = ["klieo-types", "klieo-retry", "klieo-runtime"];
    let g = graph(
        &members,
        &[
            ("klieo-types", "klieo-retry", "normal"),
            ("klieo-retry", "klieo-runtime", "normal"),
            ("klieo-runtime", "klieo-retry", "normal"),
        ],
    );
    assert_eq!(
        check(&g, &RULES),
        [
            upward("klieo-types", 0, "klieo-retry", 1),
            upward("klieo-retry", 1, "klieo-runtime", 3),
        ]
    );
}

#[test]
fn build_dependency_upward_is_reported() {
    let g = graph(TODAY, &[("klieo-types", "klieo-retry", "build")]);
    assert_eq!(
        check(&g, &RULES),
        [upward("klieo-types", 0, "klieo-retry", 1)]
    );
}

#[test]
fn dev_dependency_upward_is_allowed() {
    let g = graph(
        TODAY,
        &[
            ("klieo-types", "klieo", "dev"),
            ("klieo-types", "tokio", "dev"),
            ("klieo-retry", "klieo", "dev"),
        ],
    );
    assert_eq!(check(&g, &RULES), []);
}

#[test]
fn unknown_klieo_crate_is_reported() {
    let g = graph(&["klieo-types", "klieo-extra"], &[]);
    let violations = check(&g, &RULES);
    assert_eq!(
        violations,
        [Violation::Unlisted {
            krate: "klieo-extra".into()
        }]
    );
    assert_eq!(
        violations[0].to_string(),
        "`klieo-extra` is a klieo crate without a layer: \
         add it to the layering table in xtask/src/layering.rs"
    );
}

#[test]
fn same_layer_dependency_is_reported() {
    let rules = Rules {
        crates: &[
            ("klieo-types", 0, &[]),
            ("klieo-openai", 1, &["klieo-types"]),
            ("klieo-claude", 1, &["klieo-types"]),
        ],
        ..RULES
    };
    let g = graph(
        &["klieo-types", "klieo-openai", "klieo-claude"],
        &[("klieo-claude", "klieo-openai", "normal")],
    );
    let violations = check(&g, &rules);
    assert_eq!(violations, [upward("klieo-claude", 1, "klieo-openai", 1)]);
    assert!(violations[0].to_string().contains("on the same layer"));
}

#[test]
fn forbidden_crate_is_reported_with_its_path() {
    let g = graph(
        TODAY,
        &[
            ("klieo-types", "serde", "normal"),
            ("klieo-types", "foo", "normal"),
            ("foo", "tokio", "normal"),
        ],
    );
    let violations = check(&g, &RULES);
    assert_eq!(
        violations,
        [Violation::Forbidden {
            path: vec!["klieo-types".into(), "foo".into(), "tokio".into()]
        }]
    );
    assert_eq!(
        violations[0].to_string(),
        "`klieo-types` must not pull in `tokio`, but does: klieo-types -> foo -> tokio; \
         remove or replace `klieo-types`'s dependency on `foo`"
    );
}

#[test]
fn forbidden_crate_behind_a_dev_or_build_edge_is_not_reported() {
    let g = graph(
        TODAY,
        &[
            ("klieo-types", "foo", "dev"),
            ("foo", "tokio", "normal"),
            ("klieo-types", "bar", "normal"),
            ("bar", "tracing", "build"),
        ],
    );
    assert_eq!(check(&g, &RULES), []);
}

#[test]
fn multiple_violations_are_all_reported() {
    let g = graph(
        &["klieo-types", "klieo-retry", "klieo", "klieo-extra"],
        &[
            ("klieo-types", "klieo", "normal"),
            ("klieo-types", "reqwest", "normal"),
            ("reqwest", "hyper", "normal"),
            ("hyper", "tokio", "normal"),
            ("klieo-retry", "klieo", "normal"),
        ],
    );
    let violations = check(&g, &RULES);
    assert_eq!(
        violations,
        [
            upward("klieo-types", 0, "klieo", 5),
            upward("klieo-retry", 1, "klieo", 5),
            Violation::Unlisted {
                krate: "klieo-extra".into()
            },
            Violation::Forbidden {
                path: vec!["klieo-types".into(), "reqwest".into()]
            },
            Violation::Forbidden {
                path: vec!["klieo-types".into(), "reqwest".into(), "hyper".into()]
            },
            Violation::Forbidden {
                path: ["klieo-types", "reqwest", "hyper", "tokio"]
                    .map(String::from)
                    .to_vec()
            },
        ]
    );
}

#[test]
fn provider_depending_on_the_runtime_is_reported() {
    let g = graph(
        TODAY,
        &[
            ("klieo-openai", "klieo-types", "normal"),
            ("klieo-openai", "klieo-provider", "normal"),
            ("klieo-openai", "klieo-runtime", "normal"),
        ],
    );
    let violations = check(&g, &RULES);
    assert_eq!(
        violations,
        [Violation::NotAllowed {
            from: "klieo-openai".into(),
            to: "klieo-runtime".into(),
            allowed: ["klieo-types", "klieo-http", "klieo-provider"]
                .map(String::from)
                .to_vec(),
        }]
    );
    assert!(violations[0]
        .to_string()
        .contains("may depend on: klieo-types"));
}

#[test]
fn the_real_stack_obeys_its_own_table() {
    let edges = [
        ("klieo-runtime", "klieo-types", "normal"),
        ("klieo-runtime", "klieo-retry", "normal"),
        ("klieo-provider", "klieo-types", "normal"),
        ("klieo-openai", "klieo-types", "normal"),
        ("klieo-openai", "klieo-provider", "normal"),
        ("klieo", "klieo-runtime", "normal"),
        ("klieo", "klieo-openai", "normal"),
    ];
    assert_eq!(check(&graph(TODAY, &edges), &RULES), []);
}

#[test]
fn mcp_and_otel_reach_the_http_kit_but_not_the_llm_wire_kit() {
    let members = [
        "klieo-types",
        "klieo-http",
        "klieo-provider",
        "klieo-mcp",
        "klieo-otel",
    ];
    let fine = [
        ("klieo-http", "klieo-types", "normal"),
        ("klieo-provider", "klieo-http", "normal"),
        ("klieo-mcp", "klieo-http", "normal"),
        ("klieo-otel", "klieo-http", "normal"),
    ];
    assert_eq!(check(&graph(&members, &fine), &RULES), []);
    let g = graph(&members, &[("klieo-mcp", "klieo-provider", "normal")]);
    assert_eq!(
        check(&g, &RULES),
        [upward("klieo-mcp", 2, "klieo-provider", 2)]
    );
    let g = graph(&members, &[("klieo-http", "klieo-provider", "normal")]);
    assert_eq!(
        check(&g, &RULES),
        [upward("klieo-http", 1, "klieo-provider", 2)]
    );
}

#[test]
fn other_runtimes_and_http_stacks_are_forbidden_in_the_leaf() {
    for banned in ["async-std", "smol", "http", "ureq", "log"] {
        let g = graph(TODAY, &[("klieo-types", banned, "normal")]);
        assert_eq!(
            check(&g, &RULES),
            [Violation::Forbidden {
                path: vec!["klieo-types".into(), banned.into()]
            }],
            "{banned}"
        );
    }
}
