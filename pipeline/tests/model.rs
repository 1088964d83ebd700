//! Training and evaluation: categoricals reach LightGBM, and on real data
//! (KTH SP2, Parallel Workloads Archive) the ensemble beats both baselines
//! and is as good as its best member.

use rtp_pipeline::ingest::InputFormat;

use crate::util::{config, ensemble_config};

#[tokio::test]
async fn categorical_features_are_used_as_categoricals() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = crate::util::generated_jobs(dir.path(), 8_000, 21);
    let config = config();
    let (_, model) = crate::util::prepare_and_train(
        &jobs.with_file_name("eagle.parquet"),
        &dir.path().join("w"),
        &config,
    )
    .await;
    let lightgbm = &model.members[0].fit;
    assert_eq!(lightgbm.kind, rtp_bundle::MemberKind::Lightgbm);
    let text = &lightgbm.models[1].text;
    // Categorical splits list their categories: num_cat > 0 on some tree.
    let categorical_splits: usize = text
        .lines()
        .filter_map(|l| l.strip_prefix("num_cat="))
        .map(|n| n.parse::<usize>().unwrap())
        .sum();
    assert!(
        categorical_splits > 0,
        "no categorical split in the p50 model"
    );
    let cat_user = model
        .feature_names
        .iter()
        .position(|n| n == "cat_user")
        .unwrap();
    assert!(
        cat_user >= model.numeric_count,
        "cat_user must be declared categorical"
    );
}

#[tokio::test]
async fn kth_ensemble_beats_baselines_and_matches_its_best_member() {
    let Some(kth) = test_support::shared_data("KTH-SP2-1996-2.1-cln.swf.gz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (prepared, evaluation) =
        crate::util::evaluate_holdout(&kth, dir.path(), &ensemble_config()).await;
    assert_eq!(prepared.format, InputFormat::Swf);
    let s = &evaluation.summary;
    let request = &s.baselines["user_request"];
    let last2 = &s.baselines["last2"];
    assert!(s.n_test > 5_000);
    // Published figures for this protocol pin the baselines down.
    assert!(
        (request.mae_h - 1.844).abs() < 0.05,
        "user_request MAE {}",
        request.mae_h
    );
    assert!(
        (last2.mae_h - 2.097).abs() < 0.1,
        "last2 MAE {}",
        last2.mae_h
    );
    // An independent implementation of the max-ratio heuristic measured
    // MAE 1.647 h, median AE 4.9 min, within 2× 0.607, under 0.224 here.
    let max_ratio = &s.baselines["max_ratio5"];
    assert!(
        (max_ratio.mae_h - 1.647).abs() < 0.01
            && (max_ratio.medae_min - 4.9).abs() < 0.1
            && (max_ratio.within_2x - 0.607).abs() < 0.005
            && (max_ratio.under_rate - 0.224).abs() < 0.005,
        "max_ratio5 {max_ratio:?}"
    );
    assert!(
        s.model.mae_h < request.mae_h.min(last2.mae_h),
        "MAE {}",
        s.model.mae_h
    );
    assert!(
        s.model.within_2x >= request.within_2x.max(last2.within_2x) + 0.05,
        "within_2x {}",
        s.model.within_2x
    );
    let coverage = s.model.coverage_p10_p90.unwrap();
    assert!((coverage - 0.8).abs() <= 0.10, "coverage {coverage}");
    // Every member is reported; on the loss the blend is fitted to (the
    // mean absolute error in log space, what the p50's pinball loss is),
    // the blend is as good as the best of them on the test jobs too. (In
    // hours it may trail one: the MAE is dominated by the longest jobs.)
    assert_eq!(s.members.len(), 3);
    let frame = &prepared.frame;
    let rows = &evaluation.test_rows;
    let log_error = |p50: &[f64]| {
        p50.iter()
            .zip(rows)
            .map(|(p, &r)| (p.ln_1p() - frame.run_time_s[r].ln_1p()).abs())
            .sum::<f64>()
            / rows.len() as f64
    };
    // The evaluation evaluates each forest once for the blend and the
    // members' own predictions: the same values as predicting each apart.
    let bits = crate::util::prediction_bits;
    let (together, by_member, _) = evaluation.model.predict_with_members(frame, rows).unwrap();
    assert_eq!(
        bits(&together),
        bits(&evaluation.model.predict(frame, rows).unwrap())
    );
    assert_eq!(by_member.len(), s.members.len());
    for (m, alone) in by_member.iter().enumerate() {
        assert_eq!(
            bits(alone),
            bits(&evaluation.model.predict_member(m, frame, rows).unwrap())
        );
    }
    let blend = log_error(&evaluation.model.predict(frame, rows).unwrap().p50);
    let best = (0..s.members.len())
        .map(|m| log_error(&evaluation.model.predict_member(m, frame, rows).unwrap().p50))
        .fold(f64::INFINITY, f64::min);
    assert!(
        blend <= best * 1.01,
        "blend mean |log error| {blend} vs best member {best}"
    );
    let best_2x = s.members.values().map(|m| m.within_2x).fold(0.0, f64::max);
    assert!(
        s.model.within_2x >= best_2x - 0.005,
        "blend within_2x {} vs best {best_2x}",
        s.model.within_2x
    );
    // And it beats the strongest simple baseline on MAE.
    assert!(
        s.model.mae_h < max_ratio.mae_h,
        "MAE {} against max_ratio5's {}",
        s.model.mae_h,
        max_ratio.mae_h
    );
    // The likely runtime is within 2× clearly more often than the p50 and
    // than any baseline (0.675 against 0.610 and 0.607 measured), with the
    // same interval and an MAE still below the request's.
    let likely = s
        .likely
        .as_ref()
        .expect("the evaluation scores the likely runtime");
    let best_baseline_2x = s
        .baselines
        .values()
        .map(|b| b.within_2x)
        .fold(0.0, f64::max);
    assert!(
        likely.within_2x >= best_baseline_2x + 0.05 && likely.within_2x > s.model.within_2x,
        "likely within_2x {} against the best baseline's {best_baseline_2x} and the p50's {}",
        likely.within_2x,
        s.model.within_2x
    );
    assert_eq!(likely.coverage_p10_p90, s.model.coverage_p10_p90);
    assert!(likely.mae_h < request.mae_h, "likely MAE {}", likely.mae_h);
}

/// A log that records no waits (-1 for every job, as grid logs write it)
/// still evaluates end to end: a job with a runtime is taken to start at
/// its submit, counted in the ingest summary, and trained and tested on.
/// (Outcomes join history at the earliest time they could have, which for
/// jobs that waited is too early; on KTH-SP2 the scores move little.)
#[tokio::test]
async fn a_log_without_waits_evaluates_end_to_end() {
    let Some(kth) = test_support::shared_data("KTH-SP2-1996-2.1-cln.swf.gz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let blanked = dir.path().join("kth-no-waits.swf");
    let with_runtime = crate::util::blank_swf_field(&kth, &blanked, crate::util::SWF_WAIT)
        .iter()
        .filter(|fields| fields[crate::util::SWF_RUN] != "-1")
        .count() as u64;
    let (prepared, evaluation) =
        crate::util::evaluate_holdout(&blanked, &dir.path().join("w"), &config()).await;
    assert_eq!(prepared.ingest.assumed_start(), with_runtime);
    assert!(with_runtime > 28_000);
    let s = &evaluation.summary;
    assert!(s.n_test > 5_000);
    assert!(
        s.model.mae_h < s.baselines["user_request"].mae_h,
        "{} against the request's {}",
        s.model.mae_h,
        s.baselines["user_request"].mae_h
    );
}

/// Where limits are not enforced (here KTH-SP2 with every request cut to
/// 30 %, so about half the jobs run past it) the cap is learned from the
/// training jobs, and the interval still holds on the test period (a cap at
/// the request gave coverage 0.36 and within 2× 0.30 on this log).
#[tokio::test]
async fn limits_that_are_not_enforced_are_learned_and_the_interval_holds() {
    let Some(kth) = test_support::shared_data("KTH-SP2-1996-2.1-cln.swf.gz") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let loose = dir.path().join("kth-loose-limits.swf");
    crate::util::rewrite_swf(&kth, &loose, |fields| {
        let request: f64 = fields[crate::util::SWF_REQUESTED_TIME].parse().unwrap();
        if request > 0.0 {
            fields[crate::util::SWF_REQUESTED_TIME] =
                ((request * 0.3).round().max(60.0)).to_string();
        }
    });
    let (_, evaluation) =
        crate::util::evaluate_holdout(&loose, &dir.path().join("w"), &config()).await;
    let cap = &evaluation.model.request_cap;
    assert!(!cap.enforced_everywhere(), "{}", cap.describe());
    assert!(cap.overall.over_share > 0.3, "{}", cap.describe());
    let s = &evaluation.summary;
    let coverage = s.model.coverage_p10_p90.unwrap();
    assert!((coverage - 0.8).abs() <= 0.05, "coverage {coverage}");
    assert!(
        s.model.under_rate < 0.56,
        "under-prediction rate {}",
        s.model.under_rate
    );
    assert!(s.model.within_2x > 0.55, "within 2x {}", s.model.within_2x);
}
