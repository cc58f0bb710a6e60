//! Room on the disk: a fresh `cargo xtask ci` writes about 8 GiB under
//! `target/` (3.4 GiB of it rustc's incremental caches) and PostgreSQL's
//! files under the temporary directory. A disk that fills half way fails
//! whichever step wrote last, with that step's words (a server's "No space
//! left on device"), so CI says how much room there is before it starts,
//! and names a nearly full disk beside a failing step.

use std::path::Path;
use std::process::{Command, Stdio};

const GIB: u64 = 1024 * 1024 * 1024;

/// Below this much free room at the start, CI warns: a fresh run's build,
/// servers and databases, with room to spare (measured: 8.0 GiB under
/// `target/` after a fresh run on 2026-12-06).
pub(crate) const CI_NEEDS: u64 = 12 * GIB;

/// Below this much free room after a failing step, CI says the disk may be
/// why it failed.
const NEARLY_FULL: u64 = GIB;

/// What a failing step's fix says first when the disk was short of room
/// as CI started (its servers may have freed their files since).
pub(crate) const SHORT_AT_START: &str =
    "the disk was short of room when CI started (see the warning at the top), which may be \
     why this failed: free some room and run again";

/// The free bytes of the file system holding `path`, as `df` reports them
/// for an unprivileged user; `None` when `df` cannot say.
/// A path not made yet (a fresh clone's `target/`) is asked about through
/// its nearest existing parent.
pub(crate) fn free_bytes(path: &Path) -> Option<u64> {
    let existing = path.ancestors().find(|p| p.exists())?;
    let output = Command::new("df")
        .arg("-Pk")
        .arg(existing)
        .stderr(Stdio::null())
        .output()
        .ok()?;
    parse_df(&String::from_utf8_lossy(&output.stdout))
}

/// The "Available" column of `df -Pk`'s one row, in bytes: the number
/// before the capacity (`67%`), so that a device or mount name with
/// spaces does not move it.
fn parse_df(text: &str) -> Option<u64> {
    let row = text.lines().nth(1)?;
    let fields: Vec<&str> = row.split_whitespace().collect();
    let capacity = fields
        .iter()
        .position(|f| f.strip_suffix('%').is_some_and(|n| n.parse::<u8>().is_ok()))?;
    let kib: u64 = fields.get(capacity.checked_sub(1)?)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// A warning for the start of CI when the disks holding `target` and the
/// temporary directory have less than [`CI_NEEDS`] free, naming the room left.
pub(crate) fn start_warning(target: &Path) -> Option<String> {
    let (path, free) = tightest(target)?;
    (free < CI_NEEDS).then(|| {
        format!(
            "warning: only {} free on the disk holding {}; a fresh `cargo xtask ci` \
             writes about 8 GiB. Free some room (an old clone's target/, `cargo clean`) \
             or steps may fail with \"No space left on device\"",
            gib(free),
            path.display()
        )
    })
}

/// What to add to a failing step's fix when a disk is nearly full.
pub(crate) fn failure_note(target: &Path) -> Option<String> {
    let (path, free) = tightest(target)?;
    (free < NEARLY_FULL).then(|| {
        format!(
            "the disk holding {} has only {} free, which may be why this failed: \
             free some room and run again",
            path.display(),
            gib(free)
        )
    })
}

/// Of `target` and the temporary directory, the one with the least room.
fn tightest(target: &Path) -> Option<(std::path::PathBuf, u64)> {
    let temp = std::env::temp_dir();
    [target.to_path_buf(), temp]
        .into_iter()
        .filter_map(|path| free_bytes(&path).map(|free| (path, free)))
        .min_by_key(|(_, free)| *free)
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / GIB as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dfs_available_column_is_read_in_bytes() {
        let text = "Filesystem     1024-blocks     Used Available Capacity Mounted on\n\
                    /dev/vda         264212084 62945128  32340760      67% /\n";
        assert_eq!(parse_df(text), Some(32_340_760 * 1024));
        let spaced = "Filesystem 1024-blocks Used Available Capacity Mounted on\n\
                      map auto home  100  50  40  56% /System/Volumes/Data/home\n";
        assert_eq!(parse_df(spaced), Some(40 * 1024));
    }

    #[test]
    fn a_df_without_a_row_or_a_number_says_nothing() {
        assert_eq!(parse_df("Filesystem 1024-blocks Used Available\n"), None);
        assert_eq!(parse_df("header\n/dev/vda 1 2 many 3% /\n"), None);
    }

    #[test]
    fn the_working_disk_has_a_free_figure() {
        assert!(free_bytes(Path::new(".")).is_some());
        assert!(free_bytes(&std::env::temp_dir().join("not/made/yet")).is_some());
    }
}
