//! A scored upload: every row of the file, scored or with its error, the
//! summary the batch page shows, and the CSV the user downloads. The last
//! few are kept in memory so the table can be paged and downloaded.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write;
use std::sync::{Arc, Mutex};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, RecordBatch};

use crate::error::DashboardError;
use crate::upload::ParsedUpload;

/// One row of the upload after scoring.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultRow {
    /// Line of the file.
    pub line: usize,
    /// `job_id`.
    pub job_id: String,
    /// `user`.
    pub user: String,
    /// `partition`.
    pub partition: String,
    /// Requested nodes (0 when the row is invalid).
    pub nodes: i64,
    /// Requested wallclock, seconds (NaN when the row is invalid).
    pub wallclock_req_s: f64,
    /// Predicted p10, p50, p90, seconds; `None` when not scored.
    pub quantiles: Option<[f64; 3]>,
    /// The likely runtime (most likely within 2× of the actual), seconds.
    pub likely_s: Option<f64>,
    /// Suggested wallclock request, seconds.
    pub suggested_s: Option<f64>,
    /// The request is above the alert factor times the p90.
    pub overestimated: bool,
    /// Why the row was not scored.
    pub error: Option<String>,
}

/// Totals over an upload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Rows in the file.
    pub rows: usize,
    /// Rows scored.
    pub scored: usize,
    /// Rows with an error.
    pub failed: usize,
    /// Scored rows flagged as overestimated.
    pub overestimated: usize,
    /// Node-hours the scored rows request.
    pub requested_node_hours: f64,
    /// Node-hours had they requested the suggestion.
    pub suggested_node_hours: f64,
    /// Model version that scored them.
    pub model_version: String,
}

/// An upload after scoring.
#[derive(Debug)]
pub struct ScoredUpload {
    /// Random id in URLs.
    pub id: String,
    /// The uploaded file's name.
    pub file_name: String,
    /// Every row, in file order.
    pub rows: Vec<ResultRow>,
    /// Totals.
    pub summary: Summary,
    /// Columns of the file that were not read.
    pub unknown_columns: Vec<String>,
}

fn floats<'a>(batch: &'a RecordBatch, name: &str) -> Option<&'a arrow_array::Float64Array> {
    batch
        .column_by_name(name)
        .and_then(|c| c.as_primitive_opt::<Float64Type>())
}

/// What the Flight server said about one row.
#[derive(Debug)]
struct Prediction {
    quantiles: Option<[f64; 3]>,
    likely_s: Option<f64>,
    suggested_s: Option<f64>,
    error: Option<String>,
}

/// The model version of a scored batch (one dictionary value per batch).
fn first_version(batch: &RecordBatch) -> Option<String> {
    let dictionary = batch
        .column_by_name("model_version")?
        .as_dictionary_opt::<arrow_array::types::Int32Type>()?;
    let key = dictionary.keys().iter().flatten().next()?;
    let values = dictionary.values().as_string_opt::<i32>()?;
    Some(values.value(key as usize).to_owned())
}

impl ScoredUpload {
    /// Joins the parsed rows with the Flight server's scored batches
    /// (matched by `job_key` = line). `factor` flags overestimates.
    pub fn build(
        id: String,
        file_name: String,
        parsed: ParsedUpload,
        scored: &[RecordBatch],
        factor: f64,
    ) -> Result<Self, DashboardError> {
        let malformed = |what: &str| DashboardError::Upstream {
            service: "Flight server",
            address: String::new(),
            message: format!("scored batches lack {what}"),
            rejected: false,
        };
        let mut by_line: HashMap<usize, Prediction> = HashMap::new();
        let mut model_version = String::new();
        for batch in scored {
            let keys = batch
                .column_by_name("job_key")
                .and_then(|c| c.as_primitive_opt::<Int64Type>())
                .ok_or_else(|| malformed("job_key"))?;
            let [p10, p50, p90, likely, suggested] = [
                "pred_p10",
                "pred_p50",
                "pred_p90",
                "pred_likely",
                "suggested_wallclock",
            ]
            .map(|n| floats(batch, n).ok_or_else(|| malformed(n)));
            let (p10, p50, p90, likely, suggested) = (p10?, p50?, p90?, likely?, suggested?);
            let errors = batch
                .column_by_name("error")
                .and_then(|c| c.as_string_opt::<i32>());
            if model_version.is_empty()
                && let Some(version) = first_version(batch)
            {
                model_version = version;
            }
            for i in 0..batch.num_rows() {
                let error = errors
                    .filter(|e| e.is_valid(i))
                    .map(|e| e.value(i).to_owned());
                let quantiles = (error.is_none() && p50.is_valid(i))
                    .then(|| [p10.value(i), p50.value(i), p90.value(i)]);
                let suggestion = suggested.is_valid(i).then(|| suggested.value(i));
                by_line.insert(
                    keys.value(i) as usize,
                    Prediction {
                        quantiles,
                        likely_s: quantiles.and(likely.is_valid(i).then(|| likely.value(i))),
                        suggested_s: suggestion,
                        error,
                    },
                );
            }
        }
        let mut rows: Vec<ResultRow> = Vec::with_capacity(parsed.jobs.len() + parsed.invalid.len());
        for job in &parsed.jobs {
            let Prediction {
                quantiles,
                likely_s,
                suggested_s,
                error,
            } = by_line.remove(&job.line).unwrap_or(Prediction {
                quantiles: None,
                likely_s: None,
                suggested_s: None,
                error: Some("the Flight server returned no prediction".into()),
            });
            rows.push(ResultRow {
                line: job.line,
                job_id: job.job.job_id.clone(),
                user: job.job.user.clone().unwrap_or_default(),
                partition: job.job.partition.clone().unwrap_or_default(),
                nodes: job.nodes(),
                wallclock_req_s: job.wallclock_req_s(),
                overestimated: quantiles.is_some_and(|q| job.wallclock_req_s() > factor * q[2]),
                quantiles,
                likely_s,
                suggested_s,
                error,
            });
        }
        for bad in &parsed.invalid {
            rows.push(ResultRow {
                line: bad.line,
                job_id: bad.job_id.clone(),
                user: String::new(),
                partition: String::new(),
                nodes: 0,
                wallclock_req_s: f64::NAN,
                quantiles: None,
                likely_s: None,
                suggested_s: None,
                overestimated: false,
                error: Some(bad.message.clone()),
            });
        }
        rows.sort_by_key(|r| r.line);
        let mut summary = Summary {
            rows: rows.len(),
            model_version,
            ..Default::default()
        };
        for row in &rows {
            match (row.quantiles, row.suggested_s) {
                (Some(_), Some(suggested)) => {
                    summary.scored += 1;
                    summary.overestimated += usize::from(row.overestimated);
                    summary.requested_node_hours += row.wallclock_req_s * row.nodes as f64 / 3600.0;
                    summary.suggested_node_hours += suggested * row.nodes as f64 / 3600.0;
                }
                _ => summary.failed += 1,
            }
        }
        Ok(Self {
            id,
            file_name,
            rows,
            summary,
            unknown_columns: parsed.unknown_columns,
        })
    }

    /// Number of pages of `size` rows.
    pub fn pages(&self, size: usize) -> usize {
        self.rows.len().div_ceil(size).max(1)
    }

    /// Rows of page `page` (from 1).
    pub fn page(&self, page: usize, size: usize) -> &[ResultRow] {
        let start = (page.saturating_sub(1) * size).min(self.rows.len());
        &self.rows[start..(start + size).min(self.rows.len())]
    }

    /// Every row as CSV, for download.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "line,job_id,user,partition,nodes_req,wallclock_req_s,pred_p10_s,pred_p50_s,pred_p90_s,pred_likely_s,suggested_wallclock_s,overestimated,error\n",
        );
        let number = |v: Option<f64>| {
            v.filter(|v| v.is_finite())
                .map_or(String::new(), |v| format!("{v:.0}"))
        };
        for r in &self.rows {
            let q = |i: usize| number(r.quantiles.map(|q| q[i]));
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                r.line,
                csv_field(&r.job_id),
                csv_field(&r.user),
                csv_field(&r.partition),
                if r.nodes > 0 {
                    r.nodes.to_string()
                } else {
                    String::new()
                },
                number(Some(r.wallclock_req_s)),
                q(0),
                q(1),
                q(2),
                number(r.likely_s),
                number(r.suggested_s),
                if r.quantiles.is_some() {
                    r.overestimated.to_string()
                } else {
                    String::new()
                },
                csv_field(r.error.as_deref().unwrap_or_default()),
            );
        }
        out
    }
}

/// A CSV field, quoted when it needs to be. A leading `=`, `+`, `-` or `@`
/// gets a quote mark so a spreadsheet shows it instead of evaluating it.
fn csv_field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// The last scored uploads, newest last.
#[derive(Debug)]
pub struct UploadStore {
    kept: usize,
    uploads: Mutex<VecDeque<Arc<ScoredUpload>>>,
}

impl UploadStore {
    /// A store keeping `kept` uploads.
    pub fn new(kept: usize) -> Self {
        Self {
            kept,
            uploads: Mutex::new(VecDeque::new()),
        }
    }

    /// Keeps `upload`, dropping the oldest beyond the limit.
    pub fn insert(&self, upload: ScoredUpload) -> Arc<ScoredUpload> {
        let upload = Arc::new(upload);
        let mut uploads = self.uploads.lock().expect("upload store lock");
        uploads.push_back(Arc::clone(&upload));
        while uploads.len() > self.kept {
            uploads.pop_front();
        }
        upload
    }

    /// The upload `id`.
    pub fn get(&self, id: &str) -> Result<Arc<ScoredUpload>, DashboardError> {
        self.uploads
            .lock()
            .expect("upload store lock")
            .iter()
            .find(|u| u.id == id)
            .cloned()
            .ok_or_else(|| DashboardError::UnknownUpload(id.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{BooleanArray, Float64Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};

    use super::*;
    use crate::upload::parse;

    fn scored(lines: &[i64], p50: &[f64], errors: &[Option<&str>]) -> RecordBatch {
        let f = |name: &str| Field::new(name, DataType::Float64, true);
        let schema = Schema::new(vec![
            Field::new("job_key", DataType::Int64, false),
            f("pred_p10"),
            f("pred_p50"),
            f("pred_p90"),
            f("pred_likely"),
            f("suggested_wallclock"),
            Field::new("overestimated", DataType::Boolean, true),
            Field::new("error", DataType::Utf8, true),
        ]);
        let p = |m: f64| {
            Arc::new(Float64Array::from(
                p50.iter().map(|v| v * m).collect::<Vec<_>>(),
            ))
        };
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(lines.to_vec())),
                p(0.5),
                p(1.0),
                p(2.0),
                p(0.9),
                p(2.0),
                Arc::new(BooleanArray::from(vec![false; lines.len()])),
                Arc::new(StringArray::from(errors.to_vec())),
            ],
        )
        .unwrap()
    }

    #[test]
    fn rows_keep_file_order_and_errors_of_both_kinds() {
        let csv = "job_id,nodes_req,processors_req,wallclock_req\n\
                   a,2,72,36000\nb,0,1,60\nc,1,36,3600\n=cmd,1,1,600\n";
        let parsed = parse(csv.as_bytes(), 0).unwrap();
        let batch = scored(
            &[2, 4, 5],
            &[1000.0, 1500.0, 100.0],
            &[None, None, Some("bad user")],
        );
        let upload =
            ScoredUpload::build("x".into(), "f.csv".into(), parsed, &[batch], 2.0).unwrap();
        let lines: Vec<usize> = upload.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5]);
        assert!(upload.rows[0].overestimated); // 36000 > 2 × 2000
        assert!(!upload.rows[2].overestimated); // 3600 ≤ 2 × 3000
        assert!(
            upload.rows[1]
                .error
                .as_deref()
                .unwrap()
                .starts_with("nodes_req")
        );
        assert_eq!(upload.rows[3].error.as_deref(), Some("bad user"));
        let s = &upload.summary;
        assert_eq!((s.rows, s.scored, s.failed, s.overestimated), (4, 2, 2, 1));
        assert!((s.requested_node_hours - 21.0).abs() < 1e-9); // 2 × 10 h + 1 h
        assert!((s.suggested_node_hours - (2.0 * 2000.0 + 3000.0) / 3600.0).abs() < 1e-9);
        assert_eq!(upload.pages(3), 2);
        assert_eq!(upload.page(2, 3).len(), 1);
        let csv = upload.to_csv();
        assert_eq!(csv.lines().count(), 5);
        assert!(csv.contains("\n5,'=cmd,"), "{csv}");
        assert!(
            csv.contains("\n3,b,,,,,,,,,,,nodes_req: must be at least 1 (got 0)\n"),
            "{csv}"
        );
    }

    #[test]
    fn the_store_keeps_the_newest() {
        let store = UploadStore::new(2);
        for id in ["a", "b", "c"] {
            store.insert(ScoredUpload {
                id: id.into(),
                file_name: String::new(),
                rows: Vec::new(),
                summary: Summary::default(),
                unknown_columns: Vec::new(),
            });
        }
        assert!(store.get("a").is_err());
        assert!(store.get("c").is_ok());
    }
}
