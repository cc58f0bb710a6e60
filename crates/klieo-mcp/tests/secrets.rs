//! Secrets given to a server (environment values, header values, the
//! URL's user, password and query) never reach the texts built from what
//! the server or its transport said.

use crate::support::{ctx, faults_stdio, free_port, raw_stdio};
use klieo_mcp::{McpError, McpOptions, McpServer};
use klieo_types::{ToolError, ToolInvoker};
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_token_a_server_prints_on_stderr_is_scrubbed_from_the_error() {
    let settings = McpOptions::stdio("leaky", "sh")
        .with_args(["-c", "echo \"invalid key $LEAKY_TOKEN\" >&2; exit 1"])
        .add_env("LEAKY_TOKEN", "sk-leak-0123456789");
    let error = McpServer::connect(settings).await.unwrap_err();
    let McpError::Handshake { stderr, .. } = &error else {
        panic!("expected a failed handshake, got {error:?}");
    };
    assert_eq!(stderr, &["invalid key ***"]);
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("sk-leak"), "{shown}");
}

#[tokio::test]
async fn a_variable_passed_from_klieos_environment_is_scrubbed_from_the_error() {
    // Cargo sets it for the test; it stands for a token passed by name.
    let passed = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it");
    let settings = McpOptions::stdio("passing", "sh")
        .add_passed_env("CARGO_MANIFEST_DIR")
        .with_args(["-c", "echo \"given $CARGO_MANIFEST_DIR\" >&2; exit 1"]);
    let error = McpServer::connect(settings).await.unwrap_err();
    let McpError::Handshake { stderr, .. } = &error else {
        panic!("expected a failed handshake, got {error:?}");
    };
    assert_eq!(stderr.len(), 1, "{stderr:?}");
    assert!(!stderr[0].contains(&passed), "{stderr:?}");
    assert!(!format!("{error} {error:?}").contains(&passed));
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_token_printed_by_a_server_that_dies_mid_call_is_scrubbed_for_the_model() {
    let settings = faults_stdio().add_env("KLIEO_MCP_SECRET", "sk-live-9876543210");
    let server = McpServer::connect(settings).await.unwrap();
    let out = server.invoke("exit_mid_call", json!({}), ctx()).await;
    let Err(error @ ToolError::Retryable { .. }) = out else {
        panic!("expected a retryable error, got {out:?}");
    };
    let message = error.to_string();
    assert!(message.contains("invalid key ***"), "{message}");
    assert!(!message.contains("sk-live"), "{message}");
}

/// A server's tool list goes to the model (and, with content capture, to
/// the spans): a token it puts in a tool's description or schema is
/// scrubbed from the definitions.
#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_token_a_server_puts_in_its_tool_list_is_scrubbed_for_the_model() {
    let settings = raw_stdio("leaky-tools").add_env("KLIEO_MCP_SECRET", "sk-live-9876543210");
    let server = McpServer::connect(settings).await.unwrap();
    let defs = server.catalogue();
    let leaky = defs
        .iter()
        .find(|d| d.name == "leaky")
        .expect("the tool is offered");
    let shown = format!("{leaky:?}");
    assert!(shown.contains("Calls the API with key ***"), "{shown}");
    assert!(!shown.contains("sk-live"), "{shown}");
}

/// A server can answer with an error made to look like one of klieo's own
/// reply faults: its text is shown as any server's, scrubbed and cut.
#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_fault_a_server_forges_is_scrubbed_and_cut_for_the_model() {
    let settings = raw_stdio("lies").add_env("KLIEO_MCP_SECRET", "sk-live-9876543210");
    let server = McpServer::connect(settings).await.unwrap();
    let out = server.invoke("forged", json!({}), ctx()).await;
    let Err(ToolError::Failed { message, .. }) = out else {
        panic!("expected a failure the model reads, got {out:?}");
    };
    assert!(!message.contains("sk-live"), "{message}");
    assert!(
        message.chars().count() < 1_000,
        "{} characters",
        message.len()
    );
}

#[tokio::test]
async fn a_url_with_a_user_keeps_its_query_out_of_the_error() {
    let url = format!(
        "http://user:pass@127.0.0.1:{}/mcp?key=SECRET-QUERY-1",
        free_port()
    );
    let settings = McpOptions::http("web", url).with_connect_timeout(Duration::from_secs(10));
    let error = McpServer::connect(settings).await.unwrap_err();
    assert!(matches!(error, McpError::Handshake { .. }), "{error:?}");
    let shown = format!("{error} {error:?}");
    assert!(!shown.contains("SECRET-QUERY-1"), "{shown}");
    assert!(!shown.contains("pass"), "{shown}");
    assert!(
        !shown.contains("rmcp::"),
        "what happened, not Rust types: {shown}"
    );
}

/// The handshake error of a stdio "server" that prints, on stderr, which
/// of `names` it was given, then exits.
async fn given(settings: McpOptions, names: &[&str]) -> Vec<String> {
    let script: String = names
        .iter()
        .map(|name| format!("echo \"{name}=${{{name}:+given}}\" >&2; "))
        .collect();
    let settings = settings.with_args(["-c", &format!("{script}exit 1")]);
    match McpServer::connect(settings).await {
        Err(McpError::Handshake { stderr, .. }) => stderr,
        other => panic!("expected a failed handshake, got {other:?}"),
    }
}

#[tokio::test]
async fn a_stdio_server_gets_only_the_environment_it_needs_and_is_given() {
    // Set by cargo for the test, as an API key would be for klieo.
    let held = "CARGO_MANIFEST_DIR";
    assert!(std::env::var_os(held).is_some(), "{held} is not set here");
    let names = ["PATH", held, "OWN"];
    let plain = McpOptions::stdio("env", "sh").add_env("OWN", "mine");
    assert_eq!(
        given(plain.clone(), &names).await,
        ["PATH=given", &format!("{held}="), "OWN=given"]
    );
    let passed = plain.clone().add_passed_env(held);
    assert_eq!(
        given(passed, &names).await,
        ["PATH=given", &format!("{held}=given"), "OWN=given"]
    );
    let whole = plain.with_whole_env(true);
    assert_eq!(
        given(whole, &names).await,
        ["PATH=given", &format!("{held}=given"), "OWN=given"]
    );
}

/// A URL that cannot work (no scheme) is quoted by its error: a token in
/// its path is scrubbed from it, as it is after a restart.
#[tokio::test]
async fn a_token_in_a_url_that_cannot_work_is_scrubbed_from_the_error() {
    let settings = McpOptions::http("web", "mcp.example.com/s/tok-0123456789/mcp");
    let error = McpServer::connect(settings).await.unwrap_err();
    assert!(matches!(error, McpError::Config { .. }), "{error:?}");
    let mut shown = format!("{error} {error:?}");
    let mut cause = std::error::Error::source(&error);
    while let Some(e) = cause {
        shown.push_str(&format!(" {e}"));
        cause = e.source();
    }
    assert!(!shown.contains("tok-0123456789"), "{shown}");
}

/// The fields of every event logged on the test's thread, at every
/// level, as text.
#[derive(Clone, Default)]
struct Logged(std::sync::Arc<std::sync::Mutex<String>>);

impl tracing::field::Visit for Logged {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let mut logged = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        logged.push_str(&format!("{}={value:?}\n", field.name()));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Logged {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        event.record(&mut self.clone());
    }
}

/// rmcp logs every notification it is handed, whole: a server's log line
/// holding its token never reaches it.
#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_servers_log_notification_never_reaches_the_log() {
    use tracing_subscriber::layer::SubscriberExt;
    let logged = Logged::default();
    let subscriber = tracing_subscriber::registry().with(logged.clone());
    let _default = tracing::subscriber::set_default(subscriber);
    let settings = raw_stdio("lies").add_env("KLIEO_MCP_SECRET", "sk-live-1357924680");
    let server = McpServer::connect(settings).await.unwrap();
    let out = server.invoke("logs", json!({}), ctx()).await;
    assert_eq!(out, Ok(json!("logged")));
    server.close().await;
    let text = logged.0.lock().unwrap().clone();
    assert!(!text.is_empty(), "the layer saw the connection");
    assert!(!text.contains("sk-live-1357924680"), "{text}");
}
