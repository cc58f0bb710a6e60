//! Tidy checks on the source tree, run by `cargo test`: each collects every miss before failing.

use std::fs;
use std::path::{Path, PathBuf};

use crate::project_root;

/// A bound on the size of one source file: past it, split the file (house
/// style asks for ~400 lines; this leaves room for a file's tests).
const MAX_LINES: usize = 450;

#[test]
fn every_source_file_opens_with_a_doc_line() {
    let root = project_root();
    let mut misses = Vec::new();
    for dir in ["crates", "xtask"] {
        for file in rust_files(&root.join(dir)) {
            if !read(&file).starts_with("//!") {
                misses.push(relative(&root, &file));
            }
        }
    }
    assert!(
        misses.is_empty(),
        "these files do not open with a `//!` line saying what they hold \
         (no blank line or attribute before it):\n    {}",
        misses.join("\n    ")
    );
}

#[test]
fn every_library_denies_missing_docs() {
    let root = project_root();
    let mut misses = Vec::new();
    for krate in subdirectories(&root.join("crates")) {
        let lib = krate.join("src").join("lib.rs");
        if lib.is_file() && !read(&lib).contains("#![deny(missing_docs)]") {
            misses.push(relative(&root, &lib));
        }
    }
    assert!(
        misses.is_empty(),
        "add `#![deny(missing_docs)]` after the crate docs of:\n    {}",
        misses.join("\n    ")
    );
}

#[test]
fn no_source_file_is_too_long() {
    let root = project_root();
    let mut misses = Vec::new();
    let files = ["crates", "xtask"]
        .into_iter()
        .flat_map(|dir| rust_files(&root.join(dir)));
    for file in files {
        let lines = read(&file).lines().count();
        if lines > MAX_LINES {
            misses.push(format!("{} ({lines} lines)", relative(&root, &file)));
        }
    }
    assert!(
        misses.is_empty(),
        "these files are longer than {MAX_LINES} lines; split each into modules \
         by what its parts do:\n    {}",
        misses.join("\n    ")
    );
}

/// Every `.rs` file under `dir`, skipping `target/` and hidden directories, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in entries(&dir) {
            let name = entry.file_name().map(|n| n.to_string_lossy().into_owned());
            let name = name.unwrap_or_default();
            if entry.is_dir() {
                if name != "target" && !name.starts_with('.') {
                    pending.push(entry);
                }
            } else if name.ends_with(".rs") {
                files.push(entry);
            }
        }
    }
    files.sort();
    files
}

fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = entries(dir).into_iter().filter(|p| p.is_dir()).collect();
    dirs.sort();
    dirs
}

/// The paths in `dir`; none if it does not exist yet.
fn entries(dir: &Path) -> Vec<PathBuf> {
    // A directory that cannot be read fails the check: an empty listing
    // would let every check pass with nothing checked.
    fs::read_dir(dir)
        .unwrap_or_else(|err| unreadable(dir, &err))
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .unwrap_or_else(|err| unreadable(dir, &err))
}

fn read(file: &Path) -> String {
    fs::read_to_string(file).unwrap_or_else(|err| unreadable(file, &err))
}

#[allow(
    clippy::panic,
    reason = "a tidy test that cannot read the tree fails, saying where"
)]
fn unreadable<T>(path: &Path, err: &std::io::Error) -> T {
    panic!("cannot read {}: {err}", path.display())
}

fn relative(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string()
}
