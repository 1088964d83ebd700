//! A synthetic, Eagle-shaped job trace: the 18 Eagle columns as Parquet, with
//! the structure that makes runtime prediction hard and possible.
//!
//! Users have power-law activity and their own habits: a few job templates
//! each (partition, size, typical runtime, noise), a personal over-request
//! factor, requests rounded to the values people type (1 h, 4 h, 2 d, …).
//! Runtimes are heavy-tailed; a job that would outrun its limit is a TIMEOUT
//! that overran by up to 30 s. States follow Eagle's published mix; array
//! jobs share a job id; submits follow a diurnal and weekly rhythm. Rows are
//! produced in submit order and written batch by batch, so any size runs in
//! bounded memory, and the same seed gives the same file.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Float64Builder, Int64Builder, RecordBatch, StringBuilder, TimestampSecondBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::parquet::arrow::ArrowWriter;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{PipelineError, Result};
use crate::ingest::parquet_properties;

/// 2018-11-14 00:00:00, when Eagle's record begins.
const TRACE_START: i64 = 1_542_153_600;
/// Eagle averages about 7,000 jobs a day.
const JOBS_PER_DAY: f64 = 7_000.0;
/// Runtime limits people type, seconds.
const COMMON_LIMITS: [f64; 12] = [
    600.0, 1_800.0, 3_600.0, 7_200.0, 14_400.0, 28_800.0, 43_200.0, 86_400.0, 172_800.0, 345_600.0,
    604_800.0, 864_000.0,
];

struct Partition {
    name: &'static str,
    max_limit: f64,
    gpus_per_node: i64,
    weight: f64,
}

const PARTITIONS: [Partition; 6] = [
    Partition {
        name: "short",
        max_limit: 14_400.0,
        gpus_per_node: 0,
        weight: 0.25,
    },
    Partition {
        name: "standard",
        max_limit: 172_800.0,
        gpus_per_node: 0,
        weight: 0.45,
    },
    Partition {
        name: "long",
        max_limit: 864_000.0,
        gpus_per_node: 0,
        weight: 0.08,
    },
    Partition {
        name: "bigmem",
        max_limit: 172_800.0,
        gpus_per_node: 0,
        weight: 0.06,
    },
    Partition {
        name: "gpu",
        max_limit: 172_800.0,
        gpus_per_node: 2,
        weight: 0.10,
    },
    Partition {
        name: "debug",
        max_limit: 3_600.0,
        gpus_per_node: 0,
        weight: 0.06,
    },
];

/// What `rtp generate` produces.
#[derive(Debug, Clone, Copy)]
pub struct GenerateOptions {
    /// Rows to write.
    pub rows: u64,
    /// Seed; the same seed gives the same file.
    pub seed: u64,
    /// Rows per written batch.
    pub batch_rows: usize,
}

struct Template {
    name: String,
    work_dir: String,
    partition: usize,
    nodes: i64,
    cores_per_node: i64,
    mem_mb: f64,
    median_log_rt: f64,
    sd_log_rt: f64,
    limit: f64,
    weight: f64,
    array_prob: f64,
}

struct User {
    name: String,
    accounts: Vec<String>,
    qos: &'static str,
    templates: Vec<Template>,
    template_cdf: Vec<f64>,
    fail_prob: f64,
    cancel_prob: f64,
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller; the second value is dropped to keep the stream simple.
    let u1: f64 = rng.random::<f64>().max(1e-300);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn pick(cdf: &[f64], rng: &mut ChaCha8Rng) -> usize {
    let total = *cdf.last().expect("non-empty");
    let x = rng.random::<f64>() * total;
    cdf.partition_point(|&c| c <= x).min(cdf.len() - 1)
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    weights
        .map(|w| {
            acc += w;
            acc
        })
        .collect()
}

/// The smallest common limit at or above `seconds`, within the partition's maximum.
fn round_up_limit(seconds: f64, max_limit: f64) -> f64 {
    COMMON_LIMITS
        .iter()
        .copied()
        .find(|&l| l >= seconds)
        .unwrap_or(max_limit)
        .min(max_limit)
}

fn population(rows: u64, rng: &mut ChaCha8Rng) -> (Vec<User>, Vec<f64>) {
    let n_users = ((rows as f64).sqrt() * 0.28).clamp(5.0, 1_000.0) as usize;
    let n_accounts = (n_users as f64 * 0.63).ceil() as usize;
    let partition_cdf = cumulative(PARTITIONS.iter().map(|p| p.weight));
    let mut users = Vec::with_capacity(n_users);
    for u in 0..n_users {
        let over_request = (1.1f64.ln() + 0.9 * normal(rng).abs()).exp(); // ≥ 1.1×, median ≈ 2×+
        let n_templates = 1 + rng.random_range(0..6);
        let templates: Vec<Template> = (0..n_templates)
            .map(|t| {
                let partition = pick(&partition_cdf, rng);
                let p = &PARTITIONS[partition];
                let nodes = match rng.random::<f64>() {
                    x if x < 0.62 => 1,
                    x if x < 0.80 => 2,
                    x if x < 0.90 => 4,
                    x if x < 0.96 => 8,
                    x if x < 0.99 => 16,
                    _ => 1 << rng.random_range(5..8),
                };
                let cores_per_node = if rng.random::<f64>() < 0.7 {
                    36
                } else {
                    1 << rng.random_range(0..6)
                };
                let median_log_rt = (7.0 + 1.6 * normal(rng)).clamp(3.0, p.max_limit.ln());
                let limit = round_up_limit(
                    median_log_rt.exp() * over_request * (1.0 + 0.3 * rng.random::<f64>()),
                    p.max_limit,
                );
                Template {
                    name: format!("name{:08}", u * 10 + t),
                    work_dir: format!("work_dir{:08}", u * 10 + t),
                    partition,
                    nodes,
                    cores_per_node,
                    mem_mb: if rng.random::<f64>() < 0.75 {
                        0.0
                    } else {
                        [8_000.0, 32_000.0, 85_000.0, 180_000.0][rng.random_range(0..4)]
                    },
                    median_log_rt,
                    sd_log_rt: 0.2 + 0.9 * rng.random::<f64>(),
                    limit,
                    weight: rng.random::<f64>().powi(2) + 0.05,
                    array_prob: if rng.random::<f64>() < 0.15 { 0.2 } else { 0.0 },
                }
            })
            .collect();
        let template_cdf = cumulative(templates.iter().map(|t| t.weight));
        let n_user_accounts = 1 + usize::from(rng.random::<f64>() < 0.3);
        users.push(User {
            name: format!("user{u:04}"),
            accounts: (0..n_user_accounts)
                .map(|_| format!("account{:04}", rng.random_range(0..n_accounts)))
                .collect(),
            qos: match rng.random::<f64>() {
                x if x < 0.85 => "normal",
                x if x < 0.95 => "high",
                _ => "standby",
            },
            templates,
            template_cdf,
            fail_prob: 0.02 + 0.15 * rng.random::<f64>().powi(2),
            cancel_prob: 0.05 + 0.25 * rng.random::<f64>().powi(2),
        });
    }
    // Power-law activity: a few users submit most jobs.
    let activity = cumulative((0..n_users).map(|i| 1.0 / ((i + 1) as f64).powf(1.1)));
    (users, activity)
}

/// Relative submit intensity by local hour and weekday (1.0 = busiest).
fn intensity(t: i64) -> f64 {
    let hour = (t.rem_euclid(86_400) / 3_600) as usize;
    let weekday = ((t.div_euclid(86_400) + 3).rem_euclid(7)) as usize; // 0 = Monday
    const HOURLY: [f64; 24] = [
        0.35, 0.3, 0.28, 0.25, 0.25, 0.28, 0.35, 0.5, 0.75, 0.95, 1.0, 1.0, 0.9, 0.95, 1.0, 1.0,
        0.95, 0.85, 0.7, 0.6, 0.55, 0.5, 0.45, 0.4,
    ];
    let weekly = if weekday >= 5 { 0.45 } else { 1.0 };
    HOURLY[hour] * weekly
}

fn eagle_schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Second, None);
    Arc::new(Schema::new(vec![
        Field::new("job_id", DataType::Int64, false),
        Field::new("user", DataType::Utf8, false),
        Field::new("account", DataType::Utf8, false),
        Field::new("partition", DataType::Utf8, false),
        Field::new("qos", DataType::Utf8, false),
        Field::new("wallclock_req", DataType::Float64, false),
        Field::new("nodes_req", DataType::Int64, false),
        Field::new("processors_req", DataType::Int64, false),
        Field::new("gpus_req", DataType::Int64, false),
        Field::new("mem_req", DataType::Float64, false),
        Field::new("submit_time", ts(), false),
        Field::new("start_time", ts(), true),
        Field::new("end_time", ts(), true),
        Field::new("run_time", DataType::Float64, true),
        Field::new("state", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("work_dir", DataType::Utf8, false),
        Field::new("submit_line", DataType::Utf8, false),
    ]))
}

#[derive(Default)]
struct Builders {
    job_id: Int64Builder,
    user: StringBuilder,
    account: StringBuilder,
    partition: StringBuilder,
    qos: StringBuilder,
    wallclock_req: Float64Builder,
    nodes_req: Int64Builder,
    processors_req: Int64Builder,
    gpus_req: Int64Builder,
    mem_req: Float64Builder,
    submit_time: TimestampSecondBuilder,
    start_time: TimestampSecondBuilder,
    end_time: TimestampSecondBuilder,
    run_time: Float64Builder,
    state: StringBuilder,
    name: StringBuilder,
    work_dir: StringBuilder,
    submit_line: StringBuilder,
    len: usize,
}

impl Builders {
    fn finish(&mut self, schema: &SchemaRef) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = vec![
            Arc::new(self.job_id.finish()),
            Arc::new(self.user.finish()),
            Arc::new(self.account.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.qos.finish()),
            Arc::new(self.wallclock_req.finish()),
            Arc::new(self.nodes_req.finish()),
            Arc::new(self.processors_req.finish()),
            Arc::new(self.gpus_req.finish()),
            Arc::new(self.mem_req.finish()),
            Arc::new(self.submit_time.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.end_time.finish()),
            Arc::new(self.run_time.finish()),
            Arc::new(self.state.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.work_dir.finish()),
            Arc::new(self.submit_line.finish()),
        ];
        self.len = 0;
        RecordBatch::try_new(Arc::clone(schema), arrays)
            .map_err(PipelineError::arrow("building a generated batch"))
    }
}

/// Outcome of one job: state, start, end, runtime.
struct Outcome {
    state: &'static str,
    start: Option<i64>,
    end: Option<i64>,
    run_time: Option<f64>,
}

fn outcome(
    user: &User,
    t: &Template,
    submit: i64,
    trace_end: i64,
    rng: &mut ChaCha8Rng,
) -> Outcome {
    let wait = ((4.0 + 2.0 * normal(rng)).exp() * (t.nodes as f64).sqrt()).min(1_209_600.0) as i64;
    let start = submit + wait;
    let natural = (t.median_log_rt + t.sd_log_rt * normal(rng)).exp().max(1.0);
    let x: f64 = rng.random();
    // Jobs still queued or running when the trace was cut.
    if submit > trace_end - 2 * 86_400 && x < 0.02 {
        return if rng.random::<bool>() {
            Outcome {
                state: "PENDING",
                start: None,
                end: None,
                run_time: None,
            }
        } else {
            Outcome {
                state: "RUNNING",
                start: Some(start),
                end: None,
                run_time: None,
            }
        };
    }
    let (state, run) = if x < user.cancel_prob {
        if rng.random::<f64>() < 0.4 {
            // Cancelled while pending: ends without ever starting.
            let end = submit + (wait as f64 * rng.random::<f64>()) as i64;
            return Outcome {
                state: "CANCELLED",
                start: None,
                end: Some(end),
                run_time: None,
            };
        }
        ("CANCELLED", natural.min(t.limit) * rng.random::<f64>())
    } else if x < user.cancel_prob + user.fail_prob {
        ("FAILED", natural.min(t.limit) * rng.random::<f64>().powi(2))
    } else if x < user.cancel_prob + user.fail_prob + 0.0025 {
        ("OUT_OF_MEMORY", natural.min(t.limit) * rng.random::<f64>())
    } else if x < user.cancel_prob + user.fail_prob + 0.004 {
        ("NODE_FAIL", natural.min(t.limit) * rng.random::<f64>())
    } else if natural > t.limit {
        ("TIMEOUT", t.limit + rng.random_range(0.0..30.0))
    } else {
        ("COMPLETED", natural)
    };
    let run = run.round().max(0.0);
    Outcome {
        state,
        start: Some(start),
        end: Some(start + run as i64),
        run_time: Some(run),
    }
}

/// Writes `options.rows` synthetic Eagle rows to `out`.
pub fn generate(out: &Path, options: &GenerateOptions) -> Result<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let (users, activity) = population(options.rows, &mut rng);
    let schema = eagle_schema();
    let file = File::create(out).map_err(PipelineError::io(out))?;
    let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(parquet_properties()))
        .map_err(PipelineError::arrow(format!("writing {}", out.display())))?;
    let mut b = Builders::default();
    // At least 60 days, so per-user history has time to form.
    let days = (options.rows as f64 / JOBS_PER_DAY).max(60.0);
    let mean_gap = days * 86_400.0 / options.rows.max(1) as f64 * 0.62; // 0.62 ≈ mean intensity
    let trace_end = TRACE_START + (days * 86_400.0) as i64;
    let mut now = TRACE_START as f64;
    let mut written = 0u64;
    let mut job_id = 1_000_000i64;
    while written < options.rows {
        // Thinning: candidate arrivals at the peak rate, kept by intensity.
        now += -mean_gap * rng.random::<f64>().max(1e-12).ln();
        if rng.random::<f64>() > intensity(now as i64) {
            continue;
        }
        let submit = now as i64;
        let user = &users[pick(&activity, &mut rng)];
        let template = &user.templates[pick(&user.template_cdf, &mut rng)];
        let account = &user.accounts[rng.random_range(0..user.accounts.len())];
        let tasks = if rng.random::<f64>() < template.array_prob {
            rng.random_range(2..60u64)
        } else {
            1
        };
        job_id += 1;
        let partition = &PARTITIONS[template.partition];
        for _ in 0..tasks.min(options.rows - written) {
            let o = outcome(user, template, submit, trace_end, &mut rng);
            b.job_id.append_value(job_id);
            b.user.append_value(&user.name);
            b.account.append_value(account);
            b.partition.append_value(partition.name);
            b.qos.append_value(user.qos);
            b.wallclock_req.append_value(template.limit);
            b.nodes_req.append_value(template.nodes);
            b.processors_req
                .append_value(template.nodes * template.cores_per_node);
            b.gpus_req
                .append_value(template.nodes * partition.gpus_per_node);
            b.mem_req.append_value(template.mem_mb);
            b.submit_time.append_value(submit);
            b.start_time.append_option(o.start);
            b.end_time.append_option(o.end);
            b.run_time.append_option(o.run_time);
            b.state.append_value(o.state);
            b.name.append_value(&template.name);
            b.work_dir.append_value(&template.work_dir);
            b.submit_line
                .append_value(format!("submit_line{:08}", job_id % 100_000_000));
            b.len += 1;
            written += 1;
            if b.len >= options.batch_rows {
                writer
                    .write(&b.finish(&schema)?)
                    .map_err(PipelineError::arrow(format!("writing {}", out.display())))?;
            }
        }
    }
    if b.len > 0 {
        writer
            .write(&b.finish(&schema)?)
            .map_err(PipelineError::arrow(format!("writing {}", out.display())))?;
    }
    writer
        .close()
        .map_err(PipelineError::arrow(format!("closing {}", out.display())))?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_round_up_to_common_values_within_the_partition() {
        assert_eq!(round_up_limit(2_000.0, 172_800.0), 3_600.0);
        assert_eq!(round_up_limit(100_000.0, 172_800.0), 172_800.0);
        assert_eq!(round_up_limit(100_000.0, 14_400.0), 14_400.0);
    }

    #[test]
    fn weekends_and_nights_are_quieter() {
        let monday_11 = TRACE_START + 5 * 86_400 + 11 * 3_600; // 2018-11-19 was a Monday
        let monday_03 = TRACE_START + 5 * 86_400 + 3 * 3_600;
        let saturday_11 = monday_11 + 5 * 86_400;
        assert!(intensity(monday_11) > 2.0 * intensity(monday_03));
        assert!(intensity(monday_11) > 2.0 * intensity(saturday_11));
    }
}
