//! Reader for NREL Eagle job data, as CSV or Parquet (the 18-column schema of
//! OEDI submission 5860). Parquet is read one record batch at a time, so the
//! 11M-row file streams in bounded memory.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Float64Type, Int64Type, TimeUnit, TimestampSecondType,
};
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};

use super::Row;
use super::quarantine::BadRow;
use super::record::{RowProblem, checked};
use crate::error::{PipelineError, Result};
use rtp_jobs::Job;
use rtp_jobs::slurm::normalize_state;
use rtp_jobs::values::{parse_f64, parse_i64, parse_timestamp};

/// The Eagle columns this reader uses (`submit_line` is ignored).
const COLUMNS: [&str; 17] = rtp_jobs::eagle::HISTORY_COLUMNS;
const REQUIRED: [&str; 3] = ["job_id", "submit_time", "state"];

fn column_index(name: &str) -> usize {
    COLUMNS
        .iter()
        .position(|c| *c == name)
        .expect("known column")
}

/// Builds a record from per-column text values (CSV) of one row.
fn record_from_text(values: &[Option<&str>]) -> Result<Job, RowProblem> {
    let text = |name: &str| {
        values[column_index(name)]
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let owned = |name: &str| text(name).map(str::to_owned);
    let float =
        |name: &str| parse_f64(text(name).unwrap_or("")).map_err(|r| RowProblem::new(name, r));
    let int =
        |name: &str| parse_i64(text(name).unwrap_or("")).map_err(|r| RowProblem::new(name, r));
    let time = |name: &str| {
        parse_timestamp(text(name).unwrap_or("")).map_err(|r| RowProblem::new(name, r))
    };
    let job_id = owned("job_id").ok_or_else(|| RowProblem::new("job_id", "missing value"))?;
    let submit_time =
        time("submit_time")?.ok_or_else(|| RowProblem::new("submit_time", "missing value"))?;
    let state = text("state")
        .map(normalize_state)
        .ok_or_else(|| RowProblem::new("state", "missing value"))?;
    checked(Job {
        job_key: None,
        job_id,
        user: owned("user"),
        account: owned("account"),
        partition: owned("partition"),
        qos: owned("qos"),
        wallclock_req_s: float("wallclock_req")?,
        nodes_req: int("nodes_req")?,
        processors_req: int("processors_req")?,
        gpus_req: int("gpus_req")?,
        // Eagle records 0 when no memory was requested: the rules make it unknown.
        mem_req_mb: float("mem_req")?,
        submit_time: Some(submit_time),
        start_time: time("start_time")?,
        end_time: time("end_time")?,
        run_time_s: float("run_time")?,
        state: Some(state),
        name: owned("name"),
        work_dir: owned("work_dir"),
    })
}

/// Streams rows of an Eagle CSV file.
pub(crate) struct EagleCsvReader {
    path: PathBuf,
    records: csv::StringRecordsIntoIter<Box<dyn Read>>,
    positions: Vec<Option<usize>>,
    width: usize,
    /// Line the last record ended on, for errors that carry no position.
    last_line: u64,
}

impl EagleCsvReader {
    /// Opens `path` and maps its header.
    pub fn open(path: &Path, input: Box<dyn Read>) -> Result<Self> {
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
        let header = reader.headers().map_err(|e| PipelineError::Unreadable {
            path: path.to_owned(),
            line: 1,
            reason: format!("header: {e}"),
        })?;
        let names: Vec<String> = header
            .iter()
            .map(|h| h.trim().to_ascii_lowercase())
            .collect();
        let positions: Vec<Option<usize>> = COLUMNS
            .iter()
            .map(|c| names.iter().position(|n| n == c))
            .collect();
        for required in REQUIRED {
            if positions[column_index(required)].is_none() {
                return Err(PipelineError::MissingColumn {
                    path: path.to_owned(),
                    column: required.into(),
                });
            }
        }
        Ok(Self {
            path: path.to_owned(),
            width: names.len(),
            records: reader.into_records(),
            positions,
            last_line: 1,
        })
    }
}

impl Iterator for EagleCsvReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        let record = match self.records.next()? {
            Ok(record) => record,
            // The file itself cannot be read on (a truncated .gz): the rest
            // of its rows are unknown, so this is no bad row but a failed input.
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => {
                return Some(Err(PipelineError::Unreadable {
                    path: self.path.clone(),
                    line: self.last_line + 1,
                    reason: e.to_string(),
                }));
            }
            Err(e) => {
                let line = e.position().map_or(self.last_line + 1, |p| p.line());
                self.last_line = line;
                return Some(Ok(Row::Bad(BadRow {
                    line,
                    field: "(row)".into(),
                    reason: format!("unreadable CSV row: {e}"),
                    raw: String::new(),
                })));
            }
        };
        let line = record.position().map_or(self.last_line + 1, |p| p.line());
        self.last_line = line;
        let raw = record.iter().collect::<Vec<_>>().join(",");
        if record.len() != self.width {
            let problem = RowProblem::field_count(self.width, record.len());
            return Some(Ok(Row::parsed(line, Err(problem), raw)));
        }
        let values: Vec<Option<&str>> = self
            .positions
            .iter()
            .map(|p| p.and_then(|i| record.get(i)))
            .collect();
        Some(Ok(Row::parsed(line, record_from_text(&values), raw)))
    }
}

/// Streams rows of an Eagle Parquet file, one record batch at a time.
pub(crate) struct EagleParquetReader {
    path: PathBuf,
    batches: ParquetRecordBatchReader,
    current: Option<TypedBatch>,
    row_in_batch: usize,
    rows_before: u64,
}

/// One batch with every used column cast to the type the record needs.
struct TypedBatch {
    columns: Vec<Option<std::sync::Arc<dyn Array>>>,
    rows: usize,
}

impl EagleParquetReader {
    /// Opens `path` for streaming.
    pub fn open(path: &Path, batch_rows: usize) -> Result<Self> {
        let file = File::open(path).map_err(PipelineError::io(path))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(PipelineError::arrow(format!("reading {}", path.display())))?;
        let schema = builder.schema().clone();
        for required in REQUIRED {
            if schema.column_with_name(required).is_none() {
                return Err(PipelineError::MissingColumn {
                    path: path.to_owned(),
                    column: required.into(),
                });
            }
        }
        let batches = builder
            .with_batch_size(batch_rows)
            .build()
            .map_err(PipelineError::arrow(format!("reading {}", path.display())))?;
        Ok(Self {
            path: path.to_owned(),
            batches,
            current: None,
            row_in_batch: 0,
            rows_before: 0,
        })
    }

    fn load(&self, batch: &RecordBatch) -> Result<TypedBatch> {
        let mut columns = Vec::with_capacity(COLUMNS.len());
        for name in COLUMNS {
            let Some(array) = batch.column_by_name(name) else {
                columns.push(None);
                continue;
            };
            let target = match name {
                "wallclock_req" | "mem_req" | "run_time" => DataType::Float64,
                "nodes_req" | "processors_req" | "gpus_req" => DataType::Int64,
                "submit_time" | "start_time" | "end_time" if array.data_type().is_numeric() => {
                    DataType::Int64
                }
                "submit_time" | "start_time" | "end_time" => {
                    DataType::Timestamp(TimeUnit::Second, None)
                }
                _ => DataType::Utf8,
            };
            let typed = cast(array, &target).map_err(|e| PipelineError::Arrow {
                context: format!(
                    "{}: column `{name}` cannot be read as {target}",
                    self.path.display()
                ),
                source: Box::new(e.into()),
            })?;
            columns.push(Some(typed));
        }
        Ok(TypedBatch {
            columns,
            rows: batch.num_rows(),
        })
    }
}

impl TypedBatch {
    fn column(&self, name: &str) -> Option<&dyn Array> {
        self.columns[column_index(name)].as_deref()
    }

    fn text(&self, name: &str, row: usize) -> Option<String> {
        let a = self.column(name)?;
        (!a.is_null(row)).then(|| a.as_string::<i32>().value(row).to_owned())
    }

    fn float(&self, name: &str, row: usize) -> Option<f64> {
        let a = self.column(name)?;
        (!a.is_null(row)).then(|| a.as_primitive::<Float64Type>().value(row))
    }

    fn int(&self, name: &str, row: usize) -> Option<i64> {
        let a = self.column(name)?;
        (!a.is_null(row)).then(|| a.as_primitive::<Int64Type>().value(row))
    }

    fn time(&self, name: &str, row: usize) -> Option<i64> {
        let a = self.column(name)?;
        if a.is_null(row) {
            return None;
        }
        Some(match a.data_type() {
            DataType::Int64 => a.as_primitive::<Int64Type>().value(row),
            _ => a.as_primitive::<TimestampSecondType>().value(row),
        })
    }

    fn record(&self, row: usize) -> Result<Job, RowProblem> {
        let job_id = self
            .text("job_id", row)
            .ok_or_else(|| RowProblem::new("job_id", "missing value"))?;
        let submit_time = self
            .time("submit_time", row)
            .ok_or_else(|| RowProblem::new("submit_time", "missing value"))?;
        let state = self
            .text("state", row)
            .map(|s| normalize_state(&s))
            .ok_or_else(|| RowProblem::new("state", "missing value"))?;
        checked(Job {
            job_key: None,
            job_id,
            user: self.text("user", row),
            account: self.text("account", row),
            partition: self.text("partition", row),
            qos: self.text("qos", row),
            wallclock_req_s: self.float("wallclock_req", row),
            nodes_req: self.int("nodes_req", row),
            processors_req: self.int("processors_req", row),
            gpus_req: self.int("gpus_req", row),
            mem_req_mb: self.float("mem_req", row),
            submit_time: Some(submit_time),
            start_time: self.time("start_time", row),
            end_time: self.time("end_time", row),
            run_time_s: self.float("run_time", row),
            state: Some(state),
            name: self.text("name", row),
            work_dir: self.text("work_dir", row),
        })
    }

    fn render(&self, row: usize) -> String {
        COLUMNS
            .iter()
            .map(|name| match self.column(name) {
                Some(a) if !a.is_null(row) => {
                    datafusion::arrow::util::display::array_value_to_string(a, row)
                        .unwrap_or_default()
                }
                _ => String::new(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Iterator for EagleParquetReader {
    type Item = Result<Row>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(batch) = &self.current
                && self.row_in_batch < batch.rows
            {
                let row = self.row_in_batch;
                self.row_in_batch += 1;
                let line = self.rows_before + row as u64 + 1;
                let parsed = batch.record(row);
                let raw = if parsed.is_err() {
                    batch.render(row)
                } else {
                    String::new()
                };
                return Some(Ok(Row::parsed(line, parsed, raw)));
            }
            if let Some(batch) = self.current.take() {
                self.rows_before += batch.rows as u64;
            }
            let next = match self.batches.next()? {
                Ok(b) => b,
                Err(e) => {
                    return Some(Err(PipelineError::arrow(format!(
                        "reading {}",
                        self.path.display()
                    ))(e)));
                }
            };
            match self.load(&next) {
                Ok(typed) => {
                    self.current = Some(typed);
                    self.row_in_batch = 0;
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
