//! `cargo xtask bench`: builds and runs the benchmark programs in release
//! mode; each prints one JSON object per workload.

use crate::postgres::PostgresServer;
use crate::{cmd, Error};
use std::path::Path;

/// The benchmark programs: (package, example, features).
const BENCHES: &[(&str, &str, &str)] = &[
    ("klieo-runtime", "bench", ""),
    ("klieo-runtime", "concurrent_bench", ""),
    ("klieo-openai", "stream_bench", ""),
    ("klieo-anthropic", "messages_stream_bench", ""),
    ("klieo", "durable_bench", "runtime,sqlite,postgres,testing"),
];

pub(crate) fn run(root: &Path, _args: &[String]) -> Result<(), Error> {
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
    Ok(())
}
