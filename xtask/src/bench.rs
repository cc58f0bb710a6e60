//! `cargo xtask bench`: builds and runs the benchmark programs in release
//! mode; each prints one JSON object per workload. Last, a step's cost in
//! instructions is counted under callgrind and checked against its ceiling.

use crate::postgres::PostgresServer;
use crate::{cmd, Error};
use std::path::Path;

/// The benchmark programs: (package, example, features), each run with
/// `cargo run --release --example`.
const BENCHES: &[(&str, &str, &str)] = &[
    ("klieo-runtime", "bench", ""),
    ("klieo-runtime", "concurrent_bench", ""),
    ("klieo-openai", "stream_bench", ""),
    ("klieo-anthropic", "messages_stream_bench", ""),
    (
        "klieo",
        "durable_bench",
        "runtime,openai,sqlite,postgres,testing",
    ),
];

/// The catalog of runs and the console's pages: a bench target of
/// klieo-cli (`cargo bench`), which builds the `klieo` binary it serves
/// the pages with.
const CATALOG: &str = "catalog";

/// `cargo xtask bench`: every program; `cargo xtask bench instructions`:
/// only a step's instruction count; `cargo xtask bench NAME`: only the
/// program `NAME` (`durable_bench`, …; `catalog` for the catalog and
/// console bench).
pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), Error> {
    let (benches, catalog): (Vec<_>, bool) = match args {
        [] => (BENCHES.iter().collect(), true),
        [only] if only == "instructions" => return crate::step_cost::run(root),
        [only] if only == CATALOG => (Vec::new(), true),
        [only] if BENCHES.iter().any(|(_, example, _)| example == only) => (
            BENCHES
                .iter()
                .filter(|(_, example, _)| example == only)
                .collect(),
            false,
        ),
        other => {
            let names: Vec<&str> = BENCHES.iter().map(|(_, example, _)| *example).collect();
            return Err(Error::new(format!(
                "`cargo xtask bench` takes nothing, `instructions`, `{CATALOG}` or one of {}; got `{}`",
                names.join(", "),
                other.join(" ")
            )));
        }
    };
    for (package, example, features) in benches {
        println!("==> {package} --example {example}");
        let mut args = vec!["run", "--quiet", "--release", "-p", package];
        if !features.is_empty() {
            args.extend(["--features", features]);
        }
        args.extend(["--example", example]);
        let mut bench = cmd::cargo(root, &args);
        // The figures on PostgreSQL need a server.
        let server = match *example {
            "durable_bench" => Some(PostgresServer::start(root)?),
            _ => None,
        };
        if let Some(server) = &server {
            bench.env("KLIEO_POSTGRES_URL", &server.url);
        }
        cmd::run(&mut bench)?;
    }
    if catalog {
        println!("==> klieo-cli --bench {CATALOG}");
        let mut bench = cmd::cargo(
            root,
            &["bench", "--quiet", "-p", "klieo-cli", "--bench", CATALOG],
        );
        let server = PostgresServer::start(root)?;
        bench.env("KLIEO_POSTGRES_URL", &server.url);
        cmd::run(&mut bench)?;
    }
    if !args.is_empty() {
        return Ok(());
    }
    println!("==> klieo-runtime --example step_cost, under callgrind");
    crate::step_cost::run(root)
}
