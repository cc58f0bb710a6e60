//! Golden files: what a test produced, compared with what was committed.
//! `KLIEO_UPDATE_GOLDEN=1` writes the files anew instead (then review the
//! diff before committing it).

use serde_json::Value;
use std::path::PathBuf;

/// Checks `got` against `tests/golden/{name}.json`.
pub(crate) fn check(name: &str, got: &Value) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    let text = serde_json::to_string_pretty(got).unwrap() + "\n";
    if std::env::var("KLIEO_UPDATE_GOLDEN").is_ok_and(|v| v == "1") {
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; run with KLIEO_UPDATE_GOLDEN=1 to write it",
            path.display()
        )
    });
    let want: Value = serde_json::from_str(&want).unwrap();
    assert!(
        *got == want,
        "the spans differ from {}; if the change is meant, run with KLIEO_UPDATE_GOLDEN=1 \
         and review the diff.\ngot:\n{text}",
        path.display()
    );
}
