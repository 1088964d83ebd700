//! The evaluation table printed by `rtp evaluate`.

use rtp_bundle::QualityMetrics;
use rtp_bundle::evaluation_details::IntervalBucket;
use rtp_bundle::manifest::EvaluationSummary;

/// Renders each member, the blend and the baselines as a fixed-width table.
pub fn render_table(summary: &EvaluationSummary) -> String {
    let mut out = format!(
        "protocol: {}   test jobs: {}\n",
        summary.protocol, summary.n_test
    );
    let served_name = |mode: &str| format!("served {mode}");
    // The name column fits its longest label.
    let width = summary
        .members
        .keys()
        .map(String::len)
        .chain(summary.baselines.keys().map(String::len))
        .chain(summary.serving.iter().map(|s| served_name(&s.mode).len()))
        .fold(14, usize::max);
    out.push_str(&format!(
        "{:<width$} {:>8} {:>10} {:>8} {:>7} {:>8} {:>9} {:>12} {:>10} {:>9} {:>8}\n",
        "predictor",
        "mae_h",
        "medae_min",
        "rmse_h",
        "r2",
        "mape_pct",
        "within_2x",
        "within_10min",
        "under_rate",
        "coverage",
        "width_ln"
    ));
    let row = |name: &str, m: &QualityMetrics| {
        format!(
            "{:<width$} {:>8.3} {:>10.2} {:>8.3} {:>7.3} {:>8.1} {:>9.3} {:>12.3} {:>10.3} {:>9} {:>8}\n",
            name,
            m.mae_h,
            m.medae_min,
            m.rmse_h,
            m.r2,
            m.mape_pct,
            m.within_2x,
            m.within_10min,
            m.under_rate,
            m.coverage_p10_p90
                .map_or("-".to_owned(), |c| format!("{c:.3}")),
            m.interval_width_ln
                .map_or("-".to_owned(), |w| format!("{w:.3}")),
        )
    };
    for (name, m) in &summary.members {
        out.push_str(&row(name, m));
    }
    out.push_str(&row("blend", &summary.model));
    if let Some(likely) = &summary.likely {
        out.push_str(&row("blend likely", likely));
    }
    for (name, m) in &summary.baselines {
        out.push_str(&row(name, m));
    }
    for served in &summary.serving {
        out.push_str(&row(&served_name(&served.mode), &served.model));
    }
    let mode = |name: &str| summary.serving.iter().find(|s| s.mode == name);
    if let (Some(live), Some(frozen)) = (mode("live"), mode("frozen")) {
        out.push_str(&format!(
            "frozen vs live state: mae_h {:+.3}, within_2x {:+.3}, coverage {}\n",
            frozen.model.mae_h - live.model.mae_h,
            frozen.model.within_2x - live.model.within_2x,
            match (frozen.model.coverage_p10_p90, live.model.coverage_p10_p90) {
                (Some(f), Some(l)) => format!("{:+.3}", f - l),
                _ => "-".to_owned(),
            }
        ));
    }
    if let Some(details) = &summary.details {
        out.push_str(&interval_table(&details.interval_by_prediction));
    }
    for (name, why) in &summary.baselines_dropped {
        out.push_str(&format!("{name}: not compared, {why}\n"));
    }
    out
}

/// The blend's interval per bucket of its own p50.
fn interval_table(buckets: &[IntervalBucket]) -> String {
    let mut out = format!(
        "interval p10–p90 by predicted runtime:\n{:<14} {:>6} {:>9} {:>9} {:>9} {:>8}\n",
        "p50", "jobs", "coverage", "below", "above", "width_ln"
    );
    for b in buckets.iter().filter(|b| b.n > 0) {
        out.push_str(&format!(
            "{:<14} {:>6} {:>9.3} {:>9.3} {:>9.3} {:>8.3}\n",
            b.label, b.n, b.coverage, b.below_p10, b.above_p90, b.width_ln
        ));
    }
    out
}

/// The ablation beside the full model: each family's features and what
/// leaving them out does (a positive Δ MAE or a negative Δ within 2× means
/// the family helps).
pub fn render_ablation(summary: &EvaluationSummary) -> String {
    let full = &summary.model;
    let mut out = format!(
        "ablation (the blend without each feature family):\n{:<24} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9}\n",
        "without", "features", "mae_h", "Δ mae_h", "within_2x", "Δ 2x", "coverage"
    );
    out.push_str(&format!(
        "{:<24} {:>8} {:>8.3} {:>8} {:>9.3} {:>9} {:>9}\n",
        "(nothing)",
        "",
        full.mae_h,
        "",
        full.within_2x,
        "",
        full.coverage_p10_p90
            .map_or("-".to_owned(), |c| format!("{c:.3}"))
    ));
    for row in &summary.ablation {
        let m = &row.without;
        out.push_str(&format!(
            "{:<24} {:>8} {:>8.3} {:>+8.3} {:>9.3} {:>+9.3} {:>9}\n",
            row.family,
            row.features,
            m.mae_h,
            m.mae_h - full.mae_h,
            m.within_2x,
            m.within_2x - full.within_2x,
            m.coverage_p10_p90
                .map_or("-".to_owned(), |c| format!("{c:.3}"))
        ));
    }
    out
}
