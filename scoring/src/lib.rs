//! The online scoring core shared by the Flight server, the gRPC edge and
//! the dashboard.
//!
//! A [`Scorer`] is a loaded bundle. Features for new jobs come from the
//! bundle's own copy of the feature SQL: its row-level queries are compiled
//! once into DataFusion physical expressions, and the history and queue
//! joins become lookups in the bundle's state tables. So a served job gets
//! exactly the features the batch pipeline would compute for it, with no
//! SQL planning per request. [`LiveModel`] swaps in new bundles as they
//! are published, and keeps the state live with the cluster's job events
//! ([`EventFeed`]).
#![deny(missing_docs)]

pub mod advice;
pub mod context_rows;
pub mod contributions;
pub mod entity_state;
pub mod error;
pub mod event_feed;
pub mod feature_program;
mod feature_row;
pub mod job_input;
pub mod live;
pub mod live_model;
pub mod model_input;
pub mod row_expr;
pub mod row_projection;
pub mod row_value;
pub mod sacct_follower;
pub mod scorer;
pub mod status;

pub use advice::AdviceOptions;
pub use contributions::Contribution;
pub use entity_state::Overlay;
pub use error::{Result, ScoringError};
pub use event_feed::{EventFeed, EventSource, FeedStats, SourceTotals};
pub use live_model::LiveModel;
pub use row_value::Value;
pub use rtp_jobs::Job;
pub use sacct_follower::{FollowSettings, FollowStatus, FollowerTask, SacctFollower};
pub use scorer::{JobScore, Scored, Scorer, Timings};
pub use status::status_of;
