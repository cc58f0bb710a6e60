//! Writes the golden fixture of this schema version,
//! `tests/fixtures/schema-v{SCHEMA_VERSION}.db`, holding
//! `klieo_store::testing::golden`'s thread and runs (written through the
//! journal). It refuses to rewrite a
//! shipped fixture: a new schema version adds its own beside the older
//! ones.
#![allow(clippy::print_stdout)]

use klieo_sqlite::{SqliteStore, SCHEMA_VERSION};
use klieo_store::testing::golden;
use std::path::Path;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("schema-v{SCHEMA_VERSION}.db"));
    if path.exists() {
        return Err(format!(
            "{} exists: a shipped fixture is never rewritten",
            path.display()
        )
        .into());
    }
    let store = SqliteStore::open(&path).await?;
    golden::write(&store).await?;
    // Closing the last connection checkpoints the WAL into the file.
    store.close().await;
    println!("wrote {}", path.display());
    Ok(())
}
