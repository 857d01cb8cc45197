//! A client for `grpc.testing.TestService` (filled by the interop cases).
