//! The what-if page: the serving bundle's test period scheduled again by a
//! simulated cluster with the users' requests, the model's suggestions and
//! perfect knowledge as limits (`rtp replay`, stored in the bundle by
//! `rtp run`): how much sooner jobs would start.

use askama::Template;
use axum::http::HeaderMap;
use axum::response::Response;
use rtp_bundle::manifest::{ReplayRun, SchedulingReplay};

use super::{PageHeader, State, page, page_header};
use crate::charts::{Series, Svg, grouped_bars, lines};
use crate::error::DashboardError;
use crate::format::{fixed, percent, thousands};
use crate::routes::Route;

/// The what-if page.
#[derive(Debug, Template)]
#[template(path = "whatif.html")]
pub struct WhatIfPage {
    /// Layout.
    pub header: PageHeader,
    /// What the page shows.
    pub view: WhatIfView,
}

/// The replay as the page shows it.
#[derive(Debug, Default)]
pub struct WhatIfView {
    /// Whether the bundle carries a replay.
    pub replayed: bool,
    /// The simulated cluster, in words, or why there is no replay.
    pub setting: String,
    /// The verdict: suggestions against requests, in words.
    pub verdict: String,
    /// One row per run.
    pub runs: Vec<RunRow>,
    /// Mean wait per run.
    pub wait_chart: Svg,
    /// Mean bounded slowdown per run.
    pub slowdown_chart: Svg,
    /// Mean wait per day of submit, requests against suggestions.
    pub daily_chart: Svg,
}

/// One line of the runs table.
#[derive(Debug, Clone)]
pub struct RunRow {
    /// `test period` or `whole trace`.
    pub period: &'static str,
    /// `requests`, `suggestions` or `perfect`.
    pub estimates: String,
    /// Formatted: jobs, mean wait h, bounded slowdown, utilisation, killed, wasted.
    pub cells: [String; 6],
}

fn row(period: &'static str, run: &ReplayRun) -> RunRow {
    RunRow {
        period,
        estimates: run.estimates.clone(),
        cells: [
            thousands(run.jobs as f64),
            fixed(run.mean_wait_h, 2),
            fixed(run.bounded_slowdown, 1),
            percent(run.utilisation),
            percent(run.killed_share),
            percent(run.wasted_share),
        ],
    }
}

fn label(estimates: &str) -> &'static str {
    match estimates {
        "requests" => "user requests",
        "suggestions" => "suggested limits",
        "predictions" => "p50 estimates",
        _ => "perfect knowledge",
    }
}

fn class(estimates: &str) -> &'static str {
    match estimates {
        "requests" => "s1",
        "suggestions" => "s0",
        "predictions" => "s3",
        _ => "s2",
    }
}

fn verdict(replay: &SchedulingReplay) -> String {
    let run = |name: &str| replay.runs.iter().find(|r| r.estimates == name);
    let (Some(requests), Some(suggestions)) = (run("requests"), run("suggestions")) else {
        return String::new();
    };
    let change = |new: f64, old: f64| {
        if old > 0.0 {
            format!(" ({:+.1} %)", (new / old - 1.0) * 100.0)
        } else {
            String::new()
        }
    };
    let mut text = format!(
        "With the suggestions as limits instead of the users' requests, the mean wait goes \
         from {} h to {} h{} and the mean bounded slowdown from {} to {}{}; {} of the jobs \
         outlive their suggestion.",
        fixed(requests.mean_wait_h, 2),
        fixed(suggestions.mean_wait_h, 2),
        change(suggestions.mean_wait_h, requests.mean_wait_h),
        fixed(requests.bounded_slowdown, 1),
        fixed(suggestions.bounded_slowdown, 1),
        change(suggestions.bounded_slowdown, requests.bounded_slowdown),
        percent(suggestions.killed_share),
    );
    if let Some(predictions) = run("predictions") {
        text.push_str(&format!(
            " With the model's medians as the scheduler's estimates (the requests staying the \
             limits), the mean wait is {} h{} and the bounded slowdown {}{}.",
            fixed(predictions.mean_wait_h, 2),
            change(predictions.mean_wait_h, requests.mean_wait_h),
            fixed(predictions.bounded_slowdown, 1),
            change(predictions.bounded_slowdown, requests.bounded_slowdown),
        ));
    }
    text
}

impl WhatIfView {
    /// The view of a bundle's replay, if it has one.
    pub fn new(replay: Option<&SchedulingReplay>) -> Self {
        let Some(replay) = replay else {
            return Self {
                setting: "this bundle carries no replay of its test period: bundles made by \
                          `rtp run` with evaluate.replay on carry one, and `rtp replay` runs \
                          one on any trace"
                    .to_owned(),
                ..Default::default()
            };
        };
        let setting = format!("{}.", replay.setting());
        let mut runs: Vec<RunRow> = replay.runs.iter().map(|r| row("test period", r)).collect();
        runs.extend(replay.whole_trace.iter().map(|r| row("whole trace", r)));
        let names: Vec<String> = replay
            .runs
            .iter()
            .map(|r| label(&r.estimates).to_owned())
            .collect();
        let one_series = |values: Vec<f64>| {
            vec![Series {
                name: "test period",
                class: "s0",
                values,
            }]
        };
        let wait_chart = grouped_bars(
            "Mean wait of the test period's jobs, hours, by the limits the scheduler had",
            &names,
            &one_series(replay.runs.iter().map(|r| r.mean_wait_h).collect()),
            |v| format!("{v:.2} h"),
            None,
        );
        let slowdown_chart = grouped_bars(
            "Mean bounded slowdown (10 s) of the test period's jobs",
            &names,
            &one_series(replay.runs.iter().map(|r| r.bounded_slowdown).collect()),
            |v| format!("{v:.1}"),
            None,
        );
        let daily_chart = daily(replay);
        Self {
            replayed: true,
            setting,
            verdict: verdict(replay),
            runs,
            wait_chart,
            slowdown_chart,
            daily_chart,
        }
    }
}

/// Mean wait per day of submit, one line per run, over the union of days.
fn daily(replay: &SchedulingReplay) -> Svg {
    let mut days: Vec<i64> = replay
        .runs
        .iter()
        .flat_map(|r| r.daily.iter().map(|d| d.day_s))
        .collect();
    days.sort_unstable();
    days.dedup();
    let categories: Vec<String> = days
        .iter()
        .map(|&d| {
            chrono::DateTime::from_timestamp(d, 0)
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default()
        })
        .collect();
    let series: Vec<Series<'_>> = replay
        .runs
        .iter()
        .map(|run| Series {
            name: label(&run.estimates),
            class: class(&run.estimates),
            values: days
                .iter()
                .map(|day| {
                    run.daily
                        .iter()
                        .find(|d| d.day_s == *day)
                        .map_or(f64::NAN, |d| d.mean_wait_h)
                })
                .collect(),
        })
        .collect();
    lines(
        "Mean wait of the jobs submitted each day, hours",
        &categories,
        &series,
        |v| format!("{v:.1} h"),
    )
}

/// `GET /whatif`.
pub async fn show(state: State, headers: HeaderMap) -> Result<Response, DashboardError> {
    let (header, cookie) = page_header(&state, &headers, Route::WhatIf, "Scheduling what-if");
    let bundle = state.bundles.active()?;
    let replay = bundle
        .manifest
        .evaluation
        .as_ref()
        .and_then(|e| e.replay.as_ref());
    page(
        &WhatIfPage {
            header,
            view: WhatIfView::new(replay),
        },
        cookie,
    )
}
