//! Scored rows as `PredictResponse`s: the interval is the bundle's
//! calibrated p10–p90, the category comes from the p50.

use std::collections::HashMap;

use rtp_proto::v1::{JobFeatures, PredictResponse};
use rtp_scoring::{JobScore, Overlay, Scorer, ScoringError};

use crate::job_request::job_rows;

/// Runtime categories by p50, upper bounds exclusive, seconds.
const CATEGORIES: [(f64, &str); 3] = [
    (3600.0, "short"),
    (8.0 * 3600.0, "medium"),
    (48.0 * 3600.0, "long"),
];

/// short < 1 h ≤ medium < 8 h ≤ long < 48 h ≤ very_long.
pub fn runtime_category(p50_s: f64) -> &'static str {
    CATEGORIES
        .iter()
        .find(|(bound, _)| p50_s < *bound)
        .map_or("very_long", |(_, name)| name)
}

/// Scores validated jobs with `scorer` as one request, continuing
/// `overlay`, with `top` contributions each (submit time 0 = `now_s`).
/// Per job: its response (with its `job_id`), or why the scoring core
/// could not score its row.
pub fn score_jobs(
    scorer: &Scorer,
    jobs: &[&JobFeatures],
    overlay: &mut Overlay,
    top: usize,
    now_s: i64,
) -> Result<Vec<Result<PredictResponse, String>>, ScoringError> {
    let rows = job_rows(jobs.iter().copied(), now_s);
    let scored = scorer.score_explained(&rows, overlay, top)?;
    let context = ResponseContext::of(scorer, now_s);
    Ok(jobs
        .iter()
        .enumerate()
        .map(|(row, job)| {
            let mut answer = response(&scored.job_score(row)?, &context);
            answer.job_id.clone_from(&job.job_id);
            Ok(answer)
        })
        .collect())
}

/// What every response of one call shares.
#[derive(Debug, Clone)]
pub struct ResponseContext<'a> {
    /// The bundle version.
    pub model_version: &'a str,
    /// Unix seconds.
    pub timestamp: i64,
    /// Nominal coverage of the interval.
    pub coverage: f64,
}

impl<'a> ResponseContext<'a> {
    /// The context of answers from `scorer` at `timestamp`.
    pub fn of(scorer: &'a Scorer, timestamp: i64) -> Self {
        Self {
            model_version: scorer.version(),
            timestamp,
            coverage: scorer.manifest().interval.nominal_coverage,
        }
    }
}

/// The response for one scored job.
pub fn response(score: &JobScore, context: &ResponseContext<'_>) -> PredictResponse {
    let (p10, p50, p90) = (score.p10, score.p50, score.p90);
    PredictResponse {
        predicted_runtime_seconds: p50,
        confidence_lower: p10 as f32,
        confidence_upper: p90 as f32,
        model_version: context.model_version.to_owned(),
        prediction_timestamp: context.timestamp,
        runtime_category: runtime_category(p50).to_owned(),
        prediction_confidence: context.coverage,
        feature_importance: score
            .contributions
            .iter()
            .map(|c| (c.feature.clone(), c.value))
            .collect::<HashMap<_, _>>(),
        p10_seconds: p10,
        p50_seconds: p50,
        p90_seconds: p90,
        likely_seconds: score.likely,
        suggested_wallclock_seconds: score.suggested_wallclock,
        overestimated: score.overestimated,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories_follow_the_documented_bounds() {
        assert_eq!(runtime_category(0.0), "short");
        assert_eq!(runtime_category(3599.9), "short");
        assert_eq!(runtime_category(3600.0), "medium");
        assert_eq!(runtime_category(8.0 * 3600.0 - 1.0), "medium");
        assert_eq!(runtime_category(8.0 * 3600.0), "long");
        assert_eq!(runtime_category(48.0 * 3600.0), "very_long");
        assert_eq!(runtime_category(1e9), "very_long");
    }
}
