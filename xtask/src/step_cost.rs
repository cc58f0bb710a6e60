//! The instruction count of one agent step, from callgrind: the seed's
//! workload (`klieo-runtime --example step_cost`) at two lengths, collected
//! only inside the run, the difference divided by the steps between them.
//! Instructions, unlike seconds, are the same on a loaded machine, so a
//! regression shows as a number; the count must stay under [`CEILING`].
//! Then what a budget and a rate limiter add to a durable step on SQLite.

use crate::metadata::target_dir;
use crate::{cmd, Error};
use std::path::Path;
use std::process::Command;

/// The most instructions a step may cost before `cargo xtask bench`
/// fails: today's count (10.9k on 2026-12-07, twelfth session: 0.5k of
/// it the token estimates of the kept messages and 0.6k the repeat
/// check) with room for compiler, library and CPU drift (glibc picks its
/// `memcpy` and `malloc` by CPU: the same code counted 0.5k apart on two
/// machines). Lower it as the step gets cheaper. The fitted step (below)
/// is held by its ratio, not by this.
const CEILING: u64 = 12_500;

/// The two run lengths measured.
const SHORT: u64 = 10;
const LONG: u64 = 100;

/// Builds the program, counts a step, prints the figure and checks it.
pub(crate) fn run(root: &Path) -> Result<(), Error> {
    if !cmd::succeeds(Command::new("valgrind").arg("--version")) {
        return Err(Error::new(
            "valgrind is not installed, so a step's instructions cannot be counted",
        )
        .or_fix("install Debian's `valgrind` package (`apt-get install valgrind`)"));
    }
    let build = ["build", "--quiet", "--release", "-p", "klieo-runtime"];
    cmd::run(cmd::cargo(root, &build).args(["--example", "step_cost"]))?;
    let program = target_dir(root)?.join("release/examples/step_cost");
    let step = |steps: u64| collected(&program, &[steps.to_string()], Some("*step_cost*measured*"));
    let per_step = step(LONG)?.saturating_sub(step(SHORT)?) / (LONG - SHORT);
    println!(
        "{{\"impl\":\"klieo\",\"workload\":\"step_instructions\",\"steps\":\"{SHORT}..{LONG}\",\"instructions_per_step\":{per_step},\"ceiling\":{CEILING}}}"
    );
    fitted(&program)?;
    if per_step > CEILING {
        return Err(Error::new(format!(
            "a step costs {per_step} instructions, over the ceiling of {CEILING}"
        ))
        .or_fix("find what the step does more (callgrind_annotate on the program's profile) and undo it; raise CEILING in xtask/src/step_cost.rs only for a cost that buys something, and say so in docs/PERFORMANCE.md"));
    }
    governed(root)
}

/// The most a step fitted to a 4,096-token window over a thread of
/// [`LONG_THREAD`] messages may cost over one of [`SHORT_THREAD`]: finding
/// the window's start is a search of the running sums (O(log n)), and the
/// window itself is the same size in both, so the two cost the same but
/// for noise of a few instructions.
const FITTED_RATIO_CEILING: f64 = 1.02;

/// The thread lengths (messages before the run) of the fitted steps.
const SHORT_THREAD: u64 = 1_000;
const LONG_THREAD: u64 = 10_000;

/// A step fitted to the model's window over a thread of 1,000 and of
/// 10,000 messages: the long thread may cost no more.
fn fitted(program: &Path) -> Result<(), Error> {
    let per_step = |history: u64| -> Result<u64, Error> {
        let run = |steps: u64| {
            let args = [steps.to_string(), history.to_string()];
            collected(program, &args, Some("*step_cost*measured*"))
        };
        Ok(run(LONG)?.saturating_sub(run(SHORT)?) / (LONG - SHORT))
    };
    let short = per_step(SHORT_THREAD)?;
    let long = per_step(LONG_THREAD)?;
    let ratio = long as f64 / short.max(1) as f64;
    println!(
        "{{\"impl\":\"klieo\",\"workload\":\"fitted_step_instructions\",\"window\":4096,\"steps\":\"{SHORT}..{LONG}\",\"thread_{SHORT_THREAD}\":{short},\"thread_{LONG_THREAD}\":{long},\"ratio\":{ratio:.3},\"ceiling\":{FITTED_RATIO_CEILING}}}"
    );
    if ratio > FITTED_RATIO_CEILING {
        return Err(Error::new(format!(
            "a step fitted over a thread of {LONG_THREAD} messages costs {long} instructions, \
             {ratio:.3}x one over {SHORT_THREAD} ({short}): fitting grew with the thread's length"
        ))
        .or_fix("find what the request does per message of the thread (callgrind_annotate on `step_cost STEPS 10000`); it must search the running sums, not walk the thread"));
    }
    Ok(())
}

/// What a budget of every kind and a rate limiter in the same SQLite file
/// add to a durable step: `durable_bench governed_run`, plain and
/// governed, counted whole (the store's writer thread included) at two
/// lengths, the difference per step; and `keyed`, governed with a key's
/// budget too. Printed, not checked: the goal (at most 10% more) is
/// recorded in docs/PERFORMANCE.md.
fn governed(root: &Path) -> Result<(), Error> {
    let build = [
        "build",
        "--quiet",
        "--release",
        "-p",
        "klieo",
        "--features",
        "runtime,openai,sqlite,postgres,testing",
        "--example",
        "durable_bench",
    ];
    cmd::run(&mut cmd::cargo(root, &build))?;
    let program = target_dir(root)?.join("release/examples/durable_bench");
    let per_step = |which: &str| -> Result<u64, Error> {
        let run = |steps: u64| {
            let args = [
                "governed_run".to_owned(),
                which.to_owned(),
                steps.to_string(),
            ];
            collected(&program, &args, None)
        };
        Ok(run(LONG)?.saturating_sub(run(SHORT)?) / (LONG - SHORT))
    };
    let plain = per_step("plain")?;
    let governed = per_step("governed")?;
    let keyed = per_step("keyed")?;
    println!(
        "{{\"impl\":\"klieo\",\"workload\":\"governed_step_instructions\",\"store\":\"sqlite\",\"steps\":\"{SHORT}..{LONG}\",\"plain\":{plain},\"governed\":{governed},\"keyed\":{keyed},\"ratio\":{:.3},\"keyed_ratio\":{:.3}}}",
        governed as f64 / plain.max(1) as f64,
        keyed as f64 / plain.max(1) as f64
    );
    Ok(())
}

/// The instructions callgrind counts running `program` with `args`:
/// inside the functions `toggle` matches, or all of them.
fn collected(program: &Path, args: &[String], toggle: Option<&str>) -> Result<u64, Error> {
    let out = std::env::temp_dir().join(format!("klieo-step-cost-{}.out", std::process::id()));
    let mut valgrind = Command::new("valgrind");
    valgrind
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()));
    if let Some(toggle) = toggle {
        valgrind.arg(format!("--toggle-collect={toggle}"));
    }
    valgrind.arg(program).args(args);
    let ran = valgrind
        .output()
        .map_err(|e| Error::new(format!("could not start `{}`: {e}", cmd::show(&valgrind))))?;
    let _ = std::fs::remove_file(&out);
    if !ran.status.success() {
        return Err(Error::new(format!(
            "`{}` failed ({}): {}",
            cmd::show(&valgrind),
            ran.status,
            String::from_utf8_lossy(&ran.stderr)
        )));
    }
    parse_collected(&String::from_utf8_lossy(&ran.stderr)).ok_or_else(|| {
        Error::new(format!(
            "callgrind printed no `Collected :` line for `{}`",
            cmd::show(&valgrind)
        ))
    })
}

/// The count in callgrind's `==PID== Collected : N` line.
fn parse_collected(stderr: &str) -> Option<u64> {
    stderr.lines().find_map(|line| {
        let (_, count) = line.split_once("Collected :")?;
        count.trim().replace(',', "").parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_collected_count_is_read_from_callgrinds_summary() {
        let stderr = "==4989== Callgrind, a call-graph generating cache profiler\n\
                      ==4989== Events    : Ir\n==4989== Collected : 344028\n\
                      ==4989== I   refs:      344,028\n";
        assert_eq!(parse_collected(stderr), Some(344_028));
        assert_eq!(parse_collected("no summary"), None);
    }
}
