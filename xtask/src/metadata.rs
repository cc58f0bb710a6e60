//! The workspace's packages and dependency graph, parsed from `cargo metadata` JSON.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::{cmd, Error};

/// Every package in the resolved workspace, with its dependency edges.
#[derive(Debug)]
pub(crate) struct Graph {
    /// All packages, workspace members and third-party crates alike.
    pub(crate) packages: Vec<Package>,
}

/// One package of the graph.
#[derive(Debug)]
pub(crate) struct Package {
    pub(crate) name: String,
    /// Whether this package is a member of the workspace.
    pub(crate) member: bool,
    /// The features the package declares, `default` included if declared, sorted.
    pub(crate) features: Vec<String>,
    pub(crate) deps: Vec<Dep>,
}

/// An edge to another package, by its index in [`Graph::packages`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dep {
    pub(crate) to: usize,
    pub(crate) kinds: Kinds,
}

/// How a dependency is declared; one edge may be several at once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Kinds {
    pub(crate) normal: bool,
    pub(crate) build: bool,
    pub(crate) dev: bool,
}

impl Graph {
    /// Runs `cargo metadata` in `root` and parses it.
    ///
    /// `--all-features` puts every optional dependency in the graph, so no feature
    /// can hide an edge from the checks that read it.
    pub(crate) fn load(root: &Path) -> Result<Self, Error> {
        let args = [
            "metadata",
            "--locked",
            "--format-version",
            "1",
            "--all-features",
        ];
        let json = cmd::stdout(&mut cmd::cargo(root, &args))?;
        Self::parse(&json)
    }

    /// Parses the JSON printed by `cargo metadata --format-version 1`.
    pub(crate) fn parse(json: &str) -> Result<Self, Error> {
        let root: Value = serde_json::from_str(json)
            .map_err(|err| Error::new(format!("cargo metadata: invalid JSON: {err}")))?;
        let members: Vec<&str> = array(&root, "workspace_members")?
            .iter()
            .map(|id| {
                id.as_str()
                    .ok_or_else(|| bad("workspace_members", "a string"))
            })
            .collect::<Result<_, _>>()?;

        let mut index = HashMap::new();
        let mut packages = Vec::new();
        for package in array(&root, "packages")? {
            let id = string(package, "id")?;
            let mut features: Vec<String> = field(package, "features")?
                .as_object()
                .ok_or_else(|| bad("features", "an object"))?
                .keys()
                .cloned()
                .collect();
            features.sort();
            index.insert(id, packages.len());
            packages.push(Package {
                name: string(package, "name")?.to_owned(),
                member: members.contains(&id),
                features,
                deps: Vec::new(),
            });
        }

        let resolve = field(&root, "resolve")?;
        for node in array(resolve, "nodes")? {
            let from = lookup(&index, string(node, "id")?)?;
            for dep in array(node, "deps")? {
                let to = lookup(&index, string(dep, "pkg")?)?;
                let kinds = kinds(dep)?;
                packages[from].deps.push(Dep { to, kinds });
            }
        }
        Ok(Self { packages })
    }

    /// The workspace members, in the order `cargo metadata` lists them.
    pub(crate) fn members(&self) -> impl Iterator<Item = (usize, &Package)> {
        self.packages.iter().enumerate().filter(|(_, p)| p.member)
    }
}

/// Where cargo puts the workspace's build outputs (`target_directory`:
/// `CARGO_TARGET_DIR`, a `build.target-dir` setting, or `target/`), for
/// running a program a step built.
pub(crate) fn target_dir(root: &Path) -> Result<PathBuf, Error> {
    let args = ["metadata", "--locked", "--format-version", "1", "--no-deps"];
    let json = cmd::stdout(&mut cmd::cargo(root, &args))?;
    target_directory(&json)
}

/// Reads `target_directory` from `cargo metadata` JSON.
fn target_directory(json: &str) -> Result<PathBuf, Error> {
    let root: Value = serde_json::from_str(json)
        .map_err(|err| Error::new(format!("cargo metadata: invalid JSON: {err}")))?;
    string(&root, "target_directory").map(PathBuf::from)
}

/// Reads `dep_kinds`: `kind` is null for a normal dependency, else "build" or "dev".
fn kinds(dep: &Value) -> Result<Kinds, Error> {
    let mut kinds = Kinds::default();
    for entry in array(dep, "dep_kinds")? {
        match field(entry, "kind")?.as_str() {
            None | Some("normal") => kinds.normal = true,
            Some("build") => kinds.build = true,
            Some("dev") => kinds.dev = true,
            Some(other) => {
                return Err(Error::new(format!(
                    "cargo metadata: unknown dependency kind `{other}`"
                )))
            }
        }
    }
    Ok(kinds)
}

fn lookup(index: &HashMap<&str, usize>, id: &str) -> Result<usize, Error> {
    index
        .get(id)
        .copied()
        .ok_or_else(|| Error::new(format!("cargo metadata: `{id}` is not in `packages`")))
}

fn field<'a>(value: &'a Value, key: &str) -> Result<&'a Value, Error> {
    value
        .get(key)
        .ok_or_else(|| Error::new(format!("cargo metadata: missing `{key}`")))
}

fn array<'a>(value: &'a Value, key: &str) -> Result<&'a Vec<Value>, Error> {
    field(value, key)?
        .as_array()
        .ok_or_else(|| bad(key, "an array"))
}

fn string<'a>(value: &'a Value, key: &str) -> Result<&'a str, Error> {
    field(value, key)?
        .as_str()
        .ok_or_else(|| bad(key, "a string"))
}

fn bad(key: &str, expected: &str) -> Error {
    Error::new(format!("cargo metadata: `{key}` is not {expected}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trimmed copy of real `cargo metadata --format-version 1` output, extra fields and all.
    const REAL_SHAPE: &str = r#"{
  "packages": [
    {"name": "klieo", "version": "0.1.0", "id": "path+file:///ws/crates/klieo#0.1.0",
     "license": "MIT OR Apache-2.0", "dependencies": [], "targets": [],
     "features": {"default": ["retry"], "retry": ["dep:klieo-retry"]},
     "manifest_path": "/ws/crates/klieo/Cargo.toml", "edition": "2021"},
    {"name": "klieo-retry", "version": "0.1.0", "id": "path+file:///ws/crates/klieo-retry#0.1.0",
     "features": {}},
    {"name": "tokio", "version": "1.54.1",
     "id": "registry+https://github.com/rust-lang/crates.io-index#tokio@1.54.1",
     "features": {"default": [], "time": []}}
  ],
  "workspace_members": ["path+file:///ws/crates/klieo#0.1.0", "path+file:///ws/crates/klieo-retry#0.1.0"],
  "workspace_default_members": ["path+file:///ws/crates/klieo#0.1.0"],
  "resolve": {
    "nodes": [
      {"id": "path+file:///ws/crates/klieo#0.1.0",
       "dependencies": ["path+file:///ws/crates/klieo-retry#0.1.0"],
       "deps": [{"name": "klieo_retry", "pkg": "path+file:///ws/crates/klieo-retry#0.1.0",
                 "dep_kinds": [{"kind": null, "target": null}]}],
       "features": ["default", "retry"]},
      {"id": "path+file:///ws/crates/klieo-retry#0.1.0",
       "dependencies": [],
       "deps": [{"name": "klieo", "pkg": "path+file:///ws/crates/klieo#0.1.0",
                 "dep_kinds": [{"kind": "dev", "target": null}]},
                {"name": "tokio", "pkg": "registry+https://github.com/rust-lang/crates.io-index#tokio@1.54.1",
                 "dep_kinds": [{"kind": null, "target": null}, {"kind": "build", "target": "cfg(unix)"}]}],
       "features": []},
      {"id": "registry+https://github.com/rust-lang/crates.io-index#tokio@1.54.1",
       "dependencies": [], "deps": [], "features": []}
    ],
    "root": null
  },
  "target_directory": "/ws/target", "version": 1, "workspace_root": "/ws", "metadata": null
}"#;

    #[test]
    fn parses_real_metadata_shape() {
        let g = Graph::parse(REAL_SHAPE).expect("real-shaped metadata parses");
        let names: Vec<(&str, bool)> = g
            .packages
            .iter()
            .map(|p| (p.name.as_str(), p.member))
            .collect();
        assert_eq!(
            names,
            [("klieo", true), ("klieo-retry", true), ("tokio", false)]
        );
        assert_eq!(g.packages[0].features, ["default", "retry"]);
        let retry = &g.packages[1];
        assert_eq!(retry.deps.len(), 2);
        assert_eq!((retry.deps[0].to, retry.deps[0].kinds.dev), (0, true));
        let both = Kinds {
            normal: true,
            build: true,
            dev: false,
        };
        assert_eq!((retry.deps[1].to, retry.deps[1].kinds), (2, both));
    }

    #[test]
    fn the_target_directory_is_read_from_metadata() {
        let dir = target_directory(REAL_SHAPE).expect("real-shaped metadata names it");
        assert_eq!(dir, PathBuf::from("/ws/target"));
        assert!(target_directory("{}").is_err());
    }

    #[test]
    fn malformed_metadata_is_an_error_not_a_panic() {
        for json in [
            "",
            "{}",
            r#"{"packages": [], "workspace_members": [], "resolve": null}"#,
        ] {
            assert!(Graph::parse(json).is_err(), "{json:?} should not parse");
        }
    }
}
