//! Running cargo as a child process from the workspace root, and naming a command in messages.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::Error;

/// A `cargo` command run from `root`, using the cargo that started xtask (`$CARGO`).
pub(crate) fn cargo(root: &Path, args: &[&str]) -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(program);
    command.current_dir(root).args(args);
    command
}

/// Runs `command` with the terminal's stdout and stderr; fails unless it exits successfully.
pub(crate) fn run(command: &mut Command) -> Result<(), Error> {
    let status = command
        .status()
        .map_err(|err| Error::new(format!("could not start `{}`: {err}", show(command))))?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::new(format!("`{}` failed ({status})", show(command))))
    }
}

/// Installs Debian's `package` with apt (as root), first finishing any
/// install a Ctrl-C cut short (`dpkg --configure -a`: apt refuses to run
/// until that is done); `fix` says what to do when it fails.
pub(crate) fn apt_install(package: &str, fix: &str) -> Result<(), Error> {
    let steps: [(&str, &[&str]); 3] = [
        ("dpkg", &["--configure", "-a"]),
        ("apt-get", &["update"]),
        (
            "apt-get",
            &[
                "install",
                "-y",
                "--no-install-recommends",
                // Another apt's lock is waited for; a changed config file
                // keeps the one installed, never asking.
                "-o",
                "DPkg::Lock::Timeout=300",
                "-o",
                "Dpkg::Options::=--force-confdef",
                "-o",
                "Dpkg::Options::=--force-confold",
                package,
            ],
        ),
    ];
    for (program, args) in steps {
        run(Command::new(program)
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive"))
        .map_err(|e| e.or_fix(fix))?;
    }
    Ok(())
}

/// Runs `command` quietly and says whether it exited successfully (false if it could not start).
pub(crate) fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `command`, passing its stderr through, and returns its stdout.
pub(crate) fn stdout(command: &mut Command) -> Result<String, Error> {
    let output = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| Error::new(format!("could not start `{}`: {err}", show(command))))?;
    if !output.status.success() {
        return Err(Error::new(format!(
            "`{}` failed ({})",
            show(command),
            output.status
        )));
    }
    String::from_utf8(output.stdout)
        .map_err(|_| Error::new(format!("`{}` printed invalid UTF-8", show(command))))
}

/// The command as a person would type it: `RUSTDOCFLAGS='-D warnings' cargo doc ...`.
pub(crate) fn show(command: &Command) -> String {
    let mut words = Vec::new();
    for (key, value) in command.get_envs() {
        if let Some(value) = value {
            words.push(format!("{}={}", key.to_string_lossy(), quote(value)));
        }
    }
    let program = Path::new(command.get_program());
    words.push(quote(program.file_name().unwrap_or(program.as_os_str())));
    words.extend(command.get_args().map(quote));
    words.join(" ")
}

fn quote(word: &OsStr) -> String {
    let word = word.to_string_lossy();
    if word.is_empty() || word.contains(|c: char| c.is_whitespace() || c == '\'') {
        format!("'{}'", word.replace('\'', r"'\''"))
    } else {
        word.into_owned()
    }
}

/// A server's log file, created (or emptied), as its stdout and stderr.
pub(crate) fn log_file(path: &std::path::Path) -> Result<(std::fs::File, std::fs::File), Error> {
    let out = std::fs::File::create(path)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", path.display())))?;
    let err = out
        .try_clone()
        .map_err(|e| Error::new(format!("cannot reuse {}: {e}", path.display())))?;
    Ok((out, err))
}

/// A loopback port nobody listens on right now.
pub(crate) fn free_port() -> Result<u16, Error> {
    std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::new(format!("no free loopback port: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_names_env_program_and_quoted_args() {
        let mut command = Command::new("/opt/rust/bin/cargo");
        command
            .env("RUSTDOCFLAGS", "-D warnings")
            .args(["doc", "--workspace"]);
        assert_eq!(
            show(&command),
            "RUSTDOCFLAGS='-D warnings' cargo doc --workspace"
        );
    }
}
