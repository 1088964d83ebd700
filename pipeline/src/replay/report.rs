//! The table `rtp replay` prints.

use rtp_bundle::manifest::{ReplayRun, SchedulingReplay};

/// Renders the runs of a replay, the test period then the whole trace.
pub fn render_replay(replay: &SchedulingReplay) -> String {
    let mut out = format!("replay: {}\n", replay.setting());
    if !replay.skipped.is_empty() {
        let skipped: Vec<String> = replay
            .skipped
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        out.push_str(&format!(
            "not simulated in the test period: {}\n",
            skipped.join(", ")
        ));
    }
    out.push_str(&format!(
        "{:<26} {:>7} {:>9} {:>10} {:>11} {:>8} {:>8}\n",
        "schedule", "jobs", "wait_h", "bsld", "utilisation", "killed", "wasted"
    ));
    let row = |period: &str, run: &ReplayRun| {
        format!(
            "{:<26} {:>7} {:>9.3} {:>10.2} {:>11.3} {:>8.3} {:>8.3}\n",
            format!("{period} {}", run.estimates),
            run.jobs,
            run.mean_wait_h,
            run.bounded_slowdown,
            run.utilisation,
            run.killed_share,
            run.wasted_share
        )
    };
    for run in &replay.runs {
        out.push_str(&row("test period,", run));
    }
    for run in &replay.whole_trace {
        out.push_str(&row("whole trace,", run));
    }
    let run = |name: &str| replay.runs.iter().find(|r| r.estimates == name);
    if let (Some(requests), Some(suggestions)) = (run("requests"), run("suggestions")) {
        let change = |new: f64, old: f64| {
            if old > 0.0 {
                format!("{:+.1} %", (new / old - 1.0) * 100.0)
            } else {
                "-".to_owned()
            }
        };
        out.push_str(&format!(
            "suggestions against requests: wait {}, bounded slowdown {}\n",
            change(suggestions.mean_wait_h, requests.mean_wait_h),
            change(suggestions.bounded_slowdown, requests.bounded_slowdown)
        ));
        if let Some(predictions) = run("predictions") {
            out.push_str(&format!(
                "predictions against requests: wait {}, bounded slowdown {}\n",
                change(predictions.mean_wait_h, requests.mean_wait_h),
                change(predictions.bounded_slowdown, requests.bounded_slowdown)
            ));
        }
    }
    out
}
