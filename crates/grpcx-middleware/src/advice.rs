//! The server's error advice: one place that maps domain errors to rich
//! statuses. (Being built.)
