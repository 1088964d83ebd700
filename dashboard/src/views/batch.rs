//! The batch page: a CSV of jobs in, each row scored through the Flight
//! server or marked with its error, a paged table, a summary of requested
//! vs. suggested node-hours, and the scored rows as CSV.

use std::sync::Arc;

use askama::Template;
use axum::extract::{Multipart, Path};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::{PageHeader, State, html, htmx_only, page, page_header};
use crate::batch_results::{ResultRow, ScoredUpload, Summary};
use crate::error::DashboardError;
use crate::format::{clock, duration, fixed, percent, thousands};
use crate::routes::{Route, batch_csv, batch_page};
use crate::upload::{COLUMNS, OUTCOME_COLUMNS, REQUIRED, parse, template_csv, to_batch};

/// Multipart overhead allowed beyond the file limit (boundaries, headers).
const MULTIPART_SLACK: usize = 64 * 1024;

/// The batch page.
#[derive(Debug, Template)]
#[template(path = "batch.html")]
pub struct BatchPage {
    /// Layout.
    pub header: PageHeader,
    /// Columns read, in template order.
    pub columns: Vec<&'static str>,
    /// Required columns.
    pub required: Vec<&'static str>,
    /// Outcome columns accepted and ignored.
    pub ignored: Vec<&'static str>,
    /// Upload limit, e.g. `16 MiB`.
    pub limit: String,
    /// Template download URL.
    pub template_url: &'static str,
}

/// The result of an upload: summary and first page.
#[derive(Debug, Template)]
#[template(path = "batch_partial.html")]
pub struct BatchPartial {
    /// Summary numbers.
    pub summary: SummaryView,
    /// The first page of the table.
    pub table: TableView,
}

/// One page of the table.
#[derive(Debug, Template)]
#[template(path = "batch_table_partial.html")]
pub struct BatchTablePartial {
    /// The page.
    pub table: TableView,
}

/// The summary, ready to show.
#[derive(Debug, Clone)]
pub struct SummaryView {
    /// File name.
    pub file_name: String,
    /// Counts.
    pub rows: usize,
    /// Rows scored.
    pub scored: usize,
    /// Rows with an error.
    pub failed: usize,
    /// Overestimated rows.
    pub overestimated: usize,
    /// Overestimated share.
    pub overestimated_share: String,
    /// Node-hours requested.
    pub requested_node_hours: String,
    /// Node-hours suggested.
    pub suggested_node_hours: String,
    /// Node-hours that suggestions would free.
    pub freed_node_hours: String,
    /// Model version.
    pub model_version: String,
    /// CSV download URL.
    pub csv_url: String,
    /// Columns ignored.
    pub unknown_columns: String,
}

/// A page of rows.
#[derive(Debug, Clone)]
pub struct TableView {
    /// Rows of this page.
    pub rows: Vec<RowView>,
    /// This page, from 1.
    pub page: usize,
    /// Number of pages.
    pub pages: usize,
    /// URL of the previous page.
    pub previous: Option<String>,
    /// URL of the next page.
    pub next: Option<String>,
}

/// A row, ready to show.
#[derive(Debug, Clone)]
pub struct RowView {
    /// File line.
    pub line: usize,
    /// Job id.
    pub job_id: String,
    /// User.
    pub user: String,
    /// Partition.
    pub partition: String,
    /// Nodes.
    pub nodes: String,
    /// Request.
    pub requested: String,
    /// The likely runtime.
    pub likely: String,
    /// p50.
    pub p50: String,
    /// p10–p90.
    pub interval: String,
    /// Suggested request, `HH:MM:SS`.
    pub suggested: String,
    /// Flagged.
    pub overestimated: bool,
    /// The row's error.
    pub error: Option<String>,
}

impl RowView {
    fn new(row: &ResultRow) -> Self {
        let q = row.quantiles;
        Self {
            line: row.line,
            job_id: row.job_id.clone(),
            user: row.user.clone(),
            partition: row.partition.clone(),
            nodes: if row.nodes > 0 {
                row.nodes.to_string()
            } else {
                String::new()
            },
            requested: if row.wallclock_req_s.is_finite() {
                duration(row.wallclock_req_s)
            } else {
                String::new()
            },
            likely: row.likely_s.map_or(String::new(), duration),
            p50: q.map_or(String::new(), |q| duration(q[1])),
            interval: q.map_or(String::new(), |q| {
                format!("{} – {}", duration(q[0]), duration(q[2]))
            }),
            suggested: row.suggested_s.map_or(String::new(), clock),
            overestimated: row.overestimated,
            error: row.error.clone(),
        }
    }
}

fn summary_view(upload: &ScoredUpload) -> SummaryView {
    let Summary {
        rows,
        scored,
        failed,
        overestimated,
        requested_node_hours,
        suggested_node_hours,
        ref model_version,
    } = upload.summary;
    SummaryView {
        file_name: upload.file_name.clone(),
        rows,
        scored,
        failed,
        overestimated,
        overestimated_share: percent(if scored > 0 {
            overestimated as f64 / scored as f64
        } else {
            f64::NAN
        }),
        requested_node_hours: fixed_or_thousands(requested_node_hours),
        suggested_node_hours: fixed_or_thousands(suggested_node_hours),
        freed_node_hours: fixed_or_thousands(requested_node_hours - suggested_node_hours),
        model_version: model_version.clone(),
        csv_url: batch_csv(&upload.id),
        unknown_columns: upload.unknown_columns.join(", "),
    }
}

fn fixed_or_thousands(value: f64) -> String {
    if value.abs() < 100.0 {
        fixed(value, 1)
    } else {
        thousands(value)
    }
}

fn table_view(upload: &ScoredUpload, page: usize, size: usize) -> TableView {
    let pages = upload.pages(size);
    let page = page.clamp(1, pages);
    TableView {
        rows: upload.page(page, size).iter().map(RowView::new).collect(),
        page,
        pages,
        previous: (page > 1).then(|| batch_page(&upload.id, page - 1)),
        next: (page < pages).then(|| batch_page(&upload.id, page + 1)),
    }
}

/// `GET /batch`.
pub async fn show(state: State, headers: HeaderMap) -> Result<Response, DashboardError> {
    let (header, cookie) = page_header(&state, &headers, Route::Batch, "Score a batch of jobs");
    page(
        &BatchPage {
            header,
            columns: COLUMNS.to_vec(),
            required: REQUIRED.to_vec(),
            ignored: OUTCOME_COLUMNS.to_vec(),
            limit: limit_text(state.config.max_upload_bytes),
            template_url: Route::BatchTemplate.path(),
        },
        cookie,
    )
}

fn limit_text(bytes: usize) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    if mib.fract() == 0.0 {
        format!("{mib:.0}")
    } else {
        format!("{mib:.2}")
    }
}

/// `GET /batch/template.csv`.
pub async fn template() -> Response {
    csv_download("rt-predictor-jobs-template.csv", template_csv())
}

fn csv_download(name: &str, body: String) -> Response {
    (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// `POST /batch` (htmx, multipart with a `file` field).
pub async fn upload(
    state: State,
    headers: HeaderMap,
    mut multipart: Multipart,
) -> Result<Response, DashboardError> {
    let limit = state.config.max_upload_bytes;
    let too_large = || DashboardError::TooLarge {
        limit_mib: limit_text(limit),
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit + MULTIPART_SLACK) {
        return Err(too_large());
    }
    let mut file: Option<(String, Vec<u8>)> = None;
    while let Some(mut field) = multipart
        .next_field()
        .await
        .map_err(|e| DashboardError::Invalid(format!("reading the upload: {e}")))?
    {
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().unwrap_or("upload.csv").to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| DashboardError::Invalid(format!("reading the upload: {e}")))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        file = Some((name, bytes));
    }
    let (file_name, bytes) =
        file.ok_or_else(|| DashboardError::Invalid("choose a CSV file to upload".into()))?;
    let parsed = parse(&bytes, chrono::Utc::now().timestamp())?;
    let scored = if parsed.jobs.is_empty() {
        Vec::new()
    } else {
        state
            .flight
            .score(&to_batch(&parsed.jobs))
            .await
            .inspect_err(|_| state.metrics.upstream_failure("flight"))?
    };
    let upload = ScoredUpload::build(
        crate::csrf::new_token()[..16].to_owned(),
        file_name,
        parsed,
        &scored,
        state.config.overestimate_factor,
    )?;
    state
        .metrics
        .upload(upload.summary.scored, upload.summary.failed);
    let upload: Arc<ScoredUpload> = state.uploads.insert(upload);
    let partial = BatchPartial {
        summary: summary_view(&upload),
        table: table_view(&upload, 1, state.config.page_rows),
    };
    Ok(html(StatusCode::OK, partial.render()?))
}

/// `GET /batch/{id}/page/{page}` (htmx only).
pub async fn table_page(
    state: State,
    headers: HeaderMap,
    Path((id, page)): Path<(String, usize)>,
) -> Result<Response, DashboardError> {
    if let Some(redirect) = htmx_only(&headers, Route::Batch.path()) {
        return Ok(redirect);
    }
    let upload = state.uploads.get(&id)?;
    let partial = BatchTablePartial {
        table: table_view(&upload, page, state.config.page_rows),
    };
    Ok(html(StatusCode::OK, partial.render()?))
}

/// `GET /batch/{id}/scored.csv`.
pub async fn download(state: State, Path(id): Path<String>) -> Result<Response, DashboardError> {
    let upload = state.uploads.get(&id)?;
    let stem = upload
        .file_name
        .trim_end_matches(".csv")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect::<String>();
    Ok(csv_download(&format!("{stem}-scored.csv"), upload.to_csv()))
}
