//! `rtp bench train`: the LightGBM member trained in rtp (in-process, through
//! LightGBM's C API) and by Python's LightGBM over the same matrix, with the
//! same parameters and procedure, in the same run. Both link LightGBM
//! 4.7.0 and train deterministically, so they must arrive at the same
//! models: the table says whether they did, beside the time each phase took.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use rtp_pipeline::config::PipelineConfig;
use rtp_pipeline::evaluate::eligible_rows;
use rtp_pipeline::features::build_features;
use rtp_pipeline::frame::FeatureFrame;
use rtp_pipeline::ingest::InputFormat;
use rtp_pipeline::stages;
use rtp_pipeline::train::{
    LIGHTGBM_VERSION, LightgbmFit, ModelInput, QUANTILES, fit_lightgbm, quantile_tag,
    read_predictions, write_matrix,
};
use serde::Deserialize;
use serde_json::json;

use crate::args::TrainBenchArgs;
use crate::bench::{client_python, generated_jobs};
use crate::progress::with_spinner;

/// The Python trainer, written next to the data at run time.
const PYTHON_SCRIPT: &str = include_str!("../../../python/lightgbm_bench.py");

/// What the Python side reports.
#[derive(Debug, Deserialize)]
struct PythonRun {
    library_version: String,
    load_s: f64,
    phases: Vec<(String, f64)>,
    best_iterations: std::collections::BTreeMap<String, u32>,
    training_mib: f64,
}

/// Both sides' figures.
#[derive(Debug)]
struct TrainRuns {
    rows: usize,
    n_fit: usize,
    cols: usize,
    threads: u32,
    rtp: LightgbmFit,
    rtp_training_mib: f64,
    python: PythonRun,
    /// Largest |rtp − Python| over the validation predictions of every
    /// quantile, log units.
    max_validation_diff: f64,
}

/// Runs the bench and prints its table.
pub fn bench_train(
    args: TrainBenchArgs,
    config: &PipelineConfig,
    runtime: &tokio::runtime::Runtime,
) -> Result<()> {
    let TrainBenchArgs {
        rows,
        seed,
        python,
        work_dir,
    } = args;
    let python = client_python(python, "LightGBM")?;
    let scratch = tempfile::tempdir().context("creating a work directory")?;
    let work = work_dir.unwrap_or_else(|| scratch.path().to_owned());
    let jobs = generated_jobs(&work, rows, seed)?;
    let input = with_spinner("building the features and the model matrix", || {
        let tables = runtime.block_on(build_features(
            &jobs,
            &work.join("features.parquet"),
            &config.features,
        ))?;
        let frame = FeatureFrame::read(&tables.features)?;
        let eligible = eligible_rows(&frame, config.train.states_for(InputFormat::Eagle));
        anyhow::Ok(ModelInput::build(&frame, &eligible, &config.train)?)
    })?;
    let runs = run_both(&input, &work, config, &python)?;
    println!(
        "rtp bench train --rows {rows} (seed {seed}): the LightGBM member on {} rows x {} columns ({} fit, {} validation), LightGBM {LIGHTGBM_VERSION} in rtp and {} in Python, {} threads each",
        runs.rows,
        runs.cols,
        runs.n_fit,
        runs.rows - runs.n_fit,
        runs.python.library_version,
        runs.threads
    );
    print!("{}", render_train_table(&runs));
    Ok(())
}

/// Trains in rtp, then in Python on the matrix rtp trained on.
fn run_both(
    input: &ModelInput,
    work: &Path,
    config: &PipelineConfig,
    python: &Path,
) -> Result<TrainRuns> {
    let before = stages::current_rss().unwrap_or(0);
    let stage = stages::start("LightGBM in rtp");
    let rtp = with_spinner("training in rtp", || fit_lightgbm(input, &config.train))?;
    let peak = stage.finish(input.rows.len() as u64).peak_rss.unwrap_or(0);
    let rtp_training_mib = peak.saturating_sub(before) as f64 / 1_048_576.0;

    let matrix_path = work.join("matrix.parquet");
    let columns: Vec<usize> = (0..input.x.cols).collect();
    write_matrix(&matrix_path, input, &columns)?;
    let spec = json!({
        "params": rtp.fit.params,
        "quantiles": QUANTILES,
        "num_iterations": config.train.num_iterations,
        "early_stopping_rounds": config.train.early_stopping_rounds,
        "early_stopping_min_gain": config.train.early_stopping_min_gain,
        "refit": config.train.refit_with_validation,
        "parity_rows": input.parity_rows,
    });
    let spec_path = work.join("lightgbm_spec.json");
    std::fs::write(&spec_path, spec.to_string()).context("writing the spec")?;
    let script = work.join("lightgbm_bench.py");
    std::fs::write(&script, PYTHON_SCRIPT).context("writing the Python trainer")?;
    let out = work.join("python_out");
    let output = with_spinner("training in Python", || {
        Command::new(python)
            .arg(&script)
            .arg("--matrix")
            .arg(&matrix_path)
            .arg("--spec")
            .arg(&spec_path)
            .arg("--out")
            .arg(&out)
            .output()
    })
    .with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "lightgbm_bench.py failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let result_path = out.join("result.json");
    let text = std::fs::read_to_string(&result_path)
        .with_context(|| format!("reading {}", result_path.display()))?;
    let python_run: PythonRun = serde_json::from_str(&text)
        .with_context(|| format!("parsing {}", result_path.display()))?;
    let theirs = read_predictions(&out.join("validation_predictions.parquet"))?;
    let mut max_validation_diff = 0.0f64;
    for (q, ours) in QUANTILES.iter().zip(&rtp.fit.validation) {
        let tag = quantile_tag(*q);
        let theirs = theirs
            .get(&tag)
            .with_context(|| format!("Python wrote no {tag} predictions"))?;
        if theirs.len() != ours.len() {
            bail!(
                "{} Python {tag} predictions for {} rows",
                theirs.len(),
                ours.len()
            );
        }
        for (a, b) in ours.iter().zip(theirs) {
            max_validation_diff = max_validation_diff.max((a - b).abs());
        }
    }
    Ok(TrainRuns {
        rows: input.rows.len(),
        n_fit: input.n_fit,
        cols: input.x.cols,
        threads: config.train.threads,
        rtp,
        rtp_training_mib,
        python: python_run,
        max_validation_diff,
    })
}

/// One line per phase with both sides' seconds and their ratio, the
/// totals, the memory training added, and whether the models agree.
fn render_train_table(runs: &TrainRuns) -> String {
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    let mut out = format!(
        "{:<16} {:>10} {:>10} {:>12}\n",
        "phase", "rtp_s", "python_s", "rtp/python"
    );
    let python_s = |name: &str| {
        runs.python
            .phases
            .iter()
            .find(|(n, _)| n == name)
            .map_or(f64::NAN, |(_, s)| *s)
    };
    let mut totals = (0.0, 0.0);
    for (name, wall) in &runs.rtp.phases {
        let (ours, theirs) = (wall.as_secs_f64(), python_s(name));
        totals.0 += ours;
        totals.1 += theirs;
        out.push_str(&format!(
            "{name:<16} {ours:>10.2} {theirs:>10.2} {:>12.2}\n",
            ratio(ours, theirs)
        ));
    }
    out.push_str(&format!(
        "{:<16} {:>10.2} {:>10.2} {:>12.2}\n",
        "total",
        totals.0,
        totals.1,
        ratio(totals.0, totals.1)
    ));
    out.push_str(&format!(
        "{:<16} {:>10.0} {:>10.0} {:>12.2}\n",
        "memory added MiB",
        runs.rtp_training_mib,
        runs.python.training_mib,
        ratio(runs.rtp_training_mib, runs.python.training_mib)
    ));
    let iterations: Vec<String> = runs
        .rtp
        .fit
        .models
        .iter()
        .map(|m| {
            let tag = quantile_tag(m.quantile);
            let theirs = runs
                .python
                .best_iterations
                .get(&tag)
                .map_or("-".to_owned(), u32::to_string);
            format!("{tag} {}/{theirs}", m.best_iteration)
        })
        .collect();
    out.push_str(&format!(
        "best iterations (rtp/python): {}\n",
        iterations.join(", ")
    ));
    out.push_str(&format!(
        "validation predictions: max |rtp - python| = {:.3e} (log units)\n",
        runs.max_validation_diff
    ));
    out.push_str(&format!(
        "(Python also spent {:.2} s reading the matrix from Parquet, not counted)\n",
        runs.python.load_s
    ));
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn the_table_lines_up_phases_by_name() {
        let runs = TrainRuns {
            rows: 10,
            n_fit: 9,
            cols: 2,
            threads: 2,
            rtp: LightgbmFit {
                fit: rtp_pipeline::train::MemberFit {
                    kind: rtp_bundle::MemberKind::Lightgbm,
                    library_version: LIGHTGBM_VERSION.into(),
                    inputs: vec![0, 1],
                    models: vec![],
                    params: Default::default(),
                    validation: vec![],
                    library_parity: vec![],
                },
                gains: vec![],
                phases: vec![
                    ("datasets".into(), Duration::from_secs(1)),
                    ("p50 fit".into(), Duration::from_secs(4)),
                ],
            },
            rtp_training_mib: 100.0,
            python: PythonRun {
                library_version: "4.7.0".into(),
                load_s: 0.5,
                phases: vec![("p50 fit".into(), 2.0), ("datasets".into(), 2.0)],
                best_iterations: Default::default(),
                training_mib: 50.0,
            },
            max_validation_diff: 0.0,
        };
        let table = render_train_table(&runs);
        assert!(
            table.contains("datasets               1.00       2.00         0.50"),
            "{table}"
        );
        assert!(
            table.contains("p50 fit                4.00       2.00         2.00"),
            "{table}"
        );
        assert!(
            table.contains("total                  5.00       4.00         1.25"),
            "{table}"
        );
    }
}
