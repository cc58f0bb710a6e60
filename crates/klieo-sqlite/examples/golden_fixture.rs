//! Writes the golden fixture `tests/fixtures/schema-v1.db`: a database of
//! schema version 1 holding `tests/golden.rs`'s thread and run. It refuses
//! to rewrite a shipped fixture; a new schema version adds its own fixture
//! (and golden module) beside the older ones.
#![allow(clippy::print_stdout)]

#[path = "../tests/golden.rs"]
mod golden;

use klieo_sqlite::{SqliteStore, SCHEMA_VERSION};
use klieo_types::{EpisodicMemory, ShortTermMemory};
use std::path::Path;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(golden::FILE);
    if SCHEMA_VERSION != 1 {
        return Err(
            "this writes the version-1 fixture: add a golden module for the new version".into(),
        );
    }
    if path.exists() {
        return Err(format!(
            "{} exists: a shipped fixture is never rewritten",
            path.display()
        )
        .into());
    }
    let store = SqliteStore::open(&path).await?;
    store.append(&golden::thread(), golden::messages()).await?;
    for episode in golden::episodes() {
        store.record(golden::run(), episode).await?;
    }
    // Closing the last connection checkpoints the WAL into the file.
    store.close().await;
    println!("wrote {}", path.display());
    Ok(())
}
