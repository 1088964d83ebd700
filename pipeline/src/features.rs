//! Runs the feature SQL (`sql/*.sql`) with DataFusion over a canonical job
//! table and writes the feature table and the state tables.
//!
//! The SQL files are the single definition of every feature (see
//! [`rtp_bundle::feature_sql`]). Every file that is not a view is
//! materialised to Parquet and registered under its table name. Materialising the big
//! intermediate tables keeps each step's memory bounded and lets later files
//! read them several times without recomputing them.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::disk_manager::DiskManagerBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::parquet::file::properties::WriterProperties;
use datafusion::parquet::schema::types::ColumnPath;
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_plan::display::DisplayableExecutionPlan;
use datafusion::physical_plan::{ExecutionPlan, ExecutionPlanProperties, execute_stream};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::StreamExt;

use crate::error::{PipelineError, Result};
use crate::ingest::cast_to_schema;
use crate::ingest::parquet_properties;
use crate::window_folds::FoldWindows;

pub use rtp_bundle::feature_sql::{
    FEATURES_TABLE, HISTORY_STATE_TABLE, JOBS_TABLE, QUEUE_STATE_TABLE, STATE_TABLES, SqlFile,
    sql_fingerprint,
};

/// How DataFusion runs the feature SQL.
#[derive(Debug, Clone)]
pub struct FeatureOptions {
    /// Directory holding the `*.sql` files.
    pub sql_dir: PathBuf,
    /// DataFusion partitions per operator; pinned so results and plans do not
    /// depend on the machine's core count.
    pub target_partitions: usize,
    /// Rows per record batch.
    pub batch_size: usize,
    /// Memory DataFusion may use before spilling to disk, bytes.
    pub memory_limit: usize,
    /// Hash joins are faster but hold their build side in memory; sort-merge
    /// joins spill, so memory stays bounded at any table size.
    pub prefer_hash_join: bool,
    /// Window functions computed by folds ([`crate::window_folds`]) when the
    /// SQL runs in this process; false leaves them to DataFusion.
    pub fold_windows: bool,
    /// Where the SQL runs.
    pub engine: SqlEngine,
}

/// Where the feature SQL runs. The SQL files are the same either way.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SqlEngine {
    /// DataFusion in this process.
    #[default]
    Local,
    /// A Ballista cluster: its scheduler at `df://HOST:PORT`. The job table
    /// and the output directory must be paths every executor can read and
    /// write (a shared file system).
    Ballista(String),
    /// A Ballista scheduler and executor started in this process: the
    /// distributed plans and data exchange on one machine.
    BallistaStandalone,
}

impl SqlEngine {
    /// `""` or `local`, `standalone`, or a `df://HOST:PORT` scheduler URL.
    pub fn parse(text: &str) -> Result<Self> {
        match text.trim() {
            "" | "local" => Ok(Self::Local),
            "standalone" => Ok(Self::BallistaStandalone),
            url if url.starts_with("df://") && url.len() > 5 => Ok(Self::Ballista(url.to_owned())),
            other => Err(PipelineError::Config(format!(
                "features.ballista = {other:?}: use df://HOST:PORT (a Ballista scheduler), \"standalone\" or \"\""
            ))),
        }
    }
}

/// The outputs of a feature run.
#[derive(Debug, Clone)]
pub struct FeatureTables {
    /// One row per job: the features, baselines, and outcome columns.
    pub features: PathBuf,
    /// Per-entity history as of the end of the data.
    pub history_state: PathBuf,
    /// Per-queue counts as of the end of the data.
    pub queue_state: PathBuf,
    /// Rows in the feature table.
    pub rows: u64,
    /// SHA-256 over the SQL files that produced them.
    pub sql_sha256: String,
    /// The optimised logical plan of each materialised table, by table name.
    pub plans: std::collections::BTreeMap<String, String>,
    /// Each materialised table in the order it was written, with its rows
    /// and the seconds it took (views cost nothing until a table reads them).
    pub steps: Vec<SqlStep>,
}

/// One materialised table of a feature run.
#[derive(Debug, Clone, PartialEq)]
pub struct SqlStep {
    /// The table.
    pub table: String,
    /// Rows written.
    pub rows: u64,
    /// Seconds from planning to the last row written.
    pub seconds: f64,
}

include!(concat!(env!("OUT_DIR"), "/built_in_sql.rs"));

/// The default `features.sql_dir`.
pub const DEFAULT_SQL_DIR: &str = "sql";

/// Reads the SQL files of `dir` in name order. When `dir` is the default
/// `sql` and the working directory has none, the SQL `rtp` was built with
/// is used, so `rtp` runs from anywhere; any other missing directory is an
/// error.
pub fn load_sql_files(dir: &Path) -> Result<Vec<SqlFile>> {
    if dir == Path::new(DEFAULT_SQL_DIR) && !dir.exists() {
        tracing::info!("no sql/ in the working directory: using the feature SQL built into rtp");
        return Ok(built_in_sql_files());
    }
    Ok(rtp_bundle::feature_sql::load_sql_files(dir)?)
}

/// The feature SQL `rtp` was built with (the repository's `sql/`).
pub fn built_in_sql_files() -> Vec<SqlFile> {
    BUILT_IN_SQL
        .iter()
        .map(|(name, sql)| SqlFile::new(Path::new(DEFAULT_SQL_DIR).join(name), (*sql).to_owned()))
        .collect()
}

/// A DataFusion session configured by `options`, local or on Ballista.
pub async fn session(options: &FeatureOptions) -> Result<SessionContext> {
    use ballista::prelude::SessionContextExt;
    // Ballista plans on its scheduler and ships plans to executors, which
    // know DataFusion's own window expressions only.
    let fold_windows = options.fold_windows && options.engine == SqlEngine::Local;
    let local = local_session(options, fold_windows)?;
    let remote = |e: datafusion::error::DataFusionError| {
        PipelineError::Config(format!("connecting to Ballista: {e}"))
    };
    match &options.engine {
        SqlEngine::Local => Ok(local),
        SqlEngine::Ballista(url) => SessionContext::remote_with_state(url, local.state())
            .await
            .map_err(remote),
        SqlEngine::BallistaStandalone => SessionContext::standalone_with_state(local.state())
            .await
            .map_err(remote),
    }
}

/// A local DataFusion session configured by `options`.
fn local_session(options: &FeatureOptions, fold_windows: bool) -> Result<SessionContext> {
    let config = SessionConfig::new()
        .with_target_partitions(options.target_partitions.max(1))
        .with_batch_size(options.batch_size.max(1024))
        .with_information_schema(true)
        .set_bool(
            "datafusion.optimizer.prefer_hash_join",
            options.prefer_hash_join,
        )
        // Plain strings: a sort's memory accounting counts a string view's
        // shared buffers once per batch, so view-typed keys look many times
        // their size and make sorts spill early.
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        )
        .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false)
        // Big sorts spill whatever the limit; compressed spill files write
        // a third of the bytes, and writing them is most of a spill's cost.
        .set_str("datafusion.execution.spill_compression", "lz4_frame")
        // Rows hash-partitioned on (a, b) are already together for a window
        // or aggregate keyed by (a, b, c); DataFusion only trusts that from
        // this many partitions up, and otherwise repartitions and sorts
        // again (entity_asof's runs of equal counts, queue_at_submit's
        // seconds: tens of millions of rows). The partition count here is
        // pinned and small.
        .set_usize("datafusion.optimizer.subset_repartition_threshold", 1);
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_pool(Arc::new(FairSpillPool::new(options.memory_limit)))
        .with_disk_manager_builder(DiskManagerBuilder::default())
        .build_arc()
        .map_err(PipelineError::arrow("creating the DataFusion runtime"))?;
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features();
    if fold_windows {
        state = state.with_physical_optimizer_rule(Arc::new(FoldWindows));
    }
    Ok(SessionContext::new_with_state(state.build()))
}

/// Path of a state table written beside a feature table:
/// `features.parquet` → `features.history_state.parquet`.
pub fn state_path_for(features: &Path, table: &str) -> PathBuf {
    let stem = features
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "features".into());
    features.with_file_name(format!("{stem}.{table}.parquet"))
}

/// Builds the feature table for the jobs at `jobs` (a Parquet file or a
/// directory of them) into `out`, and the state tables beside it.
pub async fn build_features(
    jobs: &Path,
    out: &Path,
    options: &FeatureOptions,
) -> Result<FeatureTables> {
    let files = load_sql_files(&options.sql_dir)?;
    for required in std::iter::once(FEATURES_TABLE).chain(STATE_TABLES) {
        if !files.iter().any(|f| f.table == required && !f.is_view) {
            return Err(PipelineError::Config(format!(
                "the SQL files define no materialised `{required}` table"
            )));
        }
    }
    let ctx = session(options).await?;
    let raw = format!("{JOBS_TABLE}_file");
    register_parquet(&ctx, &raw, jobs).await?;
    crate::job_table::register_job_table(&ctx, JOBS_TABLE, &raw, &jobs.to_string_lossy()).await?;

    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(PipelineError::io(parent))?;
    let scratch = tempfile::Builder::new()
        .prefix(".features-")
        .tempdir_in(parent)
        .map_err(PipelineError::io(parent))?;

    let mut rows = 0;
    let mut plans = std::collections::BTreeMap::new();
    let mut steps = Vec::new();
    for file in &files {
        let label = file.path.display().to_string();
        let sql_error = |e| PipelineError::Sql {
            file: label.clone(),
            source: Box::new(e),
        };
        let started = std::time::Instant::now();
        let df = ctx.sql(&file.sql).await.map_err(sql_error)?;
        if file.is_view {
            df.collect().await.map_err(sql_error)?;
            continue;
        }
        let plan = df.clone().into_optimized_plan().map_err(sql_error)?;
        plans.insert(file.table.clone(), plan.display_indent().to_string());
        let target = match file.table.as_str() {
            FEATURES_TABLE => out.to_owned(),
            state if STATE_TABLES.contains(&state) => state_path_for(out, state),
            other => scratch.path().join(format!("{other}.parquet")),
        };
        let written = write_dataframe(df, &target, &label).await?;
        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(table = %file.table, rows = written, secs = seconds, "materialised");
        steps.push(SqlStep {
            table: file.table.clone(),
            rows: written,
            seconds,
        });
        if file.table == FEATURES_TABLE {
            rows = written;
        }
        register_parquet(&ctx, &file.table, &target).await?;
    }
    Ok(FeatureTables {
        features: out.to_owned(),
        history_state: state_path_for(out, HISTORY_STATE_TABLE),
        queue_state: state_path_for(out, QUEUE_STATE_TABLE),
        rows,
        sql_sha256: sql_fingerprint(&files),
        plans,
        steps,
    })
}

async fn register_parquet(ctx: &SessionContext, name: &str, path: &Path) -> Result<()> {
    let location = path.to_string_lossy();
    ctx.register_parquet(name, location.as_ref(), ParquetReadOptions::default())
        .await
        .map_err(PipelineError::arrow(format!(
            "registering {} as `{name}`",
            path.display()
        )))
}

/// Streams a query result into one Parquet file; returns rows written.
///
/// A result that comes out in one global order (a top-level `ORDER BY`) is
/// written with that order in the file's metadata, so later files that read
/// it group, join and window on it without sorting it again.
async fn write_dataframe(
    df: datafusion::dataframe::DataFrame,
    path: &Path,
    label: &str,
) -> Result<u64> {
    let sql_error = |e| PipelineError::Sql {
        file: label.to_owned(),
        source: Box::new(e),
    };
    let schema = plain_strings(df.schema().as_arrow());
    let task = Arc::new(df.task_ctx());
    let plan = df.create_physical_plan().await.map_err(sql_error)?;
    let properties = table_properties(&schema, global_sort_order(plan.as_ref(), &schema));
    let mut stream = execute_stream(Arc::clone(&plan), task).map_err(sql_error)?;
    let file = File::create(path).map_err(PipelineError::io(path))?;
    let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), Some(properties))
        .map_err(PipelineError::arrow(format!("writing {}", path.display())))?;
    let mut rows = 0u64;
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(sql_error)?;
        let batch = cast_to_schema(&batch, &schema)
            .map_err(PipelineError::arrow(format!("writing {}", path.display())))?;
        rows += batch.num_rows() as u64;
        writer
            .write(&batch)
            .map_err(PipelineError::arrow(format!("writing {}", path.display())))?;
    }
    writer
        .close()
        .map_err(PipelineError::arrow(format!("closing {}", path.display())))?;
    // Per-operator times, rows and spills: where a step's time goes.
    tracing::debug!(
        step = label,
        plan = %DisplayableExecutionPlan::with_metrics(plan.as_ref()).indent(true),
        "executed"
    );
    Ok(rows)
}

/// The order `plan`'s single output stream is sorted in, as Parquet sorting
/// columns of `schema`; none when the output is several unordered streams
/// or is sorted on anything but plain top-level columns.
fn global_sort_order(plan: &dyn ExecutionPlan, schema: &Schema) -> Option<Vec<SortingColumn>> {
    if plan.output_partitioning().partition_count() != 1
        || schema.fields().iter().any(|f| f.data_type().is_nested())
    {
        return None;
    }
    plan.properties()
        .output_ordering()?
        .iter()
        .map(|sort| {
            let column = sort.expr.downcast_ref::<Column>()?;
            Some(SortingColumn {
                column_idx: i32::try_from(column.index()).ok()?,
                descending: sort.options.descending,
                nulls_first: sort.options.nulls_first,
            })
        })
        .collect()
}

/// The pipeline's Parquet properties for a table the SQL writes, with its
/// sort order, and with dictionary encoding kept for the string columns
/// only: numeric columns (statistics, times) rarely repeat, and hashing every
/// value into a dictionary that is then abandoned is much of what writing the
/// big intermediate tables costs.
fn table_properties(schema: &Schema, sorted_by: Option<Vec<SortingColumn>>) -> WriterProperties {
    schema
        .fields()
        .iter()
        .filter(|f| matches!(f.data_type(), DataType::Utf8 | DataType::LargeUtf8))
        .fold(
            parquet_properties()
                .into_builder()
                .set_sorting_columns(sorted_by)
                .set_dictionary_enabled(false),
            |builder, f| {
                builder.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), true)
            },
        )
        .build()
}

/// `schema` with string and binary views as plain arrays: the engine's
/// in-memory form, which readers older than the view types reject.
fn plain_strings(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
            DataType::BinaryView => f.as_ref().clone().with_data_type(DataType::Binary),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}
