//! `rtp bench inference`: throughput and latency of the native tree engine
//! against LightGBM's own predictor on the same model, in the same run, and
//! of the whole blended ensemble.

use std::time::{Duration, Instant};

use rtp_bundle::MemberKind;
use rtp_trees::Forest;

use rtp_pipeline::frame::FeatureFrame;
use rtp_pipeline::lgbm::{Booster, ColumnMajor};
use rtp_pipeline::train::{TrainedModel, model_matrix};
use rtp_pipeline::{PipelineError, Result};

/// One measured configuration.
#[derive(Debug, Clone)]
pub struct BenchRow {
    /// What ran, e.g. `native` or `lightgbm3`.
    pub engine: String,
    /// Which model(s).
    pub model: String,
    /// `batch N` or `single row`.
    pub mode: String,
    /// Rows per second.
    pub rows_per_s: f64,
    /// Median time per call.
    pub p50: Duration,
    /// 99th percentile time per call.
    pub p99: Duration,
    /// Rows per second relative to the baseline of the same mode.
    pub vs_baseline: f64,
}

/// How much to measure.
#[derive(Debug, Clone, Copy)]
pub struct BenchOptions {
    /// Rows per batch.
    pub batch_rows: usize,
    /// Timed batch calls.
    pub batch_repeats: usize,
    /// Timed single-row calls.
    pub single_calls: usize,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Times `calls` calls of `f`, after one untimed warm-up call.
fn time_calls(calls: usize, mut f: impl FnMut(usize) -> Result<()>) -> Result<Vec<Duration>> {
    f(0)?;
    let mut times = Vec::with_capacity(calls);
    for i in 0..calls {
        let start = Instant::now();
        f(i)?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times)
}

fn row(
    engine: &str,
    model: &str,
    mode: &str,
    rows_per_call: usize,
    times: &[Duration],
) -> BenchRow {
    let p50 = percentile(times, 0.5);
    BenchRow {
        engine: engine.into(),
        model: model.into(),
        mode: mode.into(),
        rows_per_s: rows_per_call as f64 / p50.as_secs_f64(),
        p50,
        p99: percentile(times, 0.99),
        vs_baseline: 1.0,
    }
}

/// Measures on `rows` of `frame` (at least `batch_rows` of them).
pub fn bench_inference(
    model: &TrainedModel,
    frame: &FeatureFrame,
    rows: &[usize],
    options: BenchOptions,
) -> Result<Vec<BenchRow>> {
    let m = model
        .members
        .iter()
        .position(|m| m.fit.kind == MemberKind::Lightgbm)
        .ok_or_else(|| {
            PipelineError::Config("the inference benchmark needs the lightgbm member".into())
        })?;
    let lightgbm = &model.members[m].fit;
    let p50 = lightgbm
        .models
        .iter()
        .find(|q| q.quantile == 0.5)
        .ok_or_else(|| PipelineError::LightGbm("no p50 model".into()))?;
    let booster = Booster::from_model_string(&p50.text)?;
    let forest = Forest::from_lightgbm_text(&p50.text).map_err(PipelineError::model("lightgbm"))?;
    let n = options.batch_rows.min(rows.len());
    let x = model_matrix(frame, &rows[..n], &model.codes);
    let columns = x.columns();
    let single_rows: Vec<ColumnMajor> = (0..options.single_calls.min(n).max(1))
        .map(|r| x.row_range(r..r + 1))
        .collect();
    let row_major: Vec<Vec<f32>> = (0..n)
        .map(|r| columns.iter().map(|c| c[r]).collect())
        .collect();
    let name = format!("lightgbm p50 ({} trees)", forest.num_trees());
    let batch = format!("batch {n}");
    let mut out = Vec::new();

    let times = time_calls(options.batch_repeats, |_| booster.predict(&x, -1).map(drop))?;
    let baseline_batch = row("lightgbm3", &name, &batch, n, &times);
    let mut scratch = vec![0.0; n];
    let times = time_calls(options.batch_repeats, |_| {
        forest
            .predict_columns(&columns, &mut scratch)
            .map_err(PipelineError::model("lightgbm"))
    })?;
    let native_batch = row("native", &name, &batch, n, &times);

    let times = time_calls(options.single_calls, |i| {
        booster
            .predict(&single_rows[i % single_rows.len()], -1)
            .map(drop)
    })?;
    let baseline_single = row("lightgbm3", &name, "single row", 1, &times);
    let times = time_calls(options.single_calls, |i| {
        forest
            .predict_row(&row_major[i % n])
            .map(drop)
            .map_err(PipelineError::model("lightgbm"))
    })?;
    let native_single = row("native", &name, "single row", 1, &times);

    // every member's p50 model alone, batch
    let mut member_rows = Vec::new();
    let p50_index = model
        .ensemble
        .quantiles()
        .iter()
        .position(|&q| q == 0.5)
        .unwrap_or(0);
    for member in model.ensemble.members() {
        let forest = &member.forests[p50_index];
        let inputs: Vec<&[f32]> = member.inputs.iter().map(|&i| columns[i]).collect();
        let times = time_calls(options.batch_repeats, |_| {
            forest
                .predict_columns(&inputs, &mut scratch)
                .map_err(PipelineError::model(member.kind.name()))
        })?;
        member_rows.push(row(
            "native",
            &format!("{} p50 ({} trees)", member.kind, forest.num_trees()),
            &batch,
            n,
            &times,
        ));
    }

    let models: usize = model.members.len() * model.ensemble.quantiles().len();
    let blend_name = format!("blend of {models} models");
    let times = time_calls(options.batch_repeats, |_| {
        model
            .ensemble
            .log_quantiles(&columns)
            .map(drop)
            .map_err(Into::into)
    })?;
    let blend_batch = row("native", &blend_name, &batch, n, &times);
    let times = time_calls(options.single_calls, |i| {
        model
            .ensemble
            .log_quantiles_row(&row_major[i % n])
            .map(drop)
            .map_err(Into::into)
    })?;
    let blend_single = row("native", &blend_name, "single row", 1, &times);

    let member_pairs: Vec<(BenchRow, &BenchRow)> = member_rows
        .into_iter()
        .filter(|r| !r.model.starts_with("lightgbm"))
        .map(|r| (r, &baseline_batch))
        .collect();
    for (mut r, base) in [
        (baseline_batch.clone(), &baseline_batch),
        (native_batch, &baseline_batch),
    ]
    .into_iter()
    .chain(member_pairs)
    .chain([
        (blend_batch, &baseline_batch),
        (baseline_single.clone(), &baseline_single),
        (native_single, &baseline_single),
        (blend_single, &baseline_single),
    ]) {
        r.vs_baseline = r.rows_per_s / base.rows_per_s;
        out.push(r);
    }
    Ok(out)
}

fn micros(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us >= 10_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// Renders the measurements as a table; ratios are against `lightgbm3` in
/// the same mode.
pub fn render_bench_table(rows: &[BenchRow]) -> String {
    let mut out = format!(
        "{:<10} {:<28} {:<12} {:>14} {:>12} {:>12} {:>12}\n",
        "engine", "model", "mode", "rows/s", "p50/call", "p99/call", "vs lightgbm3"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<10} {:<28} {:<12} {:>14.0} {:>12} {:>12} {:>11.1}x\n",
            r.engine,
            r.model,
            r.mode,
            r.rows_per_s,
            micros(r.p50),
            micros(r.p99),
            r.vs_baseline
        ));
    }
    out
}
