//! Ablation: the same evaluation without one family of features at a time,
//! so a log's owner (and the next person adding features) sees what each
//! kind of information is worth on that log.
//!
//! Families are named by patterns over the feature names the SQL gives
//! (`*` matches any run of characters); a feature belongs to the first
//! family one of whose patterns it matches.

use rtp_bundle::manifest::AblationRow;

use super::{Protocol, evaluate};
use crate::config::{StateFilter, TrainOptions};
use crate::error::Result;
use crate::frame::FeatureFrame;

/// Feature families, first match wins.
pub const FAMILIES: [(&str, &[&str]); 11] = [
    ("mean ratio applied", &["f_*_ratio_applied_log"]),
    ("queue at submit", &["f_*_pending", "f_*_running"]),
    ("recency", &["f_*_secs_since_*"]),
    (
        "template history",
        &["f_user_req_*", "f_user_req_size_*", "f_user_name_*"],
    ),
    ("user history", &["f_user_*"]),
    ("account history", &["f_account_*"]),
    ("partition history", &["f_partition_*"]),
    ("identity", &["cat_*"]),
    ("calendar", &["f_submit_*"]),
    ("request", &["f_log_req_wallclock"]),
    ("size", &["f_*"]),
];

/// Whether `name` matches `pattern`, where `*` matches any run of
/// characters (including none).
fn matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

/// The family of feature `name`, if any.
pub fn family_of(name: &str) -> Option<&'static str> {
    FAMILIES
        .iter()
        .find(|(_, patterns)| patterns.iter().any(|p| matches(p, name)))
        .map(|(family, _)| *family)
}

/// `frame` without the features of `family`.
fn without(frame: &FeatureFrame, family: &str) -> FeatureFrame {
    let keep = |name: &str| family_of(name) != Some(family);
    let mut out = frame.clone();
    out.numeric.retain(|c| keep(&c.name));
    out.categorical.retain(|c| keep(&c.name));
    out
}

/// The evaluation under `protocol` without each family that has features
/// in `frame`, in [`FAMILIES`] order.
pub fn ablation(
    frame: &FeatureFrame,
    states: &StateFilter,
    protocol: Protocol,
    options: &TrainOptions,
) -> Result<Vec<AblationRow>> {
    let names = frame.feature_names();
    let mut rows = Vec::new();
    for (family, _) in FAMILIES {
        let features = names
            .iter()
            .filter(|n| family_of(n) == Some(family))
            .count();
        if features == 0 {
            continue;
        }
        tracing::info!(family, features, "evaluating without a feature family");
        let evaluation = evaluate(&without(frame, family), states, protocol, options)?;
        rows.push(AblationRow {
            family: family.to_owned(),
            features: features as u32,
            without: evaluation.summary.model,
        });
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_names() {
        assert!(matches("f_*_pending", "f_partition_pending"));
        assert!(!matches("f_*_pending", "f_partition_pending_x"));
        assert!(matches("f_*_secs_since_*", "f_user_secs_since_last_end"));
        assert!(matches("f_log_req_wallclock", "f_log_req_wallclock"));
        assert!(!matches("f_log_req_wallclock", "f_log_req_wallclock2"));
        assert!(matches("cat_*", "cat_"));
        assert!(!matches("f_*_x_*_x", "f_x"));
    }

    #[test]
    fn every_feature_of_the_sql_has_one_family() {
        let cases = [
            ("f_user_ratio_applied_log", "mean ratio applied"),
            ("f_partition_running", "queue at submit"),
            ("f_user_req_secs_since_prev_submit", "recency"),
            ("f_user_req_size_mean_log_rt", "template history"),
            ("f_user_name_n", "template history"),
            ("f_user_median_log_rt", "user history"),
            ("f_account_timeout_share", "account history"),
            ("f_partition_n", "partition history"),
            ("cat_qos", "identity"),
            ("f_submit_weekday", "calendar"),
            ("f_log_req_wallclock", "request"),
            ("f_mem_per_processor_mb", "size"),
        ];
        for (name, family) in cases {
            assert_eq!(family_of(name), Some(family), "{name}");
        }
        assert_eq!(family_of("base_last2_s"), None);
    }
}
