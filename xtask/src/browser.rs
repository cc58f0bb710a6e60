//! What the console's browser tests drive: Debian's `chromium` (installed
//! with apt when missing) and Playwright's driver library, `playwright-core`
//! from npm (pinned, under `target/klieo-browser/`), run by the Node.js 22
//! the MCP step installs. Playwright downloads no browser: it drives the
//! one apt installed. The test starts and stops Chromium itself.

use crate::mcp::{create_dir, stamped, write_stamp, McpServers};
use crate::{cmd, Error};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Playwright's driver library, pinned.
const PLAYWRIGHT: &str = "playwright-core@1.65.2";
/// Where Debian puts Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Where the browser tests' programs are.
pub(crate) struct Browser {
    node: PathBuf,
    playwright: PathBuf,
    chromium: PathBuf,
}

impl Browser {
    /// Installs what is missing: Chromium with apt, playwright-core with
    /// npm, Node.js 22 with the MCP servers.
    pub(crate) fn install(root: &Path) -> Result<Self, Error> {
        let chromium = PathBuf::from(CHROMIUM);
        if !chromium.is_file() {
            install_chromium()?;
        }
        let node = McpServers::install(root)?.node;
        let dir = root.join("target").join("klieo-browser");
        let playwright = dir.join("node_modules").join("playwright-core");
        if !stamped(&dir, PLAYWRIGHT) || !playwright.join("index.mjs").is_file() {
            println!(
                "    installing {PLAYWRIGHT} from npm into {} (first time only, seconds)",
                dir.display()
            );
            create_dir(&dir)?;
            let mut install = Command::new("npm");
            install.arg("install").arg("--prefix").arg(&dir).args([
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                PLAYWRIGHT,
            ]);
            cmd::run(&mut install).map_err(|e| {
                e.or_fix("install Node.js and npm (Debian: `apt install nodejs npm`); npm needs the npm registry")
            })?;
            write_stamp(&dir, PLAYWRIGHT)?;
        }
        Ok(Self {
            node,
            playwright,
            chromium,
        })
    }

    /// Sets the variables the console's browser test reads.
    pub(crate) fn env(&self, command: &mut Command) {
        command
            .env("KLIEO_NODE", &self.node)
            .env("KLIEO_PLAYWRIGHT", &self.playwright)
            .env("KLIEO_CHROMIUM", &self.chromium);
    }
}

/// `apt-get install chromium`, as root.
fn install_chromium() -> Result<(), Error> {
    println!("    installing Chromium (apt-get install chromium; first time only, a minute)");
    let fix = "install Chromium yourself (Debian: apt-get install chromium) so that /usr/bin/chromium exists";
    if !crate::postgres::is_root() {
        return Err(
            Error::new("Chromium is not installed, and installing it needs root").or_fix(fix),
        );
    }
    cmd::apt_install("chromium", fix)?;
    if Path::new(CHROMIUM).is_file() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "apt installed chromium, but {CHROMIUM} is not there"
        ))
        .or_fix(fix))
    }
}
