//! `cargo xtask bench`: builds and runs the benchmark programs in release
//! mode; each prints one JSON object per workload.

use crate::{cmd, Error};
use std::path::Path;

/// The benchmark programs: (package, example).
const BENCHES: &[(&str, &str)] = &[
    ("klieo-runtime", "bench"),
    ("klieo-runtime", "concurrent_bench"),
    ("klieo-openai", "stream_bench"),
];

pub(crate) fn run(root: &Path, _args: &[String]) -> Result<(), Error> {
    for (package, example) in BENCHES {
        println!("==> {package} --example {example}");
        cmd::run(&mut cmd::cargo(
            root,
            &[
                "run",
                "--quiet",
                "--release",
                "-p",
                package,
                "--example",
                example,
            ],
        ))?;
    }
    Ok(())
}
