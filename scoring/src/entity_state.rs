//! The request-local overlay: jobs scored earlier in the same request, as
//! later jobs of the request see them.

use std::collections::HashMap;

/// Jobs scored earlier in the same request, as later jobs of the request
/// see them: each is the latest submit of its entities and is pending in its
/// queues. Requests are taken as submission sequences, in row order.
#[derive(Debug, Default)]
pub struct Overlay {
    /// Per entity kind (by index), per key, what the request added.
    kinds: Vec<HashMap<String, EntityOverlay>>,
    /// Rows seen, which numbers rows that come without a `job_key`.
    pub(crate) rows_seen: i64,
    /// Rows are independent jobs, not a sequence: none sees another.
    isolated: bool,
}

/// What the request's earlier jobs added to one entity.
#[derive(Debug, Clone, Copy)]
pub struct EntityOverlay {
    /// The latest submit, epoch seconds.
    pub last_submit: i64,
    /// Jobs submitted before the latest submit second.
    before: i64,
    /// Jobs submitted in the latest submit second, which a job submitted in
    /// the same second does not see.
    at_last: i64,
}

impl EntityOverlay {
    /// Jobs of this request pending in the entity's queue strictly before `t`.
    pub fn pending_before(&self, t: i64) -> i64 {
        if t > self.last_submit {
            self.before + self.at_last
        } else {
            self.before
        }
    }
}

/// A job's view of one of its entities: its previous submit and the jobs
/// pending in its queue, from the state table (`stored_*`) and from the
/// request's earlier jobs (`seen`). Batches and single rows both use it.
pub fn overlaid(
    seen: Option<&EntityOverlay>,
    submit: i64,
    stored_last_submit: Option<i64>,
    stored_pending: Option<i64>,
) -> (Option<i64>, Option<i64>) {
    let last = seen.map(|e| e.last_submit).or(stored_last_submit);
    let before = seen.map_or(0, |e| e.pending_before(submit));
    let pending = match stored_pending {
        Some(p) => Some(p + before),
        None if before > 0 => Some(before),
        None => None,
    };
    (last, pending)
}

impl Overlay {
    /// An overlay for requests whose rows are unrelated jobs (separate
    /// callers batched together): each row sees only the bundle's state, as
    /// if it had been sent alone.
    pub fn isolated() -> Self {
        Self {
            isolated: true,
            ..Self::default()
        }
    }

    /// The entity's overlay, if the request has seen it.
    pub fn get(&self, kind: usize, key: &str) -> Option<&EntityOverlay> {
        self.kinds.get(kind)?.get(key)
    }

    /// Records a job of the entity submitted at `t`.
    pub fn record(&mut self, kind: usize, key: &str, t: i64) {
        if self.isolated {
            return;
        }
        if self.kinds.len() <= kind {
            self.kinds.resize_with(kind + 1, HashMap::new);
        }
        let keys = &mut self.kinds[kind];
        match keys.get_mut(key) {
            Some(e) if t > e.last_submit => {
                e.before += e.at_last;
                e.at_last = 1;
                e.last_submit = t;
            }
            // Same second, or (out of order) earlier: counted at the latest.
            Some(e) => e.at_last += 1,
            None => {
                keys.insert(
                    key.to_owned(),
                    EntityOverlay {
                        last_submit: t,
                        before: 0,
                        at_last: 1,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_counts_only_earlier_seconds_and_last_submit_is_the_latest() {
        let mut o = Overlay::default();
        assert!(o.get(0, "a").is_none());
        o.record(0, "a", 10);
        assert_eq!(o.get(0, "a").unwrap().pending_before(10), 0);
        o.record(0, "a", 10);
        assert_eq!(o.get(0, "a").unwrap().pending_before(11), 2);
        o.record(0, "a", 11);
        let a = o.get(0, "a").unwrap();
        assert_eq!((a.pending_before(11), a.pending_before(12)), (2, 3));
        assert_eq!(a.last_submit, 11);
        assert!(o.get(0, "b").is_none() && o.get(1, "a").is_none());

        let mut isolated = Overlay::isolated();
        isolated.record(0, "a", 10);
        assert!(isolated.get(0, "a").is_none());
    }
}
