//! Turns tower's own errors into the statuses they mean. (Being built.)
