//! The readiness check against fake servers on loopback: no model needed.
#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;
use std::io::BufRead;
use std::net::TcpListener;
use std::os::unix::process::ExitStatusExt;
use std::thread::JoinHandle;

/// The model server logging to `log`.
fn watched(log: &Path) -> Watched<'_> {
    Watched {
        name: "the model server",
        log,
        venv: Path::new("target/klieo-model/venv"),
    }
}

const LIMITS: Limits = Limits {
    listen: Duration::from_secs(5),
    answer: Duration::from_secs(5),
    exit_grace: Duration::ZERO,
};

/// How the fake server treats a request for a path.
#[derive(Clone, Copy)]
enum Treat {
    /// 200 with this JSON body.
    Ok(&'static str),
    /// Read the request, then close without a word (a crashed server).
    Hang,
    /// 503, as llama-server answers while it loads its model.
    Loading,
}

/// A server on a free loopback port that serves `plan` in order, one
/// connection each, checking each request's path, then stops.
fn fake(plan: Vec<(&'static str, Treat)>) -> (u16, JoinHandle<()>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || {
        for (path, treat) in plan {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = std::io::BufReader::new(stream);
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            assert!(
                line.contains(&format!(" {path} ")),
                "expected {path}, got {line}"
            );
            let mut length = 0;
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header == "\r\n" {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = reader.into_inner();
            match treat {
                Treat::Ok(json) => {
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{json}",
                        json.len()
                    );
                    stream.write_all(reply.as_bytes()).unwrap();
                }
                Treat::Hang => drop(stream),
                Treat::Loading => {
                    let json = r#"{"error":{"code":503,"message":"Loading model"}}"#;
                    let reply = format!(
                        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{json}",
                        json.len()
                    );
                    stream.write_all(reply.as_bytes()).unwrap();
                }
            }
        }
    });
    (port, handle)
}

fn log_file(name: &str, text: &str) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("klieo-xtask-{}-{name}.log", std::process::id()));
    std::fs::write(&path, text).unwrap();
    path
}

const MODELS: (&str, Treat) = ("/v1/models", Treat::Ok(r#"{"data":[]}"#));

#[test]
fn a_server_that_answers_every_probe_is_ready() {
    let (port, server) = fake(vec![
        MODELS,
        ("/v1/chat/completions", Treat::Ok(r#"{"choices":[]}"#)),
        ("/v1/embeddings", Treat::Ok(r#"{"data":[]}"#)),
    ]);
    let log = log_file("ready", "loaded\n");
    wait_ready(port, &watched(&log), &[CHAT, EMBEDDING], &LIMITS, || None).unwrap();
    server.join().unwrap();
}

#[test]
fn a_server_still_loading_its_model_is_asked_again() {
    let chat = ("/v1/chat/completions", Treat::Ok(r#"{"choices":[]}"#));
    let loading = ("/v1/chat/completions", Treat::Loading);
    let (port, server) = fake(vec![MODELS, loading, loading, chat]);
    let log = log_file("loading", "loading model\n");
    wait_ready(port, &watched(&log), &[CHAT], &LIMITS, || None).unwrap();
    server.join().unwrap();
}

#[test]
fn a_server_that_closes_on_its_first_chat_cannot_answer_and_shows_its_log() {
    let (port, server) = fake(vec![MODELS, ("/v1/chat/completions", Treat::Hang)]);
    let log = log_file(
        "closes",
        "llama_model_load: loaded\nggml_amx: tile fault here\n",
    );
    let error = wait_ready(port, &watched(&log), &[CHAT, EMBEDDING], &LIMITS, || None)
        .unwrap_err()
        .to_string();
    server.join().unwrap();
    assert!(error.contains("the model server cannot answer"), "{error}");
    assert!(error.contains("POST /v1/chat/completions"), "{error}");
    assert!(
        error.contains("closed the connection without a reply"),
        "{error}"
    );
    assert!(error.contains("ggml_amx: tile fault here"), "{error}");
    assert!(error.contains(&log.display().to_string()), "{error}");
    assert!(error.contains("rebuild it portably"), "{error}");
}

#[test]
fn a_crash_on_the_first_chat_is_reported_with_its_signal() {
    let (port, server) = fake(vec![MODELS, ("/v1/chat/completions", Treat::Hang)]);
    let log = log_file("signal", "Segmentation fault\n");
    let mut polls = 0;
    // Alive while it listens, dead once it has been asked to answer.
    let exited = || {
        polls += 1;
        (polls > 1).then(|| ExitStatus::from_raw(11))
    };
    let error = wait_ready(port, &watched(&log), &[CHAT], &LIMITS, exited)
        .unwrap_err()
        .to_string();
    server.join().unwrap();
    assert!(error.contains("then exited (signal: 11"), "{error}");
    assert!(error.contains("Segmentation fault"), "{error}");
}

#[test]
fn an_error_status_is_shown_with_the_body() {
    let listener_plan = vec![
        MODELS,
        ("/v1/chat/completions", Treat::Ok(r#"{"choices":[]}"#)),
        (
            "/v1/embeddings",
            Treat::Ok(r#"{"error":"embeddings are off"}"#),
        ),
    ];
    let (port, server) = fake(listener_plan);
    let log = log_file("status", "");
    let error = wait_ready(port, &watched(&log), &[CHAT, EMBEDDING], &LIMITS, || None)
        .unwrap_err()
        .to_string();
    server.join().unwrap();
    assert!(
        error.contains("asked for an embedding (POST /v1/embeddings)"),
        "{error}"
    );
    assert!(error.contains("embeddings are off"), "{error}");
}

#[test]
fn a_server_that_exits_before_listening_is_reported() {
    let log = log_file("early", "error loading model\n");
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let error = wait_ready(port, &watched(&log), &[CHAT], &LIMITS, || {
        Some(ExitStatus::from_raw(256))
    })
    .unwrap_err()
    .to_string();
    assert!(
        error.contains("exited (exit status: 1) before it listened"),
        "{error}"
    );
    assert!(error.contains("error loading model"), "{error}");
}

#[test]
fn a_crash_says_which_server_and_which_build_to_redo() {
    let log = log_file("llama", "Illegal instruction\n");
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let llama = Watched {
        name: "llama-server",
        log: &log,
        venv: Path::new("target/klieo-llama-server/venv"),
    };
    let error = wait_ready(port, &llama, &[CHAT], &LIMITS, || {
        Some(ExitStatus::from_raw(4))
    })
    .unwrap_err()
    .to_string();
    assert!(error.contains("llama-server exited"), "{error}");
    assert!(
        error.contains("delete target/klieo-llama-server/venv"),
        "{error}"
    );
    assert!(!error.contains("klieo-model"), "{error}");
}
