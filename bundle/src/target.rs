//! What a bundle's models predict, recorded in its manifest and read back:
//! the transform from runtime to the training label and its inverse live
//! here, once, for training and for every server.

use serde::{Deserialize, Serialize};

/// The quantity the models are trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    /// `ln(1 + runtime)`: runtimes span seconds to days, and quantile
    /// losses on the log scale weigh a job of minutes as much as one of days.
    #[serde(rename = "log1p(run_time_s)")]
    Log1pRunTime,
}

impl Target {
    /// The training label of a job that ran `run_time_s` seconds.
    pub fn label(self, run_time_s: f64) -> f64 {
        match self {
            Self::Log1pRunTime => run_time_s.max(0.0).ln_1p(),
        }
    }

    /// Seconds of a prediction `value` in target units.
    pub fn seconds(self, value: f64) -> f64 {
        match self {
            Self::Log1pRunTime => value.exp_m1(),
        }
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Log1pRunTime => "log1p(run_time_s)",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_label_and_its_inverse_round_trip_and_the_name_is_the_manifest_s() {
        let t = Target::Log1pRunTime;
        for seconds in [0.0, 1.0, 3600.0, 7.0 * 86_400.0] {
            assert!((t.seconds(t.label(seconds)) - seconds).abs() < 1e-6 * seconds.max(1.0));
        }
        assert_eq!(t.label(-5.0), 0.0);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"log1p(run_time_s)\"");
        assert_eq!(json.trim_matches('"'), t.to_string());
        let unknown = serde_json::from_str::<Target>("\"sqrt(run_time_s)\"").unwrap_err();
        assert!(
            unknown.to_string().contains("log1p(run_time_s)"),
            "{unknown}"
        );
    }
}
