//! Async interceptors for clients and servers. (Being built.)
