//! The evaluation as served: the test period replayed through the servers'
//! online state code (not the SQL).
//!
//! In time order, each test job is scored from the state built by the
//! events known when it is served, then the period's events are applied.
//! `live` applies every event before the second of the job's submit (what
//! a server following the cluster sees, and what the SQL computes), `frozen`
//! only those before the training cut (a bundle's state never followed),
//! `refresh:<d>` those before the latest multiple of `d` after the cut (a
//! state rebuilt every `d`).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, Instant};

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::compute::filter_record_batch;

use rtp_jobs::rules::Problem;
use rtp_jobs::{Job, JobRows, JobTable, jobs_batch};
use rtp_scoring::Overlay;
use rtp_scoring::feature_program::FeatureProgram;
use rtp_scoring::job_input::conform;
use rtp_scoring::live::{CheckedEvent, EventFolder, LiveState, StateSchema, event_times, known_at};

use crate::error::{PipelineError, Result};
use crate::evaluate::parse_span;
use crate::frame::FeatureFrame;

/// Which state served jobs are scored from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// Every event before the job's submit second.
    Live,
    /// The state at the training cut, never updated.
    Frozen,
    /// The state rebuilt every `every_s` seconds after the cut.
    Refresh {
        /// Seconds between rebuilds.
        every_s: i64,
    },
}

impl Serving {
    /// The modes `all` names.
    pub const ALL: [Serving; 3] = [
        Serving::Live,
        Serving::Frozen,
        Serving::Refresh { every_s: 86_400 },
    ];

    /// Events strictly before this time are known when a job submitted at
    /// `t` is served, the training data ending at `cut`.
    fn horizon(self, t: i64, cut: i64) -> i64 {
        match self {
            Self::Live => t,
            Self::Frozen => cut.min(t),
            Self::Refresh { every_s } => cut + (t - cut).max(0) / every_s * every_s,
        }
    }
}

impl fmt::Display for Serving {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Live => f.write_str("live"),
            Self::Frozen => f.write_str("frozen"),
            Self::Refresh { every_s } if every_s % 86_400 == 0 => {
                write!(f, "refresh:{}d", every_s / 86_400)
            }
            Self::Refresh { every_s } if every_s % 3_600 == 0 => {
                write!(f, "refresh:{}h", every_s / 3_600)
            }
            Self::Refresh { every_s } => write!(f, "refresh:{every_s}s"),
        }
    }
}

impl FromStr for Serving {
    type Err = PipelineError;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "live" => Ok(Self::Live),
            "frozen" => Ok(Self::Frozen),
            _ => match text.strip_prefix("refresh:") {
                Some(span) => Ok(Self::Refresh {
                    every_s: parse_span(span)?,
                }),
                None => Err(PipelineError::Config(format!(
                    "unknown serving mode {text:?}: use live, frozen, refresh:<duration> or all"
                ))),
            },
        }
    }
}

/// Modes as written (`all` for [`Serving::ALL`]), duplicates dropped.
pub fn parse_modes<S: AsRef<str>>(texts: &[S]) -> Result<Vec<Serving>> {
    let mut modes = Vec::new();
    for text in texts {
        let parsed = match text.as_ref() {
            "all" => Serving::ALL.to_vec(),
            one => vec![one.parse()?],
        };
        for mode in parsed {
            if !modes.contains(&mode) {
                modes.push(mode);
            }
        }
    }
    Ok(modes)
}

/// The log the replay reads and where it finds the state's definition.
#[derive(Debug, Clone, Copy)]
pub struct ReplayInputs<'a> {
    /// Every job of the job table ([`read_jobs`]).
    pub jobs: &'a JobTable,
    /// A history state table written by the same SQL (for its columns).
    pub history_state: &'a Path,
    /// A queue state table written by the same SQL.
    pub queue_state: &'a Path,
    /// The SQL files.
    pub sql_dir: &'a Path,
}

/// Events whose records are built and applied at a time.
const REPLAY_CHUNK: usize = 65_536;

/// Jobs scored at a time: their rows are read once and their features
/// projected at once, each from its own second's state.
const SCORE_BLOCK: usize = 4_096;

/// Per mode, the test jobs' features as served, one row per `test_keys`
/// entry in that order.
pub async fn served_features(
    inputs: ReplayInputs<'_>,
    test_keys: &[i64],
    modes: &[Serving],
) -> Result<Vec<FeatureFrame>> {
    let started = Instant::now();
    let schema = StateSchema::read(inputs.history_state, inputs.queue_state)?;
    let files = crate::features::load_sql_files(inputs.sql_dir)?;
    let program = FeatureProgram::compile(&files, &schema).await?;
    let jobs = inputs.jobs.rows();
    let tested: HashSet<i64> = test_keys.iter().copied().collect();
    let cut = jobs
        .iter()
        .filter(|j| j.job_key.is_some_and(|k| tested.contains(&k)))
        .filter_map(|j| j.submit_time)
        .min()
        .ok_or_else(|| PipelineError::NotEnoughData("no test job is in the job table".into()))?;

    // Events name their job by row; each record (the job as known then) is
    // built only when it is applied.
    let mut events: Vec<(i64, usize)> = jobs
        .iter()
        .enumerate()
        .flat_map(|(row, j)| event_times(&j).into_iter().map(move |t| (t, row)))
        .collect();
    let key_of = |row: usize| jobs.job(row).job_key;
    // Ties in time are broken by job key through each row's rank in key
    // order, which costs four bytes a job, not a sort key per event.
    let mut by_key: Vec<u32> = (0..jobs.len() as u32).collect();
    by_key.sort_by_cached_key(|&row| key_of(row as usize));
    let mut rank = vec![0u32; jobs.len()];
    for (r, &row) in by_key.iter().enumerate() {
        rank[row as usize] = r as u32;
    }
    drop(by_key);
    events.sort_unstable_by_key(|&(t, row)| (t, rank[row]));
    drop(rank);
    // Seconds with a test submit, each with the rows of every job submitted
    // then (in key order: a second's earlier submits count for later ones).
    let mut seconds: Vec<(i64, Vec<usize>)> = Vec::new();
    let mut by_submit: Vec<(i64, Option<i64>, usize)> = jobs
        .iter()
        .enumerate()
        .filter_map(|(row, j)| Some((j.submit_time.filter(|&t| t >= cut)?, j.job_key, row)))
        .collect();
    by_submit.sort_unstable();
    for (t, _, row) in by_submit {
        match seconds.last_mut() {
            Some((s, group)) if *s == t => group.push(row),
            _ => seconds.push((t, vec![row])),
        }
    }
    seconds.retain(|(_, group)| {
        group
            .iter()
            .any(|&row| key_of(row).is_some_and(|k| tested.contains(&k)))
    });

    // Every mode knows at least the events before the cut: that state is
    // built once and each mode goes on from a copy.
    let events = Events {
        jobs: &jobs,
        times: &events,
        program: &program,
    };
    let folding = Instant::now();
    let mut at_cut = Replayer::new(&program);
    at_cut.fold_until(&events, cut)?;
    tracing::debug!(
        events_s = (folding - started).as_secs_f64(),
        fold_s = folding.elapsed().as_secs_f64(),
        events = events.times.len(),
        "state at the cut"
    );
    // Seconds are scored in blocks of about SCORE_BLOCK jobs.
    let mut blocks: Vec<std::ops::Range<usize>> = Vec::new();
    let mut block_start = 0;
    let mut block_rows = 0;
    for (i, (_, group)) in seconds.iter().enumerate() {
        block_rows += group.len();
        if block_rows >= SCORE_BLOCK || i + 1 == seconds.len() {
            blocks.push(block_start..i + 1);
            block_start = i + 1;
            block_rows = 0;
        }
    }
    let plan = ScoringPlan {
        seconds: &seconds,
        blocks: &blocks,
        cut,
        tested: &tested,
    };
    // The modes share nothing but what they read: each runs on its own
    // thread from its own copy of the state at the cut.
    let frames: Vec<Result<FeatureFrame>> = std::thread::scope(|scope| {
        let replays: Vec<_> = modes
            .iter()
            .map(|&mode| {
                let (events, plan, at_cut) = (&events, &plan, &at_cut);
                scope.spawn(move || replay_mode(events, plan, at_cut.clone(), mode))
            })
            .collect();
        replays
            .into_iter()
            .map(|replay| replay.join().expect("a serving replay panicked"))
            .collect()
    });
    frames
        .into_iter()
        .map(|frame| in_key_order(frame?, test_keys))
        .collect()
}

/// The seconds a replay scores, in blocks, and which jobs are tested.
struct ScoringPlan<'a> {
    /// Seconds with a test submit, each with every job submitted then.
    seconds: &'a [(i64, Vec<usize>)],
    /// Runs of seconds scored at a time.
    blocks: &'a [std::ops::Range<usize>],
    /// The training cut.
    cut: i64,
    tested: &'a HashSet<i64>,
}

/// The tested jobs' features served in `mode`, in submit order.
fn replay_mode(
    events: &Events<'_, '_>,
    plan: &ScoringPlan<'_>,
    mut replayer: Replayer,
    mode: Serving,
) -> Result<FeatureFrame> {
    let (jobs, program) = (events.jobs, events.program);
    let mut frame = FeatureFrame::default();
    // Time applying events and scoring, for the log.
    let mut spent = (Duration::ZERO, Duration::ZERO);
    for block in plan.blocks {
        let seconds = &plan.seconds[block.clone()];
        let block_jobs: Vec<Job<&str>> = seconds
            .iter()
            .flat_map(|(_, group)| group.iter().map(|&row| jobs.job(row)))
            .collect();
        let batch = jobs_batch(block_jobs.iter().map(Job::at_submit))
            .map_err(|e| PipelineError::Features(e.to_string()))?;
        let submitted = program.submitted(&conform(&batch, 0)?.batch)?;
        let mut rows = program.context_rows();
        let mut offset = 0;
        for (t, group) in seconds {
            let applying = Instant::now();
            replayer.advance(events, mode.horizon(*t, plan.cut))?;
            let scoring = Instant::now();
            spent.0 += scoring - applying;
            let jobs_then = offset..offset + group.len();
            offset += group.len();
            program.gather_context(
                &submitted,
                jobs_then,
                &replayer.state,
                &mut Overlay::default(),
                &mut rows,
            );
            spent.1 += scoring.elapsed();
        }
        let scoring = Instant::now();
        let context = program.build_context(rows, &submitted)?;
        // Every job of a second shapes the context of the others; only
        // the tested ones are scored and kept.
        let is_tested: BooleanArray = block_jobs
            .iter()
            .map(|j| Some(j.job_key.is_some_and(|k| plan.tested.contains(&k))))
            .collect();
        let context = filter_record_batch(&context, &is_tested)
            .map_err(PipelineError::arrow("served context rows"))?;
        frame.append(&program.features_of_context(&context)?)?;
        spent.1 += scoring.elapsed();
    }
    tracing::debug!(
        %mode,
        applying_s = spent.0.as_secs_f64(),
        scoring_s = spent.1.as_secs_f64(),
        records_kept = replayer.folder.records().len(),
        entities = replayer.state.entities(),
        "replayed"
    );
    Ok(frame)
}

/// `frame` (scored in submit order) with one row per `test_keys` entry in
/// that order; reordered (a copy) only if the keys come in another.
fn in_key_order(frame: FeatureFrame, test_keys: &[i64]) -> Result<FeatureFrame> {
    if frame.job_key == test_keys {
        return Ok(frame);
    }
    let row_of: HashMap<i64, usize> = frame
        .job_key
        .iter()
        .enumerate()
        .map(|(i, &k)| (k, i))
        .collect();
    let rows: Vec<usize> = test_keys.iter().map(|k| row_of[k]).collect();
    Ok(frame.select(&rows))
}

/// The log's events in time order, each naming its job's row.
struct Events<'a, 'j> {
    jobs: &'a JobRows<'j>,
    times: &'a [(i64, usize)],
    program: &'a FeatureProgram,
}

/// Which job records a replay keeps as it applies events.
#[derive(Debug, Clone, Copy)]
enum Records {
    /// Every record, as a server following the events does.
    KeepAll,
    /// Only those of jobs not yet finished: for a run of the log that
    /// names each job once, as a restarted server folds its stored records.
    KeepUnfinished,
}

/// The state a replay has reached: the events before some time applied.
#[derive(Clone)]
struct Replayer {
    state: LiveState,
    folder: EventFolder,
    /// Events applied, a prefix of the log's.
    applied: usize,
    /// Records are forgotten once their count passes this, which doubles,
    /// so the scans stay linear overall.
    forget_above: usize,
}

impl Replayer {
    fn new(program: &FeatureProgram) -> Self {
        Self {
            state: LiveState::empty(program.layout().clone()),
            folder: EventFolder::default(),
            applied: 0,
            forget_above: REPLAY_CHUNK,
        }
    }

    /// Applies every event before `horizon` not yet applied.
    fn advance(&mut self, events: &Events<'_, '_>, horizon: i64) -> Result<()> {
        let known = self.applied
            + events.times[self.applied..]
                .iter()
                .take_while(|(u, _)| *u < horizon)
                .count();
        self.apply(
            events,
            events.times[self.applied..known].iter().copied(),
            Records::KeepAll,
        )?;
        self.applied = known;
        Ok(())
    }

    /// Brings a new replayer to `horizon` as a restarted server folds its
    /// stored records: each job once, as known at its last event before the
    /// horizon, at that event's place in the log. The state is the one every
    /// event would give (ends still enter in end order, which the running
    /// sums depend on; the rest are counts and maxima), for a third of the
    /// events.
    fn fold_until(&mut self, events: &Events<'_, '_>, horizon: i64) -> Result<()> {
        debug_assert_eq!(
            self.applied, 0,
            "a replayer folds from the start of the log"
        );
        let known = events.times.partition_point(|(t, _)| *t < horizon);
        // A job's last event is the first of its events met walking back
        // from the horizon.
        let mut seen = vec![false; events.jobs.len()];
        let mut is_last = vec![false; known];
        for (i, &(_, row)) in events.times[..known].iter().enumerate().rev() {
            is_last[i] = !std::mem::replace(&mut seen[row], true);
        }
        drop(seen);
        let last_events = events.times[..known]
            .iter()
            .zip(&is_last)
            .filter(|&(_, &last)| last)
            .map(|(&event, _)| event);
        // Each job comes once, so the finished ones need no record.
        self.apply(events, last_events, Records::KeepUnfinished)?;
        self.applied = known;
        Ok(())
    }

    /// Applies `times` (a run of the log, in its order), each job as known
    /// at its event's time.
    fn apply(
        &mut self,
        events: &Events<'_, '_>,
        times: impl IntoIterator<Item = (i64, usize)>,
        records: Records,
    ) -> Result<()> {
        let mut times = times.into_iter().peekable();
        while times.peek().is_some() {
            let chunk: Vec<(i64, usize)> = times.by_ref().take(REPLAY_CHUNK).collect();
            let report = match records {
                Records::KeepAll => self.folder.apply(
                    events.program,
                    &mut self.state,
                    "",
                    chunk
                        .iter()
                        .map(|&(t, row)| known_at(&events.jobs.job(row), t)),
                ),
                Records::KeepUnfinished => {
                    let checked = check_on_threads(events, &chunk);
                    self.folder
                        .apply_checked(events.program, &mut self.state, "", checked)
                }
            };
            if let Some((i, problem)) = report.refused.first() {
                return Err(PipelineError::Features(format!(
                    "replaying job {:?}: {problem}",
                    events.jobs.job(chunk[*i].1).job_key
                )));
            }
            // A record that knows its end was made by the job's last event:
            // it goes, and its history stays in the state. Checked per
            // chunk, as the state at the cut is reached in one call.
            if self.folder.records().len() > self.forget_above {
                // The chunk is never empty: the loop stops when none is left.
                self.folder.forget_ended(chunk[chunk.len() - 1].0);
                self.forget_above = (2 * self.folder.records().len()).max(REPLAY_CHUNK);
            }
        }
        Ok(())
    }
}

/// Checks the events `times` names for folding ([`CheckedEvent::new`]),
/// their facts computed on every core; the results come in their order.
fn check_on_threads(
    events: &Events<'_, '_>,
    times: &[(i64, usize)],
) -> Vec<std::result::Result<CheckedEvent, Problem>> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per_thread = times.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let parts: Vec<_> = times
            .chunks(per_thread)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|&(t, row)| {
                            let known = known_at(&events.jobs.job(row), t);
                            CheckedEvent::new(events.program, "", known)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|part| part.join().expect("checking events panicked"))
            .collect()
    })
}

/// Every job of a job table, as columns.
pub fn read_jobs(path: &Path) -> Result<JobTable> {
    JobTable::new(crate::job_table::read_job_table(path)?)
        .map_err(|e| PipelineError::Features(format!("{}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_print_and_bound_what_is_known() {
        for text in ["live", "frozen", "refresh:1d", "refresh:12h"] {
            assert_eq!(text.parse::<Serving>().unwrap().to_string(), text);
        }
        assert!("weekly".parse::<Serving>().is_err());
        let day = 86_400;
        let cut = 1000;
        let t = cut + 2 * day + 5;
        assert_eq!(Serving::Live.horizon(t, cut), t);
        assert_eq!(Serving::Frozen.horizon(t, cut), cut);
        assert_eq!(
            Serving::Refresh { every_s: day }.horizon(t, cut),
            cut + 2 * day
        );
    }
}
