//! `rtp bench features`: the feature SQL on DataFusion and on DuckDB, a
//! peer engine, over the same job table in the same run, step by step.
//! DuckDB runs `pipeline/python/duckdb_features.py` (its dialect shims are
//! listed there) in the Python client environment, writing every
//! materialised table to Parquet as DataFusion does.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use rtp_pipeline::features::{FeatureOptions, SqlStep, build_features, load_sql_files};

/// The DuckDB runner, written next to the data at run time.
const DUCKDB_SCRIPT: &str = include_str!("../../../python/duckdb_features.py");

/// Both engines' figures.
#[derive(Debug, Clone)]
pub struct PeerRun {
    /// DataFusion, in this process.
    pub datafusion: Vec<SqlStep>,
    /// DuckDB, in the client environment's Python.
    pub duckdb: Vec<SqlStep>,
    /// This process's peak resident memory while DataFusion ran, MiB.
    pub datafusion_peak_mib: f64,
    /// DuckDB's process peak resident memory, MiB.
    pub duckdb_peak_mib: f64,
}

/// Runs the SQL of `options` on `jobs` with both engines, `threads` each.
pub async fn run_both(
    jobs: &Path,
    work: &Path,
    options: &FeatureOptions,
    threads: usize,
    python: &Path,
) -> Result<PeerRun> {
    let mut options = options.clone();
    options.target_partitions = threads;
    let stage = rtp_pipeline::stages::start("feature SQL");
    let tables = build_features(jobs, &work.join("datafusion/features.parquet"), &options)
        .await
        .context("the feature SQL on DataFusion")?;
    let datafusion_peak_mib = stage
        .finish(tables.rows)
        .peak_rss
        .map_or(f64::NAN, |b| b as f64 / 1_048_576.0);
    // DuckDB reads the very files DataFusion ran (the built-in copy when
    // the working directory has no sql/).
    let sql_dir = work.join("sql");
    std::fs::create_dir_all(&sql_dir).context("creating the SQL copy")?;
    for file in load_sql_files(&options.sql_dir)? {
        let name = file
            .path
            .file_name()
            .context("an SQL file without a name")?;
        std::fs::write(sql_dir.join(name), &file.sql).context("copying the SQL")?;
    }
    let script = work.join("duckdb_features.py");
    std::fs::write(&script, DUCKDB_SCRIPT).context("writing the DuckDB runner")?;
    let output = Command::new(python)
        .arg(&script)
        .arg(&sql_dir)
        .arg(jobs)
        .arg(work.join("duckdb"))
        .arg(threads.to_string())
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "the feature SQL on DuckDB failed ({}; DuckDB comes with clients/python/requirements.txt):\n{}",
            python.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut duckdb = Vec::new();
    let mut duckdb_peak_mib = f64::NAN;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let value: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("DuckDB runner printed {line:?}"))?;
        if let Some(peak) = value["peak_rss_mib"].as_f64() {
            duckdb_peak_mib = peak;
            continue;
        }
        duckdb.push(SqlStep {
            table: value["table"].as_str().unwrap_or_default().to_owned(),
            rows: value["rows"].as_u64().unwrap_or_default(),
            seconds: value["seconds"].as_f64().unwrap_or(f64::NAN),
        });
    }
    for (ours, theirs) in tables.steps.iter().zip(&duckdb) {
        if ours.table != theirs.table || ours.rows != theirs.rows {
            bail!(
                "the engines disagree: DataFusion wrote {} rows of {}, DuckDB {} rows of {}",
                ours.rows,
                ours.table,
                theirs.rows,
                theirs.table
            );
        }
    }
    if tables.steps.len() != duckdb.len() {
        bail!(
            "DataFusion materialised {} tables, DuckDB {}",
            tables.steps.len(),
            duckdb.len()
        );
    }
    Ok(PeerRun {
        datafusion: tables.steps,
        duckdb,
        datafusion_peak_mib,
        duckdb_peak_mib,
    })
}

/// One line per step with both engines' seconds and their ratio, then the
/// totals.
pub fn render_peer_table(run: &PeerRun) -> String {
    let mut out = format!(
        "{:<18} {:>10} {:>14} {:>10} {:>16}\n",
        "step", "rows", "datafusion_s", "duckdb_s", "datafusion/duckdb"
    );
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    for (ours, theirs) in run.datafusion.iter().zip(&run.duckdb) {
        out.push_str(&format!(
            "{:<18} {:>10} {:>14.2} {:>10.2} {:>16.2}\n",
            ours.table,
            ours.rows,
            ours.seconds,
            theirs.seconds,
            ratio(ours.seconds, theirs.seconds)
        ));
    }
    let total = |steps: &[SqlStep]| steps.iter().map(|s| s.seconds).sum::<f64>();
    let (ours, theirs) = (total(&run.datafusion), total(&run.duckdb));
    out.push_str(&format!(
        "{:<18} {:>10} {:>14.2} {:>10.2} {:>16.2}\n",
        "total",
        "",
        ours,
        theirs,
        ratio(ours, theirs)
    ));
    out.push_str(&format!(
        "{:<18} {:>10} {:>14.0} {:>10.0} {:>16.2}\n",
        "peak RSS MiB",
        "",
        run.datafusion_peak_mib,
        run.duckdb_peak_mib,
        ratio(run.datafusion_peak_mib, run.duckdb_peak_mib)
    ));
    out
}
