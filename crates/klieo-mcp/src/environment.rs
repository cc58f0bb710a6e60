//! What a stdio server's process is given of klieo's environment: by
//! default only what a program needs to start ([`PASSED_ENV`]) and the
//! variables its settings name, so API keys klieo holds in its own
//! environment never reach a server that could show them to the model.

use tokio::process::Command;

/// The variables of klieo's environment a stdio server is given unless
/// told otherwise (those MCP's reference SDKs pass): enough to find
/// programs, a home, a shell and a terminal, and, on Windows, the system.
pub const PASSED_ENV: &[&str] = &[
    "HOME",
    "LOGNAME",
    "PATH",
    "SHELL",
    "TERM",
    "USER",
    "APPDATA",
    "HOMEDRIVE",
    "HOMEPATH",
    "LOCALAPPDATA",
    "PROGRAMFILES",
    "SYSTEMDRIVE",
    "SYSTEMROOT",
    "TEMP",
    "USERNAME",
    "USERPROFILE",
];

/// Which of klieo's environment a stdio server inherits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Inherited {
    /// Every variable, not only [`PASSED_ENV`] and `also`.
    pub(crate) whole: bool,
    /// Variables passed besides [`PASSED_ENV`].
    pub(crate) also: Vec<String>,
}

impl Inherited {
    /// Gives `cmd` the inherited variables, then `env` (the server's own,
    /// which win over klieo's).
    pub(crate) fn apply(&self, cmd: &mut Command, env: &[(String, String)]) {
        if !self.whole {
            cmd.env_clear();
            let names = PASSED_ENV.iter().copied();
            for name in names.chain(self.also.iter().map(String::as_str)) {
                if let Some(value) = std::env::var_os(name) {
                    cmd.env(name, value);
                }
            }
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
    }

    /// The variables passed by name besides [`PASSED_ENV`] that klieo's
    /// environment sets, with their values as text (a value that is not
    /// UTF-8 with U+FFFD for its bad bytes), for the secrets.
    pub(crate) fn passed(&self) -> impl Iterator<Item = (&str, String)> {
        self.also.iter().filter_map(|name| {
            let value = std::env::var_os(name)?;
            Some((name.as_str(), value.to_string_lossy().into_owned()))
        })
    }
}
