//! What a server's settings keep out of texts and answers: credentials
//! by their parts, settings apart, and cuts made after the scrub.

use super::*;

fn http(url: &str, headers: &[(&str, &str)]) -> Secrets {
    Secrets::of(&Transport::Http {
        url: url.to_owned(),
        headers: headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    })
}

/// The secrets of a stdio server given `env`.
fn stdio(env: &[(&str, &str)]) -> Secrets {
    Secrets::of(&Transport::Stdio {
        command: "x".into(),
        args: Vec::new(),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        inherited: Default::default(),
        cwd: None,
    })
}

#[test]
fn a_url_with_a_user_is_scrubbed_by_its_parts() {
    let secrets = http(
        "http://user1:pass1@mcp.example.com/mcp?key=SECRET7&v=a%20b%2Bc",
        &[],
    );
    // reqwest writes the URL without its user part.
    let error =
        "error sending request for url (http://mcp.example.com/mcp?key=SECRET7&v=a%20b%2Bc)";
    let shown = secrets.scrub(error);
    assert!(!shown.contains("SECRET7"), "{shown}");
    assert!(!shown.contains("a%20b%2Bc"), "{shown}");
    assert!(shown.contains("http://mcp.example.com/mcp"), "{shown}");
    let configured = "at http://user1:pass1@mcp.example.com/mcp?key=SECRET7&v=a%20b%2Bc";
    let shown = secrets.scrub(configured);
    assert_eq!(shown, "at http://mcp.example.com/mcp");
    let parts = secrets.scrub("user1 said pass1; a b+c");
    assert_eq!(parts, "*** said ***; ***");
}

#[test]
fn an_answer_keeps_header_and_query_values_that_are_no_credentials() {
    let secrets = http(
        "http://h/mcp?format=json&sig=s1gnature-0123456789&t=9f2c4e6a8b0d1f3e5a7c&pwd=Sup3rS3cret",
        &[
            ("x-mcp-readonly", "true"),
            ("accept", "application/json, text/event-stream"),
            ("x-request-from", "a1b2c3d4e5f6a7b8c9d0"),
            ("x-upstream", "Bearer abcdefghijklmnopqrstuvwxyz"),
        ],
    );
    let answer = serde_json::json!({
        "draft": "true", "as": "json",
        "keys": "s1gnature-0123456789 9f2c4e6a8b0d1f3e5a7c a1b2c3d4e5f6a7b8c9d0",
        "more": "Sup3rS3cret abcdefghijklmnopqrstuvwxyz"
    });
    assert_eq!(
        secrets.scrub_value(answer),
        serde_json::json!({"draft": "true", "as": "json", "keys": "*** *** ***", "more": "*** ***"})
    );
    assert_eq!(secrets.scrub("said true, as json"), "said ***, as ***");
}

#[test]
fn header_values_and_their_tokens_are_scrubbed() {
    let secrets = http(
        "http://h/mcp",
        &[("authorization", "Bearer tok-123"), ("x-key", "k-456")],
    );
    assert_eq!(
        secrets.scrub("invalid token tok-123 (k-456)"),
        "invalid token *** (***)"
    );
}

#[test]
fn env_values_are_scrubbed_and_short_ones_left() {
    let secrets = stdio(&[("TOKEN", "sk-live-abc"), ("DEBUG", "1")]);
    assert_eq!(
        secrets.scrub("invalid key sk-live-abc at 1"),
        "invalid key *** at 1"
    );
}

#[test]
fn every_credential_in_an_answer_is_scrubbed_and_other_settings_kept() {
    let secrets = stdio(&[("TOKEN", "sk-live-abcdef"), ("ROOT", "/srv/docs")]);
    let mut secrets = secrets;
    secrets.add_named_values(&[
        (
            "DATABASE_URL".into(),
            "postgres://postgres:hunter22@db/prod?sslmode=require&api_key=k-123456&token=t%2B9876543".into(),
        ),
        ("GH_PAT".into(), "ghp_0123456789".into()),
        ("PATH".into(), "/usr/bin:/bin".into()),
    ]);
    let said = "postgres, sslmode=require, pw hunter22, api k-123456, pat ghp_0123456789, in /usr/bin:/bin, t%2B9876543 t+9876543";
    assert_eq!(
        secrets.scrub_value(serde_json::json!(said)),
        serde_json::json!(
            "postgres, sslmode=require, pw ***, api ***, pat ***, in /usr/bin:/bin, *** ***"
        ),
        "a URL's password and keyed values go, a key by its name too; its user, \
         other parameters and a path stay"
    );
    let answer = serde_json::json!({
        "env": {"TOKEN": "sk-live-abcdef", "n": 4},
        "lines": ["key=sk-live-abcdef;", true],
        "sk-live-abcdef": null,
        "file": "/srv/docs/a.md",
    });
    let scrubbed = secrets.scrub_value(answer);
    assert_eq!(
        scrubbed,
        serde_json::json!({
            "env": {"TOKEN": "***", "n": 4},
            "lines": ["key=***;", true],
            "***": null,
            "file": "/srv/docs/a.md",
        })
    );
    // A text the server built (an error, its stderr) keeps neither.
    assert_eq!(
        secrets.scrub("no /srv/docs/b.md with sk-live-abcdef"),
        "no ***/b.md with ***"
    );
}

#[test]
fn shown_scrubs_before_it_cuts() {
    let secrets = stdio(&[("TOKEN", "sk-live-abcdef")]);
    let shown = secrets.shown("key sk-live-abcdef", 8);
    assert_eq!(shown, "key ***");
    assert_eq!(secrets.shown(&"x".repeat(10), 4), "xxxx…");
}

#[test]
fn the_start_of_a_long_line_keeps_no_part_of_a_secret_across_its_cut() {
    let token = format!("tok-{}", "x".repeat(1_000));
    let secrets = stdio(&[("TOKEN", token.as_str())]);
    let line = format!("{}{token} and more", "é".repeat(150));
    let shown = secrets.shown_start(line.as_bytes(), 200);
    assert!(!shown.contains("tok-"), "{shown}");
    assert!(
        shown.ends_with("***…") || shown.ends_with("*** and more"),
        "{shown}"
    );
}

#[test]
fn a_secret_said_again_and_again_keeps_no_part_in_the_start_of_a_line() {
    let key = "k3y-0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab";
    let secrets = stdio(&[("API_KEY", key)]);
    let line = format!("{}{}", "p".repeat(52), format!("{key} ").repeat(40));
    let shown = secrets.shown_start(line.as_bytes(), 200);
    assert!(!shown.contains("k3y-"), "{shown}");
    assert!(!shown.contains("0123456789"), "{shown}");
}

#[test]
fn credentials_on_the_command_line_are_scrubbed() {
    let args = [
        "-y",
        "@modelcontextprotocol/server-postgres",
        "postgresql://app:pw-0123456789@db/prod",
        "--api-key=key-0123456789",
        "--token",
        "tok-0123456789",
        "--verbose",
        "data-directory",
        "--auth-mode",
        "oauth",
    ];
    let secrets = Secrets::of(&Transport::Stdio {
        command: "npx".into(),
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: Vec::new(),
        inherited: Default::default(),
        cwd: None,
    });
    let said = "cannot reach postgresql://app:pw-0123456789@db/prod with key-0123456789 or \
                tok-0123456789 in data-directory";
    let shown = secrets.scrub(said);
    for secret in ["pw-0123456789", "key-0123456789", "tok-0123456789"] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert!(shown.contains("data-directory"), "no credential: {shown}");
    let mode = secrets.scrub_value(serde_json::json!("uses oauth"));
    assert_eq!(
        mode,
        serde_json::json!("uses oauth"),
        "a mode, not a secret"
    );
    let answer = secrets.scrub_value(serde_json::json!(said));
    assert!(!answer.to_string().contains("pw-0123456789"), "{answer}");
}

#[test]
fn credentials_are_known_by_their_names() {
    for name in [
        "MYSQL_PWD",
        "APP_CREDS",
        "GCP_CREDENTIALS",
        "SERVICE_JWT",
        "BEARER",
    ] {
        assert!(names_a_credential(name), "{name}");
    }
    for name in ["PWD", "PATH", "HOME", "LANG"] {
        assert!(!names_a_credential(name), "{name}");
    }
}

#[test]
fn a_setting_whose_name_only_holds_a_credential_word_stays_in_a_tool_answer() {
    for name in ["GIT_AUTHOR_NAME", "KEYBOARD_LAYOUT"] {
        assert!(!names_a_credential(name), "{name}");
    }
    for name in [
        "APIKEY",
        "PGPASSWORD",
        "AWS_SECRET_ACCESS_KEY",
        "AUTH_HEADER",
        "API_KEY2",
        "JSESSIONID",
        "apiKeyValue",
        "DISCORD_WEBHOOKURL",
    ] {
        assert!(names_a_credential(name), "{name}");
    }
    let env = [
        ("MAX_TOKENS", "4096"),
        ("AUTH_ENABLED", "true"),
        ("GIT_AUTHOR_NAME", "Jane Doe"),
        ("API_TOKEN", "tok-0123456789"),
        ("REDIS_PASSWORD", "123456"),
    ];
    let secrets = Secrets::of(&Transport::Stdio {
        command: "x".into(),
        args: Vec::new(),
        env: env
            .iter()
            .map(|(n, v)| ((*n).into(), (*v).into()))
            .collect(),
        inherited: Default::default(),
        cwd: None,
    });
    let answer = "read 40960 bytes; auth is true; by Jane Doe";
    assert_eq!(
        secrets.scrub_value(serde_json::json!(answer)),
        serde_json::json!(answer)
    );
    let leaked = secrets.scrub_value(serde_json::json!("tok-0123456789"));
    assert_eq!(leaked, serde_json::json!("***"));
    let pin = secrets.scrub_value(serde_json::json!("the password is 123456"));
    assert_eq!(
        pin,
        serde_json::json!("the password is ***"),
        "a number named a password"
    );
}
