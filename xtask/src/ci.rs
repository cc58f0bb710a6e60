//! `cargo xtask ci`: every check CI runs, in order, stopping at the first failing step.
//!
//! To add a step, write a function from the workspace root to `Result<(), Error>`
//! and add a row to [`STEPS`].

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::llama_server::LlamaServer;
use crate::mcp::{McpServers, CONFORMANCE_SCENARIOS};
use crate::metadata::{target_dir, Graph};
use crate::model_server::{ModelServer, Needs};
use crate::postgres::PostgresServer;
use crate::{cmd, disk, layering, Error};

/// One step of CI: its name, what to do when it fails, and what it runs.
struct Step {
    name: &'static str,
    fix: &'static str,
    run: fn(&Path) -> Result<(), Error>,
}

const STEPS: &[Step] = &[
    Step {
        name: "format",
        fix: "run `cargo fmt --all` and commit the result",
        run: |root| cargo(root, "fmt --all --check"),
    },
    Step {
        name: "layering",
        fix: "change what each line above names; the layers are the table in xtask/src/layering.rs",
        run: layering,
    },
    Step {
        name: "clippy",
        fix: "fix each warning clippy printed above; \
              `cargo clippy --workspace --all-targets --all-features` shows them again",
        run: |root| {
            cargo(
                root,
                "clippy --locked --workspace --all-targets --all-features -- -D warnings",
            )
        },
    },
    Step {
        name: "tests",
        fix: "fix the failing tests named above; `cargo test -p <crate> <test name>` reruns one",
        run: |root| cargo(root, "test --locked --workspace --all-features"),
    },
    Step {
        name: "docs",
        fix: "fix the rustdoc warnings above (broken links, missing docs, bad code blocks)",
        run: |root| {
            let mut doc = cmd::cargo(
                root,
                &[
                    "doc",
                    "--locked",
                    "--workspace",
                    "--no-deps",
                    "--all-features",
                ],
            );
            cmd::run(doc.env("RUSTDOCFLAGS", "-D warnings"))
        },
    },
    Step {
        name: "each feature alone",
        fix: "make each listed crate build with only that feature: gate code behind \
              #[cfg(feature = \"...\")], or have the feature enable what it needs in Cargo.toml",
        run: features,
    },
    Step {
        name: "mcp",
        fix: "read the failing test or conformance check above; `cargo xtask ci` installs the \
              servers under target/klieo-mcp (delete it to reinstall)",
        run: mcp,
    },
    Step {
        name: "console",
        fix: "read the failing check above (the browser's script prints each); the pages it \
              saw are in target/console-screenshots (failed.png for the last)",
        run: console,
    },
    Step {
        name: "postgres",
        fix: "read the failing test above; the server's log is target/klieo-postgres/server.log",
        run: postgres,
    },
    Step {
        name: "end-to-end",
        fix: "read the failing test above; the model server's log is target/klieo-model/server.log",
        run: end_to_end,
    },
    Step {
        name: "llama-server",
        fix: "read the failing test above; the servers' logs are \
             target/klieo-llama-server/server-4096.log and server-1024.log",
        run: llama_server,
    },
    Step {
        name: "cargo-deny",
        fix: "replace or remove the dependencies cargo-deny names above; change deny.toml \
              only if the licence or source is really acceptable",
        run: deny,
    },
];

/// Runs every step from `root`, printing each one's name and time, then a summary.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), Error> {
    if !args.is_empty() {
        return Err(Error::new(format!(
            "`cargo xtask ci` takes no arguments, got `{}`",
            args.join(" ")
        )));
    }
    // Advice only: a failing `cargo metadata` is the layering step's to report.
    let target = target_dir(root).unwrap_or_else(|_| root.join("target"));
    let warned = disk::start_warning(&target);
    if let Some(warning) = &warned {
        println!("{warning}");
    }
    let mut times = Vec::new();
    for (i, step) in STEPS.iter().enumerate() {
        let label = format!("[{}/{}] {}", i + 1, STEPS.len(), step.name);
        println!("==> {label}");
        let start = Instant::now();
        let result = (step.run)(root);
        let took = start.elapsed();
        times.push((step.name, took));
        if let Err(err) = result {
            println!("    FAILED ({})", seconds(took));
            summary(&times, "failed");
            let err = err.context(&label).or_fix(step.fix);
            // Measured now, after the step's servers freed their files, or
            // at the start.
            let short = disk::failure_note(&target).or(warned.map(|_| disk::SHORT_AT_START.into()));
            return Err(match short {
                Some(note) => err.first_fix(note),
                None => err,
            });
        }
        println!("    ok ({})", seconds(took));
    }
    summary(&times, "passed");
    Ok(())
}

fn summary(times: &[(&str, Duration)], outcome: &str) {
    let width = STEPS.iter().map(|s| s.name.len()).max().unwrap_or(0);
    println!("==> summary: ci {outcome}");
    for (name, took) in times {
        println!("    {name:<width$}  {:>8}", seconds(*took));
    }
    let total: Duration = times.iter().map(|(_, took)| *took).sum();
    println!("    {:<width$}  {:>8}", "total", seconds(total));
}

fn seconds(took: Duration) -> String {
    format!("{:.1}s", took.as_secs_f64())
}

/// Runs `cargo` with `args`, a command line whose words never contain spaces.
fn cargo(root: &Path, args: &str) -> Result<(), Error> {
    let args: Vec<&str> = args.split_whitespace().collect();
    cmd::run(&mut cmd::cargo(root, &args))
}

/// Runs the facade's end-to-end tests against the local model server,
/// which is stopped afterwards whatever happened.
fn end_to_end(root: &Path) -> Result<(), Error> {
    const E2E: &[&str] = &[
        "test",
        "--locked",
        "-p",
        "klieo",
        "--features",
        "openai,mcp",
        "--test",
        "e2e",
    ];
    // Built before the server starts, so the server does not wait on rustc.
    cmd::run(cmd::cargo(root, E2E).arg("--no-run"))?;
    let mcp = McpServers::install(root)?;
    let mut server = ModelServer::start(root, Needs::ChatAndEmbeddings)?;
    let mut test = cmd::cargo(root, E2E);
    mcp.env(&mut test);
    // One at a time: llama-cpp-python serves one request at a time, and under
    // concurrent ones it sometimes ends a stream early.
    test.args(["--", "--ignored", "--test-threads=1"]);
    test.env("OPENAI_BASE_URL", &server.base_url)
        .env("OPENAI_MODEL", "SmolLM2-135M-Instruct")
        .env_remove("OPENAI_API_KEY");
    println!("    {}", cmd::show(&test));
    server.run_client(&mut test)
}

/// The facade's runs against llama.cpp's own server (Anthropic's Messages
/// API and OpenAI's chat completions, typed output, the refund desk), built
/// and started for them and stopped on every exit path.
fn llama_server(root: &Path) -> Result<(), Error> {
    const TESTS: &[&str] = &[
        "test",
        "--locked",
        "-p",
        "klieo",
        "--features",
        "openai,anthropic,sqlite,testing",
        "--test",
        "llama_server",
    ];
    cmd::run(cmd::cargo(root, TESTS).arg("--no-run"))?;
    let server = LlamaServer::start(root, 4_096)?;
    // A deliberately small window, for the long conversations.
    let small = LlamaServer::start(root, 1_024)?;
    let mut test = cmd::cargo(root, TESTS);
    // One at a time: the server answers one request at a time.
    test.args(["--", "--ignored", "--test-threads=1"])
        .env("KLIEO_LLAMA_SERVER_URL", &server.base)
        .env("KLIEO_LLAMA_SERVER_SMALL_URL", &small.base);
    println!("    {}", cmd::show(&test));
    cmd::run(&mut test)
}

/// klieo-mcp against real MCP servers (each test starts and stops its
/// own), then the official conformance suite's client scenarios against
/// klieo-mcp's conformance client.
fn mcp(root: &Path) -> Result<(), Error> {
    const TESTS: &[&str] = &["test", "--locked", "-p", "klieo-mcp", "--test", "main"];
    const CLIENT: &[&str] = &[
        "build",
        "--locked",
        "-p",
        "klieo-mcp",
        "--example",
        "conformance_client",
    ];
    cmd::run(cmd::cargo(root, TESTS).arg("--no-run"))?;
    cmd::run(&mut cmd::cargo(root, CLIENT))?;
    let servers = McpServers::install(root)?;
    let mut test = cmd::cargo(root, TESTS);
    test.args(["--", "--ignored"]);
    servers.env(&mut test);
    println!("    {}", cmd::show(&test));
    cmd::run(&mut test)?;
    let client = target_dir(root)?.join("debug/examples/conformance_client");
    let results = root.join("target/klieo-mcp/conformance");
    for scenario in CONFORMANCE_SCENARIOS {
        let mut suite = Command::new(&servers.node);
        suite
            .arg(&servers.conformance)
            .args(["client", "--command"])
            .arg(&client)
            .args(["--scenario", scenario, "--timeout", "60000", "--output-dir"])
            .arg(&results);
        println!("    {}", cmd::show(&suite));
        cmd::run(&mut suite)?;
    }
    Ok(())
}

/// `cargo test` of the facade's integration test `name`, every feature on.
const fn facade_test(name: &str) -> [&str; 7] {
    [
        "test",
        "--locked",
        "-p",
        "klieo",
        "--all-features",
        "--test",
        name,
    ]
}

/// The tests that need a PostgreSQL server, against one started for them
/// (and stopped on every exit path).
/// The console in Chromium, driven by Playwright: a person's path through
/// it (`crates/klieo-cli/tests/console/browser.rs`); screenshots of each
/// page land in `target/console-screenshots/`.
fn console(root: &Path) -> Result<(), Error> {
    const TESTS: &[&str] = &["test", "--locked", "-p", "klieo-cli", "--test", "console"];
    cmd::run(cmd::cargo(root, TESTS).arg("--no-run"))?;
    let browser = crate::browser::Browser::install(root)?;
    let mut test = cmd::cargo(root, TESTS);
    browser.env(&mut test);
    test.args(["--", "--ignored", "--nocapture"]);
    cmd::run(&mut test)
}

fn postgres(root: &Path) -> Result<(), Error> {
    const STORE: &[&str] = &["test", "--locked", "-p", "klieo-postgres", "--test", "main"];
    const CRASH: &[&str] = &facade_test("crash");
    const WORKERS: &[&str] = &facade_test("workers");
    const KEY_BUDGETS: &[&str] = &facade_test("key_budgets");
    const CLI: &[&str] = &["test", "--locked", "-p", "klieo-cli", "--test", "cli"];
    // Built before the server starts.
    for tests in [STORE, CRASH, WORKERS, KEY_BUDGETS, CLI] {
        cmd::run(cmd::cargo(root, tests).arg("--no-run"))?;
    }
    let server = PostgresServer::start(root)?;
    // Without the suites' child processes, run only by their tests.
    let runs: [(&[&str], &[&str]); 5] = [
        (STORE, &["--ignored"]),
        (CLI, &["--ignored"]),
        (CRASH, &["--ignored", "--skip", "crash_child"]),
        (
            WORKERS,
            &["--ignored", "--skip", "worker_child", "--test-threads=1"],
        ),
        (KEY_BUDGETS, &["--ignored", "--skip", "budget_worker_child"]),
    ];
    for (tests, filter) in runs {
        let mut test = cmd::cargo(root, tests);
        test.arg("--")
            .args(filter)
            .env("KLIEO_POSTGRES_URL", &server.url)
            .env("KLIEO_POSTGRES_CA", &server.certs.ca)
            .env("KLIEO_POSTGRES_OTHER_CA", &server.certs.other_ca);
        println!("    {}", cmd::show(&test));
        cmd::run(&mut test)?;
    }
    Ok(())
}

/// Checks the workspace's dependency graph against the layering rules, reporting every violation.
fn layering(root: &Path) -> Result<(), Error> {
    let graph = Graph::load(root)?;
    let violations = layering::check(&graph, &layering::RULES);
    if violations.is_empty() {
        return Ok(());
    }
    for violation in &violations {
        println!("    {violation}");
    }
    Err(Error::new(format!(
        "{} layering violation(s), listed above",
        violations.len()
    )))
}

/// Builds each klieo crate with default features off, then with each declared feature alone.
fn features(root: &Path) -> Result<(), Error> {
    let graph = Graph::load(root)?;
    let mut failed = Vec::new();
    for (_, package) in graph.members().filter(|(_, p)| layering::is_klieo(&p.name)) {
        let alone = package.features.iter().filter(|f| *f != "default");
        for feature in std::iter::once(None).chain(alone.map(Some)) {
            let mut check = cmd::cargo(root, &["check", "--locked", "-p", &package.name]);
            check.arg("--no-default-features");
            if let Some(feature) = feature {
                check.args(["--features", feature]);
            }
            println!("    {}", cmd::show(&check));
            if cmd::run(&mut check).is_err() {
                failed.push(cmd::show(&check));
            }
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(Error::new(format!(
        "{} build(s) failed:\n        {}",
        failed.len(),
        failed.join("\n        ")
    )))
}

/// The cargo-deny release CI uses: pinned, so a newer release that needs a
/// newer toolchain than `rust-toolchain.toml`'s cannot break CI.
const CARGO_DENY_VERSION: &str = "0.20.2";

/// Runs cargo-deny's bans, licences and sources checks, installing cargo-deny if it is missing.
fn deny(root: &Path) -> Result<(), Error> {
    if !root.join("deny.toml").is_file() {
        return Err(
            Error::new("there is no deny.toml at the workspace root").or_fix(
                "add deny.toml with the licences, bans and sources klieo allows \
             (`cargo deny init` writes a starting point)",
            ),
        );
    }
    let installed = cmd::stdout(&mut cmd::cargo(root, &["deny", "--version"])).ok();
    // `cargo-deny 0.20.2`: the version word itself (0.20.20 is another).
    let version = installed
        .as_deref()
        .and_then(|v| v.split_whitespace().nth(1));
    if version != Some(CARGO_DENY_VERSION) {
        let install = format!("install --locked cargo-deny@{CARGO_DENY_VERSION}");
        println!(
            "    cargo-deny {CARGO_DENY_VERSION} is not installed; installing it with \
             `cargo {install}` (this takes a few minutes)"
        );
        cargo(root, &install)
            .map_err(|err| err.or_fix(format!("install it yourself: `cargo {install}`")))?;
    }
    println!(
        "    skipped `cargo deny check advisories`: it needs the RustSec advisory database \
         from GitHub, which CI machines cannot reach (run it where GitHub can be reached)"
    );
    cargo(root, "deny check bans licenses sources")
}
