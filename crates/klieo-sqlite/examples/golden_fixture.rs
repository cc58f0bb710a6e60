//! Writes the golden fixture of this schema version,
//! `tests/fixtures/schema-v{SCHEMA_VERSION}.db`, holding `tests/golden.rs`'s
//! thread and runs (written through the journal). It refuses to rewrite a
//! shipped fixture: a new schema version adds its own beside the older
//! ones.
#![allow(clippy::print_stdout)]

#[path = "../tests/golden.rs"]
mod golden;

use klieo_sqlite::{SqliteStore, SCHEMA_VERSION};
use klieo_types::{Commit, Episode, Journal};
use std::path::Path;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(golden::file(SCHEMA_VERSION));
    if path.exists() {
        return Err(format!(
            "{} exists: a shipped fixture is never rewritten",
            path.display()
        )
        .into());
    }
    let store = SqliteStore::open(&path).await?;
    let commit = Commit::new(golden::run(), golden::thread())
        .with_messages(golden::messages())
        .with_episodes(golden::episodes());
    store.commit(commit).await?;
    let waiting = Commit::new(golden::pending_run(), golden::thread())
        .with_episodes(vec![Episode::Started {
            agent: "mail".into(),
        }])
        .with_pending(golden::pending());
    store.commit(waiting).await?;
    // Closing the last connection checkpoints the WAL into the file.
    store.close().await;
    println!("wrote {}", path.display());
    Ok(())
}
