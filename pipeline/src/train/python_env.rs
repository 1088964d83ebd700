//! The Python environment the XGBoost and CatBoost trainers run in: a
//! virtual environment rtp creates on first use, with pinned packages, and
//! reuses while the pinned list is unchanged.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::config::PythonOptions;
use crate::error::{PipelineError, Result};

/// The trainers' pinned packages.
pub const REQUIREMENTS: &str = include_str!("../../python/requirements.txt");
/// The trainer script.
pub const TRAINER_SCRIPT: &str = include_str!("../../python/train_members.py");

/// File inside the environment recording which requirements it holds.
const STAMP_FILE: &str = "rtp-requirements.sha256";

/// A ready environment.
#[derive(Debug, Clone)]
pub struct PythonEnv {
    /// Its interpreter.
    pub python: PathBuf,
}

fn requirements_digest() -> String {
    hex::encode(Sha256::digest(REQUIREMENTS.as_bytes()))
}

fn run(command: &mut Command, what: &str) -> Result<()> {
    let status = command
        .status()
        .map_err(|e| PipelineError::Python(format!("{what}: cannot start {command:?}: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(PipelineError::Python(format!(
            "{what} failed ({status}): {command:?}"
        )))
    }
}

/// Returns the environment in `options.env_dir`, creating or updating it
/// first if its packages are not the pinned ones. Concurrent callers wait
/// for one another.
pub fn ensure(options: &PythonOptions) -> Result<PythonEnv> {
    let dir = &options.env_dir;
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(PipelineError::io(parent))?;
    let lock_path = dir.with_extension("lock");
    let lock = File::create(&lock_path).map_err(PipelineError::io(&lock_path))?;
    lock.lock().map_err(PipelineError::io(&lock_path))?;

    let python = dir.join("bin/python");
    let stamp = dir.join(STAMP_FILE);
    let digest = requirements_digest();
    if python.is_file() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == digest) {
        return Ok(PythonEnv { python });
    }
    eprintln!(
        "rtp: setting up the Python environment for the XGBoost and CatBoost trainers in {} \
         (first use; installs {})",
        dir.display(),
        REQUIREMENTS
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(PipelineError::io(dir))?;
    }
    run(
        Command::new(&options.interpreter)
            .args(["-m", "venv"])
            .arg(dir),
        "creating the virtual environment (is the interpreter's venv module installed? \
         set train.python.interpreter)",
    )?;
    let requirements = dir.join("rtp-requirements.txt");
    std::fs::write(&requirements, REQUIREMENTS).map_err(PipelineError::io(&requirements))?;
    run(
        Command::new(dir.join("bin/pip"))
            .args([
                "install",
                "--disable-pip-version-check",
                "--progress-bar",
                "on",
                "-r",
            ])
            .arg(&requirements),
        "installing the trainers' packages",
    )?;
    std::fs::write(&stamp, digest).map_err(PipelineError::io(&stamp))?;
    eprintln!("rtp: Python trainer environment ready");
    Ok(PythonEnv { python })
}
