//! Every fold against DataFusion's own evaluators on the same rows, with
//! small batches so partitions arrive in pieces and buffered rows are
//! dropped between them.

use std::sync::Arc;

use datafusion::arrow::array::{Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::MemTable;
use datafusion::execution::SessionStateBuilder;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::windows::BoundedWindowAggExec;
use datafusion::prelude::{SessionConfig, SessionContext};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::FoldWindows;
use super::exec::FoldWindowExec;
use super::expr::is_folded;

/// Rows of a few partitions of very different sizes, with ties in the
/// order column, nulls in every value column and negative values.
fn table(rows: usize, seed: u64) -> RecordBatch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let keys = ["a", "b", "c", "d", "e"];
    let mut key = Vec::new();
    let mut group = Vec::new();
    let (mut t, mut id, mut x, mut n) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for i in 0..rows {
        // Skewed: most rows in "a", a handful in "e".
        let k = (rng.random_range(0.0f64..1.0).powi(3) * keys.len() as f64) as usize;
        key.push(keys[k.min(keys.len() - 1)]);
        // A second key, sometimes null, that splits a run of `k` by itself.
        group.push(match rng.random_range(0..5) {
            0 => None,
            1 | 2 => Some("x"),
            _ => Some("y"),
        });
        t.push(rng.random_range(0..rows as i64 / 4 + 1));
        id.push(i as i64);
        x.push(
            rng.random_bool(0.8)
                .then(|| rng.random_range(-5.0..20.0f64).exp()),
        );
        n.push(rng.random_bool(0.85).then(|| rng.random_range(-3..10i64)));
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("g", DataType::Utf8, true),
        Field::new("t", DataType::Int64, false),
        Field::new("id", DataType::Int64, false),
        Field::new("x", DataType::Float64, true),
        Field::new("n", DataType::Int64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(key)),
            Arc::new(StringArray::from(group)),
            Arc::new(Int64Array::from(t)),
            Arc::new(Int64Array::from(id)),
            Arc::new(Float64Array::from(x)),
            Arc::new(Int64Array::from(n)),
        ],
    )
    .unwrap()
}

fn context(fold: bool, batch: &RecordBatch) -> SessionContext {
    // As the feature SQL's session: rows hashed on a subset of a window's
    // keys are not repartitioned.
    let config = SessionConfig::new()
        .with_target_partitions(2)
        .with_batch_size(7)
        .set_usize("datafusion.optimizer.subset_repartition_threshold", 1);
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features();
    if fold {
        state = state.with_physical_optimizer_rule(Arc::new(FoldWindows));
    }
    let ctx = SessionContext::new_with_state(state.build());
    // Several input batches, so each partition spans batches.
    let pieces: Vec<RecordBatch> = (0..batch.num_rows())
        .step_by(13)
        .map(|s| batch.slice(s, 13.min(batch.num_rows() - s)))
        .collect();
    let table = MemTable::try_new(batch.schema(), vec![pieces]).unwrap();
    ctx.register_table("rows", Arc::new(table)).unwrap();
    ctx
}

/// How many window operators run as one loop of folds.
fn fold_loops(plan: &Arc<dyn ExecutionPlan>) -> usize {
    let mut loops = 0;
    plan.apply(|node| {
        loops += usize::from(node.is::<FoldWindowExec>());
        Ok(TreeNodeRecursion::Continue)
    })
    .unwrap();
    loops
}

fn folded_exprs(plan: &Arc<dyn ExecutionPlan>) -> usize {
    let mut folded = 0;
    plan.apply(|node| {
        if let Some(w) = node.downcast_ref::<BoundedWindowAggExec>() {
            folded += w.window_expr().iter().filter(|e| is_folded(e)).count();
        }
        if let Some(run) = node.downcast_ref::<FoldWindowExec>() {
            folded += run.folds();
        }
        Ok(TreeNodeRecursion::Continue)
    })
    .unwrap();
    folded
}

async fn plan(ctx: &SessionContext, sql: &str) -> Arc<dyn ExecutionPlan> {
    ctx.sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap()
}

async fn run(ctx: &SessionContext, sql: &str) -> (String, usize) {
    let df = ctx.sql(sql).await.unwrap();
    let plan = df.clone().create_physical_plan().await.unwrap();
    let batches = df.collect().await.unwrap();
    (
        pretty_format_batches(&batches).unwrap().to_string(),
        folded_exprs(&plan),
    )
}

/// `select` over `rows` gives the same table with and without folds, and
/// `expect_folded` of its windows are folded.
async fn same_as_datafusion(select: &str, expect_folded: usize) {
    for (rows, seed) in [(1, 1), (40, 2), (700, 3)] {
        let batch = table(rows, seed);
        let sql = format!("SELECT id, {select} FROM rows ORDER BY id");
        let (plain, none) = run(&context(false, &batch), &sql).await;
        let (folded, count) = run(&context(true, &batch), &sql).await;
        assert_eq!(none, 0);
        assert_eq!(count, expect_folded, "{select}");
        assert_eq!(folded, plain, "{select} over {rows} rows");
    }
}

const W: &str = "PARTITION BY k ORDER BY t, id";

#[tokio::test]
async fn running_aggregates_match() {
    for f in [
        "SUM(x)", "SUM(n)", "AVG(x)", "COUNT(x)", "COUNT(*)", "MAX(n)", "MIN(n)",
    ] {
        for end in ["CURRENT ROW", "1 PRECEDING", "3 PRECEDING"] {
            let select = format!("{f} OVER ({W} ROWS BETWEEN UNBOUNDED PRECEDING AND {end}) AS v");
            same_as_datafusion(&select, 1).await;
        }
    }
}

#[tokio::test]
async fn medians_match() {
    for preceding in [0, 1, 4, 24] {
        let select =
            format!("MEDIAN(x) OVER ({W} ROWS BETWEEN {preceding} PRECEDING AND CURRENT ROW) AS v");
        same_as_datafusion(&select, 1).await;
    }
}

#[tokio::test]
async fn counts_of_following_rows_match() {
    for (from, to) in [(1, 25), (0, 2), (2, 3)] {
        let select =
            format!("COUNT(*) OVER ({W} ROWS BETWEEN {from} FOLLOWING AND {to} FOLLOWING) AS v");
        same_as_datafusion(&select, 1).await;
    }
}

#[tokio::test]
async fn several_windows_in_one_operator_match() {
    let all = format!("{W} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW");
    let select = format!(
        "ROW_NUMBER() OVER ({all}) AS a, SUM(x) OVER ({all}) AS b, AVG(x) OVER ({all}) AS c, \
         MEDIAN(x) OVER ({W} ROWS BETWEEN 24 PRECEDING AND CURRENT ROW) AS d, \
         LAG(x) OVER ({W}) AS e, \
         COUNT(*) OVER ({W} ROWS BETWEEN 1 FOLLOWING AND 25 FOLLOWING) AS f"
    );
    same_as_datafusion(&select, 6).await;
}

/// Partitions keyed by two columns, one of them with nulls: a run ends
/// where either key changes, within a batch or across two.
#[tokio::test]
async fn two_partition_keys_match() {
    let w = "PARTITION BY k, g ORDER BY t, id";
    let select = format!(
        "ROW_NUMBER() OVER ({w}) AS a, \
         SUM(x) OVER ({w} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS b, \
         LAG(n) OVER ({w}) AS c"
    );
    same_as_datafusion(&select, 3).await;
}

/// FIRST_VALUE over the rows up to the current one is the partition's first
/// row's value, null or not, however the partition spans batches.
#[tokio::test]
async fn first_values_match() {
    for w in [W, "PARTITION BY k, g ORDER BY t, id"] {
        let frame = format!("{w} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW");
        let select =
            format!("FIRST_VALUE(x) OVER ({frame}) AS a, FIRST_VALUE(n) OVER ({frame}) AS b");
        same_as_datafusion(&select, 2).await;
    }
}

/// entity_asof's carry: a running count, then the first value of each run
/// of equal counts. The count never decreases along the first window's
/// order, and rows equal on (k, count) share k's hash partition, so the
/// second window takes the first one's output as it is: one sort in all.
#[tokio::test]
async fn runs_of_a_running_count_need_no_second_sort() {
    let sql = "WITH counted AS ( \
            SELECT id, k, t, x, COUNT(n) OVER (PARTITION BY k ORDER BY t, id \
                ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS c FROM rows) \
        SELECT id, c, FIRST_VALUE(x) OVER (PARTITION BY k, c ORDER BY t, id \
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS v \
        FROM counted ORDER BY id";
    for (rows, seed) in [(1, 5), (40, 6), (700, 7)] {
        let batch = table(rows, seed);
        let (plain, _) = run(&context(false, &batch), sql).await;
        let folded_ctx = context(true, &batch);
        let (folded, count) = run(&folded_ctx, sql).await;
        assert_eq!(count, 2);
        assert_eq!(folded, plain, "over {rows} rows");
        let mut sorts = 0;
        plan(&folded_ctx, sql)
            .await
            .apply(|node| {
                sorts += usize::from(node.name() == "SortExec");
                Ok(TreeNodeRecursion::Continue)
            })
            .unwrap();
        // The first window's sort and the final ORDER BY.
        assert_eq!(sorts, 2);
    }
}

#[tokio::test]
async fn row_numbers_and_lags_match() {
    for select in [
        format!("ROW_NUMBER() OVER ({W}) AS v"),
        format!("LAG(x) OVER ({W}) AS v"),
        format!("LAG(n) OVER ({W}) AS v"),
        format!("LAG(x, 3) OVER ({W}) AS v"),
        format!("LAG(n, 2, NULL) OVER ({W}) AS v"),
    ] {
        same_as_datafusion(&select, 1).await;
    }
}

/// A window's causal folds run as one loop; a function the loop cannot run
/// (a count of following rows, which looks ahead, or DataFusion's own)
/// stays in DataFusion's operator below it, and the columns keep their
/// order.
#[tokio::test]
async fn causal_folds_run_as_one_loop() {
    let all = format!("{W} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW");
    let following = format!("{W} ROWS BETWEEN 1 FOLLOWING AND 3 FOLLOWING");
    let ctx = context(true, &table(50, 4));
    for (select, loops) in [
        (
            format!(
                "SUM(x) OVER ({all}), MEDIAN(x) OVER ({W} ROWS BETWEEN 4 PRECEDING AND CURRENT ROW)"
            ),
            1,
        ),
        (format!("SUM(x) OVER ({all}), LAG(x) OVER ({W})"), 1),
        (
            format!("COUNT(*) OVER ({following}), SUM(x) OVER ({all})"),
            1,
        ),
        (format!("COUNT(*) OVER ({following})"), 0),
        (format!("FIRST_VALUE(x) OVER ({W}), LEAD(x) OVER ({W})"), 0),
    ] {
        let sql = format!("SELECT id, {select} FROM rows");
        assert_eq!(fold_loops(&plan(&ctx, &sql).await), loops, "{select}");
    }
    let mixed = format!(
        "FIRST_VALUE(x) OVER ({W}) AS a, SUM(n) OVER ({all}) AS b, \
         COUNT(*) OVER ({following}) AS c, LAG(x) OVER ({W}) AS d, \
         MAX(n) OVER ({all}) AS e"
    );
    same_as_datafusion(&mixed, 4).await;
}

#[tokio::test]
async fn windows_without_a_fold_are_left_to_datafusion() {
    for select in [
        format!(
            "SUM(x) FILTER (WHERE n > 0) OVER ({W} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS v"
        ),
        format!("SUM(x) OVER ({W} ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS v"),
        format!("SUM(x) OVER ({W} RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS v"),
        format!("MAX(x) OVER ({W} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS v"),
        format!("COUNT(x) OVER ({W} ROWS BETWEEN 1 FOLLOWING AND 3 FOLLOWING) AS v"),
        format!("FIRST_VALUE(x) OVER ({W}) AS v"),
        format!(
            "FIRST_VALUE(x) IGNORE NULLS OVER ({W} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS v"
        ),
        format!("FIRST_VALUE(x) OVER ({W} ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS v"),
        format!("LAG(x, 1, 0.0) OVER ({W}) AS v"),
        format!("LEAD(x) OVER ({W}) AS v"),
    ] {
        same_as_datafusion(&select, 0).await;
    }
}
