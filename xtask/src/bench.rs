//! `cargo xtask bench`: builds and runs the benchmark programs in release
//! mode; each prints one JSON object per workload. Last, a step's cost in
//! instructions is counted under callgrind and checked against its ceiling.

use crate::postgres::PostgresServer;
use crate::{cmd, Error};
use std::path::Path;

/// The benchmark programs: (package, example, features).
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

/// `cargo xtask bench`: every program; `cargo xtask bench instructions`:
/// only a step's instruction count.
pub(crate) fn run(root: &Path, args: &[String]) -> Result<(), Error> {
    match args {
        [] => {}
        [only] if only == "instructions" => return crate::step_cost::run(root),
        other => {
            return Err(Error::new(format!(
                "`cargo xtask bench` takes nothing or `instructions`, got `{}`",
                other.join(" ")
            )))
        }
    }
    for (package, example, features) in BENCHES {
        println!("==> {package} --example {example}");
        let mut args = vec!["run", "--quiet", "--release", "-p", package];
        if !features.is_empty() {
            args.extend(["--features", features]);
        }
        args.extend(["--example", example]);
        let mut bench = cmd::cargo(root, &args);
        // The durable-run figures on PostgreSQL need a server.
        let server = match *example {
            "durable_bench" => Some(PostgresServer::start(root)?),
            _ => None,
        };
        if let Some(server) = &server {
            bench.env("KLIEO_POSTGRES_URL", &server.url);
        }
        cmd::run(&mut bench)?;
    }
    println!("==> klieo-runtime --example step_cost, under callgrind");
    crate::step_cost::run(root)
}
