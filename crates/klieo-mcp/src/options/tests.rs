//! What `McpOptions` shows, refuses and keeps apart.

use super::*;
use klieo_types::ConfigError;
use std::time::Duration;

#[test]
fn debug_shows_no_secret_of_either_transport() {
    let stdio = McpOptions::stdio("gh", "gh-mcp").add_env("GITHUB_TOKEN", "ghp_secret1");
    let http = McpOptions::http("t", "https://user:pw@mcp.example.com/mcp?key=secret2")
        .with_bearer_token("secret3")
        .add_header("x-api-key", "secret4");
    let shown = format!("{stdio:?} {http:?}");
    for secret in ["ghp_secret1", "pw", "secret2", "secret3", "secret4"] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    assert!(shown.contains("GITHUB_TOKEN") && shown.contains("x-api-key"));
    let with_token = McpOptions::stdio("s", "run").with_args(["--token=secret5"]);
    assert!(
        !format!("{with_token:?}").contains("secret5"),
        "args are counted only"
    );
}

#[test]
fn transport_errors_lose_the_url_credentials() {
    let http = McpOptions::http("t", "https://user:pw@mcp.example.com/mcp?key=secret6");
    let error = "error sending request for url (https://user:pw@mcp.example.com/mcp?key=secret6)";
    let scrubbed = http.scrub(error);
    assert!(
        !scrubbed.contains("secret6") && !scrubbed.contains("pw@"),
        "{scrubbed}"
    );
    assert!(
        scrubbed.contains("https://mcp.example.com/mcp"),
        "{scrubbed}"
    );
}

#[test]
fn transport_errors_written_without_the_user_lose_the_query() {
    let http = McpOptions::http("t", "http://user:pass@host.example/mcp?key=SECRET8");
    let error = "error sending request for url (http://host.example/mcp?key=SECRET8)";
    let scrubbed = http.scrub(error);
    assert!(!scrubbed.contains("SECRET8"), "{scrubbed}");
}

#[test]
fn a_second_bearer_token_replaces_the_first() {
    let http = McpOptions::http("t", "http://127.0.0.1/mcp")
        .add_header("Authorization", "Basic old")
        .with_bearer_token("one")
        .with_bearer_token("two");
    let bearer = [("authorization".to_owned(), "Bearer two".to_owned())];
    assert!(
        matches!(&http.transport, Transport::Http { headers, .. } if headers[..] == bearer),
        "one Authorization header, the last token's"
    );
}

#[test]
fn an_empty_name_is_refused() {
    let refused = McpOptions::stdio(" ", "run").validate();
    assert!(
        matches!(&refused, Err(ConfigError::Invalid { name, .. }) if name == "McpOptions name"),
        "{refused:?}"
    );
}

#[test]
fn a_zero_connect_timeout_is_refused() {
    let refused = McpOptions::stdio("s", "run")
        .with_connect_timeout(Duration::ZERO)
        .validate();
    assert!(
        matches!(&refused, Err(ConfigError::Invalid { name, .. }) if name == "McpOptions::connect_timeout"),
        "{refused:?}"
    );
}

#[test]
fn transport_setters_leave_the_other_transport_alone() {
    let http = McpOptions::http("t", "http://127.0.0.1/mcp").with_args(["x"]);
    let stdio = McpOptions::stdio("s", "cmd").add_header("a", "b");
    assert!(matches!(http.transport, Transport::Http { ref headers, .. } if headers.is_empty()));
    assert!(matches!(stdio.transport, Transport::Stdio { ref args, .. } if args.is_empty()));
    assert_eq!(stdio.prefix(), "s_");
    assert_eq!(stdio.with_prefix("mine.").prefix(), "mine.");
}

#[test]
fn a_prefix_is_one_a_model_takes() {
    assert_eq!(McpOptions::stdio("fs.local", "run").prefix(), "fs_local_");
    let refused = McpOptions::stdio("s", "run").with_prefix("my.").validate();
    assert!(
        matches!(&refused, Err(ConfigError::Invalid { name, reason, .. })
            if name == "McpOptions::with_prefix" && reason.contains("`.`")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn a_command_that_cannot_start_is_named_without_its_secrets() {
    let settings =
        McpOptions::stdio("s", "/nonexistent/tok-SECRET-0451/server").add_secret("tok-SECRET-0451");
    let error = crate::McpServer::connect(settings)
        .await
        .expect_err("there is no such command");
    let shown = format!("{error}");
    assert!(matches!(error, crate::McpError::Spawn { .. }), "{error:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
    assert!(shown.contains("/nonexistent/***/server"), "{shown}");
}
