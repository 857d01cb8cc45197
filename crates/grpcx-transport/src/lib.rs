//! The HTTP/2 transport of grpcx (not yet built).
//!
//! This crate will hold the hyper-based HTTP/2 client (`Channel`) and server,
//! and is the only grpcx crate that names hyper or h2.
