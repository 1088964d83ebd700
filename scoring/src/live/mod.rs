//! Live state: the history and queues a server scores from, followed as the
//! cluster's jobs are submitted, start and end.
//!
//! What is computed is the SQL's, continued: the entity keys and per-job
//! values come from the bundle's `job_entities` view ([`facts`]), the
//! median's window from its `entity_end_stats` ([`window`]), the starting
//! point from its `history_state` and `queue_state` ([`state`]). The
//! aggregations themselves (counts, sums, the bounded median, last and
//! previous runtime, latest times, pending and running) are folded here
//! ([`history`], [`queue`]); the online/offline parity tests hold them to
//! the SQL's values for every job of a log.

pub mod events;
pub mod facts;
pub mod follow;
pub mod history;
pub mod queue;
pub mod state;
pub mod store;
pub mod window;

pub use events::{
    EventKey, EventReport, JobRecords, Merged, check_event, event_times, job_events, known_at,
    merge,
};
pub use facts::JobFacts;
pub use follow::{CheckedEvent, EventFolder, Prepared};
pub use history::{EntityHistory, HistoryStat};
pub use queue::{QueueCount, QueueCounts};
pub use state::{LiveState, StateLayout, StateSchema};
pub use store::EventStore;
