//! What a prediction suggests to the user: a wallclock request that the job
//! will most likely fit in, and whether the request made is far above it.

use serde::Deserialize;

/// How suggestions are made.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdviceOptions {
    /// Suggested requests are rounded up to a multiple of this, seconds.
    pub granularity_s: f64,
    /// A request above this many times the p90 is flagged as overestimated.
    pub overestimate_factor: f64,
}

impl Default for AdviceOptions {
    fn default() -> Self {
        Self {
            granularity_s: 300.0,
            overestimate_factor: 2.0,
        }
    }
}

impl AdviceOptions {
    /// The p90 rounded up to the granularity (at least one step), never above
    /// `ceiling_s`: the user's own request where limits are enforced, the
    /// learned cap where they are not (see
    /// [`RequestCap::suggestion_ceiling_s`](rtp_bundle::RequestCap::suggestion_ceiling_s)).
    pub fn suggested_wallclock(&self, p90_s: f64, ceiling_s: f64) -> f64 {
        let step = self.granularity_s.max(1.0);
        let rounded = ((p90_s / step).ceil() * step).max(step);
        if ceiling_s.is_finite() && ceiling_s > 0.0 {
            rounded.min(ceiling_s)
        } else {
            rounded
        }
    }

    /// Whether `request_s` exceeds the factor times the p90.
    pub fn overestimated(&self, p90_s: f64, request_s: f64) -> bool {
        request_s.is_finite() && request_s > self.overestimate_factor * p90_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestion_rounds_up_and_never_exceeds_the_request() {
        let a = AdviceOptions::default();
        assert_eq!(a.suggested_wallclock(301.0, 7200.0), 600.0);
        assert_eq!(a.suggested_wallclock(600.0, 7200.0), 600.0);
        assert_eq!(a.suggested_wallclock(0.0, 7200.0), 300.0);
        assert_eq!(a.suggested_wallclock(7100.0, 7000.0), 7000.0);
        assert_eq!(a.suggested_wallclock(7100.0, f64::NAN), 7200.0);
        assert!(a.overestimated(1000.0, 2001.0));
        assert!(!a.overestimated(1000.0, 2000.0));
        assert!(!a.overestimated(1000.0, f64::NAN));
    }
}
