//! The column names of NREL's Eagle job data set, which ingest reads and the
//! dashboard's upload takes: one list for both.

/// What a job asks for, in the data set's order (the upload template's).
pub const REQUEST_COLUMNS: [&str; 13] = [
    "job_id",
    "user",
    "account",
    "partition",
    "qos",
    "wallclock_req",
    "nodes_req",
    "processors_req",
    "gpus_req",
    "mem_req",
    "submit_time",
    "name",
    "work_dir",
];

/// What happened to it.
pub const OUTCOME_COLUMNS: [&str; 4] = ["start_time", "end_time", "run_time", "state"];

/// Columns of the data set that no reader uses.
pub const UNUSED_COLUMNS: [&str; 1] = ["submit_line"];

/// Every column a history reader uses: the request, then the outcome.
pub const HISTORY_COLUMNS: [&str; 17] = {
    let mut all = [""; 17];
    let mut i = 0;
    while i < REQUEST_COLUMNS.len() {
        all[i] = REQUEST_COLUMNS[i];
        i += 1;
    }
    while i < all.len() {
        all[i] = OUTCOME_COLUMNS[i - REQUEST_COLUMNS.len()];
        i += 1;
    }
    all
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_columns_are_the_request_then_the_outcome() {
        assert_eq!(HISTORY_COLUMNS[..13], REQUEST_COLUMNS);
        assert_eq!(HISTORY_COLUMNS[13..], OUTCOME_COLUMNS);
    }
}
