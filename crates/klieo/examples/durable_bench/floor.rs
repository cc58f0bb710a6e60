//! The floors the durable figures stand beside: the disk's fsync latency
//! in the store's directory, and pgbench's rate of single-row inserts on
//! the same server at the same number of clients.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// The median time to append 4 KiB to a file in `dir` and make it
/// durable (`fdatasync`), over `tries`.
pub(crate) fn fsync(dir: &Path, tries: usize) -> Duration {
    let path = dir.join("fsync.probe");
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap();
    let block = [7u8; 4096];
    let mut times: Vec<Duration> = (0..tries)
        .map(|_| {
            let t = Instant::now();
            file.write_all(&block).unwrap();
            file.sync_data().unwrap();
            t.elapsed()
        })
        .collect();
    let _ = std::fs::remove_file(path);
    times.sort_unstable();
    times[times.len() / 2]
}

/// `pgbench`'s transactions a second inserting one row each, with
/// `clients` clients for `seconds`, on the database at `url` (the same
/// server the store uses). `None` when pgbench is not installed.
pub(crate) fn pgbench_inserts(url: &str, clients: usize, seconds: u32) -> Option<f64> {
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|v| v.ok().map(|v| v.path().join("bin/pgbench")))
        .find(|p| p.is_file())?;
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("insert.sql");
    std::fs::write(&script, "INSERT INTO klieo_floor (v) VALUES (1);\n").unwrap();
    let psql = bin.with_file_name("psql");
    let made = Command::new(psql)
        .args([
            url,
            "-q",
            "-c",
            "CREATE TABLE IF NOT EXISTS klieo_floor (id BIGSERIAL PRIMARY KEY, v INT)",
        ])
        .status()
        .ok()?;
    assert!(made.success(), "psql made the floor's table");
    let out = Command::new(bin)
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &seconds.to_string(),
            "-f",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}
