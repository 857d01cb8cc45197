//! [`Error`]: why a reflection service could not be built.

/// Why [`Builder::build`](crate::Builder::build) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes given as a file descriptor set do not decode as one.
    #[error("invalid file descriptor set")]
    InvalidDescriptorSet(#[source] prost::DecodeError),
    /// A service to list is defined in none of the files.
    #[error("service {name} is in no file descriptor set given")]
    UnknownService {
        /// The service's full name.
        name: String,
    },
}
