//! What `rtp-suggest` prints: the prediction in Slurm's time format, or as
//! JSON for machines.

use rtp_jobs::slurm::format_duration;
use rtp_proto::v1::PredictResponse;

/// A prediction as the command reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Suggestion {
    /// p10, seconds.
    pub p10_s: f64,
    /// p50, seconds.
    pub p50_s: f64,
    /// p90, seconds.
    pub p90_s: f64,
    /// The likely runtime (most likely within 2× of the actual), seconds.
    pub likely_s: f64,
    /// The suggested limit (the p90 rounded up, never above the request), seconds.
    pub suggested_s: f64,
    /// The suggested limit as `--time` takes it.
    pub suggested_time: String,
    /// The limit asked for, seconds.
    pub requested_s: f64,
    /// The request is more than the edge's factor above the p90.
    pub overestimated: bool,
    /// The bundle that predicted.
    pub model_version: String,
}

impl Suggestion {
    /// From the edge's answer to a job that asked for `requested_s`.
    pub fn from_response(response: &PredictResponse, requested_s: f64) -> Self {
        Self {
            p10_s: response.p10_seconds,
            p50_s: response.p50_seconds,
            p90_s: response.p90_seconds,
            likely_s: response.likely_seconds,
            suggested_s: response.suggested_wallclock_seconds,
            suggested_time: format_duration(response.suggested_wallclock_seconds),
            requested_s,
            overestimated: response.overestimated,
            model_version: response.model_version.clone(),
        }
    }

    /// Three lines for a person.
    pub fn text(&self) -> String {
        let ratio = if self.suggested_s > 0.0 {
            format!(
                ", {:.1}× the suggestion",
                self.requested_s / self.suggested_s
            )
        } else {
            String::new()
        };
        format!(
            "likely runtime {} (median {}), 80 % interval {} – {}\nsuggested --time={} (requested {}{ratio})\nmodel {}\n",
            format_duration(self.likely_s),
            format_duration(self.p50_s),
            format_duration(self.p10_s),
            format_duration(self.p90_s),
            self.suggested_time,
            format_duration(self.requested_s),
            self.model_version
        )
    }

    /// One JSON object.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a suggestion serialises")
    }
}
