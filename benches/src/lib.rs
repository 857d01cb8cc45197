//! Criterion benchmarks of grpcx (`cargo bench -p grpcx-benches`).
//!
//! - `codec`: framing and protobuf encode/decode throughput by message
//!   size, with and without gzip.
//! - `transport`: unary round trips and server-streaming throughput over a
//!   real HTTP/2 connection on loopback.
//! - `retry`: the cost of the retry layer on a call that succeeds the
//!   first time, against the bare service.
//! - `allocations`: heap allocations per unary call (loopback, client,
//!   client under retry), measured by dhat and held at ceilings; `cargo
//!   test` runs it too.
//!
//! For side-by-side numbers against tonic and a bare hyper server under
//! load, use `../shared/bench/compare.sh` with `interop-server`.
