//! Every route of the dashboard, in one place, so templates and handlers
//! agree on paths.

/// A page or fragment URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The predict form.
    Predict,
    /// The batch upload.
    Batch,
    /// The CSV template of the batch upload.
    BatchTemplate,
    /// Model analytics.
    Analytics,
    /// The scheduling what-if of the bundle's test period.
    WhatIf,
    /// Live service health.
    Live,
    /// The live page's polled fragment.
    LivePartial,
    /// Prometheus metrics of the dashboard.
    Metrics,
    /// Liveness.
    Healthz,
    /// Readiness.
    Readyz,
}

impl Route {
    /// The path of the route.
    pub const fn path(self) -> &'static str {
        match self {
            Self::Predict => "/predict",
            Self::Batch => "/batch",
            Self::BatchTemplate => "/batch/template.csv",
            Self::Analytics => "/analytics",
            Self::WhatIf => "/whatif",
            Self::Live => "/live",
            Self::LivePartial => "/live/partial",
            Self::Metrics => "/metrics",
            Self::Healthz => "/healthz",
            Self::Readyz => "/readyz",
        }
    }
}

/// The page of a scored upload's table (`page` from 1).
pub fn batch_page(id: &str, page: usize) -> String {
    format!("/batch/{id}/page/{page}")
}

/// The CSV download of a scored upload.
pub fn batch_csv(id: &str) -> String {
    format!("/batch/{id}/scored.csv")
}

/// The pages in the navigation bar, in order.
pub const NAVIGATION: [(Route, &str); 5] = [
    (Route::Predict, "Predict"),
    (Route::Batch, "Batch"),
    (Route::Analytics, "Analytics"),
    (Route::WhatIf, "What-if"),
    (Route::Live, "Live"),
];
