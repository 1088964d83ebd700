//! `max_ratio5`: the per-user heuristic published comparisons use as the
//! strongest simple baseline. A job's prediction is its request times the
//! largest run/request ratio among its user's last five jobs that ended
//! strictly before its submit, capped at the request; with no such job, the
//! request itself. Only what was known at the submit is used.

use std::collections::{HashMap, VecDeque};

use crate::frame::{FeatureFrame, MISSING_ID};

/// Ended jobs of the user the heuristic looks back over.
pub const MAX_RATIO_JOBS: usize = 5;

/// The categorical feature naming the submitting user.
const USER_COLUMN: &str = "cat_user";

/// The heuristic's prediction for each of `rows`, seconds (NaN where the
/// row has no request).
pub fn max_ratio_baseline(frame: &FeatureFrame, rows: &[usize]) -> Vec<f64> {
    let users = frame
        .categorical
        .iter()
        .find(|c| c.name == USER_COLUMN)
        .map(|c| c.ids.as_slice());
    let request = |r: usize| {
        let req = frame.wallclock_req_s[r];
        (req.is_finite() && req > 0.0).then_some(req)
    };
    // Jobs that ended with a runtime and a request, by end time; jobs that
    // ended in the same second by job key, so that which of them are a
    // user's last five does not depend on the frame's row order.
    let mut ended: Vec<(i64, i64, usize)> = match users {
        Some(users) => (0..frame.len())
            .filter(|&r| {
                frame.end_s[r] != i64::MAX
                    && users[r] != MISSING_ID
                    && frame.run_time_s[r].is_finite()
                    && frame.run_time_s[r] >= 0.0
                    && request(r).is_some()
            })
            .map(|r| (frame.end_s[r], frame.job_key[r], r))
            .collect(),
        None => Vec::new(),
    };
    ended.sort_unstable();
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.sort_by_key(|&i| frame.submit_s[rows[i]]);
    let mut recent: HashMap<u32, VecDeque<f64>> = HashMap::new();
    let mut next = 0;
    let mut out = vec![f64::NAN; rows.len()];
    for i in order {
        let row = rows[i];
        let submit = frame.submit_s[row];
        while next < ended.len() && ended[next].0 < submit {
            let r = ended[next].2;
            let user = users.expect("ended jobs need users")[r];
            let ratios = recent.entry(user).or_default();
            ratios.push_back(frame.run_time_s[r] / frame.wallclock_req_s[r]);
            if ratios.len() > MAX_RATIO_JOBS {
                ratios.pop_front();
            }
            next += 1;
        }
        let Some(req) = request(row) else {
            continue;
        };
        let largest = users
            .and_then(|u| recent.get(&u[row]))
            .and_then(|ratios| ratios.iter().copied().reduce(f64::max));
        out[i] = largest.map_or(req, |ratio| (req * ratio).min(req));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::CategoricalColumn;

    /// (user, submit, end, run, request) per job.
    fn frame(jobs: &[(&str, i64, i64, f64, f64)]) -> FeatureFrame {
        FeatureFrame {
            job_key: (0..jobs.len() as i64).collect(),
            submit_s: jobs.iter().map(|j| j.1).collect(),
            end_s: jobs.iter().map(|j| j.2).collect(),
            run_time_s: jobs.iter().map(|j| j.3).collect(),
            wallclock_req_s: jobs.iter().map(|j| j.4).collect(),
            categorical: vec![CategoricalColumn::from_values(
                "cat_user",
                jobs.iter().map(|j| Some(j.0)),
            )],
            ..Default::default()
        }
    }

    #[test]
    fn the_largest_recent_ratio_of_the_users_own_ended_jobs() {
        let f = frame(&[
            ("ann", 0, 100, 50.0, 100.0),    // ratio 0.5
            ("ann", 10, 200, 80.0, 100.0),   // ratio 0.8, ends at 200
            ("bob", 20, 150, 90.0, 100.0),   // another user's 0.9
            ("ann", 300, 400, 10.0, 1000.0), // ann's next job
            ("ann", 200, 500, 10.0, 1000.0), // submitted as ann's second ended
            ("cy", 300, 400, 10.0, 600.0),   // no history: the request
        ]);
        let p = max_ratio_baseline(&f, &[3, 4, 5]);
        assert_eq!(p[0], 800.0, "0.8 × 1000");
        // Ended strictly before 200: only the first (the second ends at 200).
        assert_eq!(p[1], 500.0);
        assert_eq!(p[2], 600.0);
    }

    #[test]
    fn only_the_last_five_count_and_the_request_caps() {
        // Six ended jobs: an overrun (ratio 2) first, then five of 0.1.
        let mut jobs = vec![("ann", 0, 10, 200.0, 100.0)];
        jobs.extend((1..=5).map(|i| ("ann", i * 10, i * 10 + 5, 10.0, 100.0)));
        jobs.push(("ann", 1000, 2000, 1.0, 100.0));
        let f = frame(&jobs);
        assert_eq!(max_ratio_baseline(&f, &[6]), [10.0]);
        // Within the last five, an overrun is capped at the request.
        let f = frame(&[("ann", 0, 10, 200.0, 100.0), ("ann", 50, 60, 1.0, 100.0)]);
        assert_eq!(max_ratio_baseline(&f, &[1]), [100.0]);
    }

    #[test]
    fn jobs_ending_in_the_same_second_count_in_job_key_order_whatever_the_row_order() {
        // Six jobs end at once: job 0's overrun comes first by key, so it is
        // not among the last five, in whichever order the rows are stored.
        let mut jobs = vec![("ann", 0, 100, 200.0, 100.0)];
        jobs.extend((1..=5).map(|i| ("ann", i, 100, 10.0, 100.0)));
        jobs.push(("ann", 1000, 2000, 1.0, 100.0));
        let f = frame(&jobs);
        assert_eq!(max_ratio_baseline(&f, &[6]), [10.0]);
        jobs.reverse();
        let mut reversed = frame(&jobs);
        reversed.job_key.reverse();
        assert_eq!(max_ratio_baseline(&reversed, &[0]), [10.0]);
    }
}
