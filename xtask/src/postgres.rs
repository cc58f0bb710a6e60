//! The PostgreSQL server klieo-postgres's tests run against: Debian's
//! `postgresql` package (installed with apt when missing), a cluster
//! initialised afresh on each start (under `target/klieo-postgres/`, or,
//! as root, under the temporary directory, which the `postgres` user can
//! reach whatever the checkout's own permissions), listening on a free
//! loopback port only (no Unix socket, whose path a deep checkout could
//! make too long), with its log at `target/klieo-postgres/server.log`,
//! and stopped when dropped or when xtask dies.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cmd::free_port;
use crate::test_certs::{self, TestCerts};
use crate::Error;

/// How long the server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server has to stop before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// A running server; dropping it stops it.
pub(crate) struct PostgresServer {
    child: Child,
    /// `postgres://klieo@127.0.0.1:PORT/postgres`.
    pub(crate) url: String,
    /// The certificates it serves TLS with (see [`TestCerts`]).
    pub(crate) certs: TestCerts,
    /// Its cluster, when it is in the temporary directory (removed once
    /// the server stopped).
    temporary: Option<PathBuf>,
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        // A fast shutdown (SIGINT) lets the server stop its own processes;
        // SIGKILL only if it has not within the grace period.
        // The shell's own `kill`: `/bin/kill` (procps) is not on every
        // machine.
        let pid = self.child.id().to_string();
        let _ = Command::new("sh")
            .args(["-c", "kill -INT \"$1\"", "sh", &pid])
            .status();
        let asked = Instant::now();
        while asked.elapsed() < STOP_GRACE {
            if let Ok(Some(_)) = self.child.try_wait() {
                println!("    postgres stopped");
                self.remove_temporary();
                return;
            }
            // A synchronous tool waiting for a child process: no executor to block.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        println!(
            "    postgres killed (it did not stop within {} s)",
            STOP_GRACE.as_secs()
        );
        self.remove_temporary();
    }
}

impl PostgresServer {
    /// Removes the cluster when it is in the temporary directory.
    fn remove_temporary(&self) {
        if let Some(cluster) = &self.temporary {
            let _ = std::fs::remove_dir_all(cluster);
        }
    }
}

/// Where the cluster of the checkout at `root` lives: `dir` (under
/// `target/`), or, as root, a directory of the temporary directory named
/// for the checkout, which the `postgres` user can reach (a checkout
/// under `/root`, mode 0700, it could not).
fn cluster_dir(root: &Path, dir: &Path) -> PathBuf {
    if !is_root() {
        return dir.to_owned();
    }
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    root.hash(&mut hasher);
    let prefix = format!("klieo-postgres-{:016x}-", hasher.finish());
    // Those this checkout's earlier runs left (a kill of xtask leaves one).
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    std::env::temp_dir().join(format!("{prefix}{}", std::process::id()))
}

/// Removes a temporary cluster when dropped, unless the server took it
/// (a start that failed part way leaves nothing in the temporary
/// directory).
struct Unclaimed(Option<PathBuf>);

impl Drop for Unclaimed {
    fn drop(&mut self) {
        if let Some(cluster) = self.0.take() {
            let _ = std::fs::remove_dir_all(cluster);
        }
    }
}

/// The directory holding `initdb`, `postgres` and `pg_isready`.
fn bin_dir() -> Option<PathBuf> {
    let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    let mut dirs: Vec<PathBuf> = versions
        .filter_map(|v| v.ok().map(|v| v.path().join("bin")))
        .filter(|bin| bin.join("postgres").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
}

pub(crate) fn is_root() -> bool {
    // The effective uid, from /proc: no libc call needed.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// Whether the `postgres` user exists (the package made it).
fn server_user_exists() -> bool {
    std::fs::read_to_string("/etc/passwd")
        .is_ok_and(|users| users.lines().any(|user| user.starts_with("postgres:")))
}

/// Installs Debian's `postgresql` when it is missing, or finishes an
/// install cut short (its server unpacked, its `postgres` user not yet
/// made: a Ctrl-C during apt).
fn ensure_installed() -> Result<PathBuf, Error> {
    if let Some(bin) = bin_dir().filter(|_| !is_root() || server_user_exists()) {
        return Ok(bin);
    }
    println!("    installing PostgreSQL (apt-get install postgresql)");
    let fix = "install PostgreSQL yourself (Debian and Ubuntu: apt-get install postgresql)";
    if !is_root() {
        return Err(
            Error::new("PostgreSQL is not installed, and installing it needs root").or_fix(fix),
        );
    }
    crate::cmd::apt_install("postgresql", fix)?;
    bin_dir().ok_or_else(|| {
        Error::new(
            "apt installed postgresql, but no server binary was found under /usr/lib/postgresql",
        )
        .or_fix(fix)
    })
}

/// `command` as the `postgres` user when xtask runs as root (initdb and
/// the server refuse to run as root), dying with xtask either way.
fn as_server_user(program: &Path) -> Command {
    let mut command = Command::new("setpriv");
    if is_root() {
        command.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
    }
    // If xtask dies, SIGINT: a fast shutdown, which does not wait for
    // clients still connected.
    command.args(["--pdeathsig", "INT", "--"]).arg(program);
    // From `/`: the checkout (root's home, 0700) may be closed to the
    // `postgres` user, and PostgreSQL changes back to where it started.
    command.current_dir("/");
    command
}

impl PostgresServer {
    /// Installs PostgreSQL if needed, initialises a fresh cluster (see
    /// the module's docs) and starts it on a free loopback port.
    pub(crate) fn start(root: &Path) -> Result<Self, Error> {
        let bin = ensure_installed()?;
        let dir = root.join("target").join("klieo-postgres");
        let cluster = cluster_dir(root, &dir);
        let data = cluster.join("data");
        let _ = std::fs::remove_dir_all(&dir);
        let created = |made: &Path, all: bool| {
            let made_it = match all {
                true => std::fs::create_dir_all(made),
                false => std::fs::create_dir(made),
            };
            made_it.map_err(|e| Error::new(format!("cannot create {}: {e}", made.display())))
        };
        created(&dir, true)?;
        // In the temporary directory, made anew and never taken as found
        // (another user may have made one of its name).
        let mut unclaimed = Unclaimed((cluster != dir).then(|| cluster.clone()));
        if unclaimed.0.is_some() {
            created(&cluster, false)?;
        }
        created(&data, false)?;
        if is_root() {
            crate::cmd::run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&cluster),
            )?;
        }
        crate::cmd::run(
            as_server_user(&bin.join("initdb"))
                .args([
                    "--username=klieo",
                    "--auth=trust",
                    "--encoding=UTF8",
                    // Whatever LANG the caller has (a locale the machine
                    // lacks makes initdb refuse).
                    "--no-locale",
                    "--no-sync",
                    "-D",
                ])
                .arg(&data)
                .stdout(Stdio::null()),
        )?;
        let certs = test_certs::make(&cluster.join("tls"))?;
        if is_root() {
            crate::cmd::run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(cluster.join("tls")),
            )?;
        }
        let port = free_port()?;
        let log = dir.join("server.log");
        let (out, err) = crate::cmd::log_file(&log)?;
        println!(
            "    starting postgres on 127.0.0.1:{port} (log: {})",
            log.display()
        );
        let child = as_server_user(&bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-k", ""])
            .args(["-c", "max_connections=200"])
            // The fleet test counts an idle worker's statements.
            .args(["-c", "shared_preload_libraries=pg_stat_statements"])
            // TLS offered, as managed servers do; clients choose.
            .args(["-c", "ssl=on", "-c"])
            .arg(format!("ssl_cert_file={}", certs.cert.display()))
            .arg("-c")
            .arg(format!("ssl_key_file={}", certs.key.display()))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| Error::new(format!("cannot start postgres: {e}")))?;
        let mut server = Self {
            child,
            url: format!("postgres://klieo@127.0.0.1:{port}/postgres"),
            certs,
            temporary: unclaimed.0.take(),
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(Error::new(format!(
                    "postgres exited ({status}) before accepting connections; its log is {}",
                    log.display()
                )));
            }
            let ready = Command::new(bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                break;
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(Error::new(format!(
                    "postgres did not accept connections within {} s; its log is {}",
                    READY_TIMEOUT.as_secs(),
                    log.display()
                )));
            }
            // A synchronous tool waiting for a child process: no executor to block.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(100));
        }
        println!(
            "    postgres ready in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        Ok(server)
    }
}
