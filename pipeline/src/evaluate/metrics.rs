//! Error measures of runtime predictions, as defined for `rtp evaluate`:
//! errors are on the point (p50) prediction in seconds.

use rtp_bundle::QualityMetrics;
use rtp_bundle::manifest::MAPE_FLOOR_S;

/// Quality of `pred` against `actual` (seconds), with interval coverage when
/// `interval` is given.
pub fn quality(pred: &[f64], actual: &[f64], interval: Option<(&[f64], &[f64])>) -> QualityMetrics {
    let n = actual.len();
    assert_eq!(pred.len(), n, "one prediction per actual runtime");
    if n == 0 {
        return QualityMetrics {
            mae_h: f64::NAN,
            medae_min: f64::NAN,
            rmse_h: f64::NAN,
            r2: f64::NAN,
            within_2x: f64::NAN,
            within_10min: f64::NAN,
            under_rate: f64::NAN,
            mape_pct: f64::NAN,
            coverage_p10_p90: interval.map(|_| f64::NAN),
            interval_width_ln: interval.map(|_| f64::NAN),
        };
    }
    let nf = n as f64;
    let mut abs_err: Vec<f64> = pred
        .iter()
        .zip(actual)
        .map(|(p, a)| (p - a).abs())
        .collect();
    let mae = abs_err.iter().sum::<f64>() / nf;
    let mse = abs_err.iter().map(|e| e * e).sum::<f64>() / nf;
    let mean_actual = actual.iter().sum::<f64>() / nf;
    let ss_tot: f64 = actual.iter().map(|a| (a - mean_actual).powi(2)).sum();
    let share = |f: &dyn Fn(usize) -> bool| (0..n).filter(|&i| f(i)).count() as f64 / nf;
    let within_2x = share(&|i| {
        let ratio = pred[i].max(1.0) / actual[i].max(1.0);
        (0.5..=2.0).contains(&ratio)
    });
    let within_10min = share(&|i| abs_err[i] <= 600.0);
    let under_rate = share(&|i| pred[i] < actual[i]);
    let mape = (0..n)
        .map(|i| abs_err[i] / actual[i].max(MAPE_FLOOR_S))
        .sum::<f64>()
        / nf;
    let coverage = interval.map(|(lo, hi)| share(&|i| lo[i] <= actual[i] && actual[i] <= hi[i]));
    let width =
        interval.map(|(lo, hi)| (0..n).map(|i| hi[i].ln_1p() - lo[i].ln_1p()).sum::<f64>() / nf);
    abs_err.sort_by(f64::total_cmp);
    let medae = if n % 2 == 1 {
        abs_err[n / 2]
    } else {
        (abs_err[n / 2 - 1] + abs_err[n / 2]) / 2.0
    };
    QualityMetrics {
        mae_h: mae / 3600.0,
        medae_min: medae / 60.0,
        rmse_h: mse.sqrt() / 3600.0,
        r2: if ss_tot > 0.0 {
            1.0 - mse * nf / ss_tot
        } else {
            f64::NAN
        },
        within_2x,
        within_10min,
        under_rate,
        mape_pct: mape * 100.0,
        coverage_p10_p90: coverage,
        interval_width_ln: width,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definitions_on_a_small_example() {
        let actual = [100.0, 1000.0, 3600.0, 7200.0];
        let pred = [150.0, 400.0, 3600.0, 18000.0];
        let lo = [50.0, 500.0, 3000.0, 7000.0];
        let hi = [200.0, 900.0, 4000.0, 20000.0];
        let q = quality(&pred, &actual, Some((&lo, &hi)));
        assert!((q.mae_h - (50.0 + 600.0 + 0.0 + 10800.0) / 4.0 / 3600.0).abs() < 1e-12);
        // sorted errors 0, 50, 600, 10800 → median 325 s
        assert!((q.medae_min - 325.0 / 60.0).abs() < 1e-12);
        assert_eq!(q.within_2x, 0.5); // 1.5x and 1x are within; 0.4x and 2.5x not
        assert_eq!(q.within_10min, 0.75);
        assert_eq!(q.under_rate, 0.25);
        // 50/100, 600/1000, 0/3600, 10800/7200
        let mape = (0.5 + 0.6 + 0.0 + 1.5) / 4.0 * 100.0;
        assert!((q.mape_pct - mape).abs() < 1e-9, "{}", q.mape_pct);
        // a 5 s job predicted at 65 s is 100 % off, not 1,200 %
        let short = quality(&[65.0], &[5.0], None);
        assert!((short.mape_pct - 100.0).abs() < 1e-9);
        assert_eq!(q.coverage_p10_p90, Some(0.75));
        let width = [
            (50.0, 200.0),
            (500.0, 900.0),
            (3000.0, 4000.0),
            (7000.0, 20000.0),
        ]
        .iter()
        .map(|(l, h): &(f64, f64)| h.ln_1p() - l.ln_1p())
        .sum::<f64>()
            / 4.0;
        assert!((q.interval_width_ln.unwrap() - width).abs() < 1e-12);
        let perfect = quality(&actual, &actual, None);
        assert_eq!(perfect.r2, 1.0);
        assert_eq!(perfect.coverage_p10_p90, None);
    }
}
