//! Golden plans: each materialised SQL file's optimised logical plan must
//! match its approved copy in `tests/plans/`, so a change to the SQL or to
//! DataFusion's planning shows up in review. `RTP_UPDATE_PLANS=1` rewrites
//! the approved copies.

use crate::util::{feature_options, features, job, write_jobs};

#[tokio::test]
async fn sql_plans_match_their_approved_copies() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = dir.path().join("jobs.parquet");
    write_jobs(
        &jobs,
        &[
            job("ann", "p", 0, 10, 100, 600.0),
            job("bob", "q", 5, 20, 50, 60.0),
        ],
    );
    let tables = features(&jobs, dir.path(), "features", &feature_options(2, 8192)).await;
    let approved_dir = test_support::repo_root().join("pipeline/tests/plans");
    let update = std::env::var_os("RTP_UPDATE_PLANS").is_some();
    let sql_files = rtp_pipeline::features::load_sql_files(&test_support::sql_dir()).unwrap();
    for file in sql_files.iter().filter(|f| !f.is_view) {
        let plan = &tables.plans[&file.table];
        let approved = approved_dir.join(format!("{}.plan", file.table));
        if update {
            std::fs::create_dir_all(&approved_dir).unwrap();
            std::fs::write(&approved, plan).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&approved).unwrap_or_else(|_| {
            panic!(
                "{} missing: run with RTP_UPDATE_PLANS=1",
                approved.display()
            )
        });
        assert_eq!(
            plan.trim(),
            expected.trim(),
            "plan of {} changed; review it and run with RTP_UPDATE_PLANS=1",
            file.path.display()
        );
    }
}
