//! The catalog's domain errors. They know nothing of gRPC: the server's
//! error advice (`advice.rs`) maps them to statuses, in one place.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use grpcx::Status;

/// The domain of this service's `ErrorInfo` reasons.
pub const ERROR_DOMAIN: &str = "products.example.com";

/// The `ErrorInfo` reason of an unknown product.
pub const REASON_PRODUCT_NOT_FOUND: &str = "PRODUCT_NOT_FOUND";

/// How long a client should wait before retrying during an outage.
pub const OUTAGE_RETRY_DELAY: Duration = Duration::from_secs(5);

/// What the product repository fails with. It knows nothing of gRPC.
#[derive(Debug, thiserror::Error)]
pub enum ProductError {
    /// No product has this id. The metadata says which product, for the
    /// client's `ErrorInfo` (as the seed's `errorMetaData` map).
    #[error("product {id} not found")]
    NotFound {
        /// The id asked for.
        id: String,
        /// Structured facts about the failure (`productId`, ...).
        metadata: HashMap<String, String>,
    },
    /// Fields of a request are invalid (a price that is not positive, a
    /// missing name, ...); every one is listed.
    #[error("invalid product: {} invalid field(s), listed in the details", .0.len())]
    Invalid(Violations),
    /// The catalog's backend is down. Its error names internal hosts, so
    /// the client only sees that the catalog is unavailable.
    #[error("the product catalog is temporarily unavailable")]
    Unavailable(#[source] BackendError),
}

/// A failure of the (simulated) storage behind the catalog; for logs only.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackendError(pub String);

/// The invalid fields of a request, each with what is wrong with it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Violations(Vec<(String, String)>);

impl Violations {
    /// Records that `field` is invalid, and why.
    pub fn add(&mut self, field: impl Into<String>, description: impl Into<String>) {
        self.0.push((field.into(), description.into()));
    }

    /// `Ok` when nothing was recorded.
    ///
    /// # Errors
    ///
    /// [`ProductError::Invalid`] listing every violation otherwise.
    pub fn check(self) -> Result<(), ProductError> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(ProductError::Invalid(self))
        }
    }

    /// How many violations were recorded.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no violation was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The violations as `(field, description)` pairs.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(f, d)| (f.as_str(), d.as_str()))
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (field, description)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{field}: {description}")?;
        }
        Ok(())
    }
}

/// How a handler's `?` hands a `ProductError` to the error advice: as the
/// source of a status the advice maps by the error's type. The code and
/// message here are what a server without the advice would send: nothing
/// of the error.
impl From<ProductError> for Status {
    fn from(err: ProductError) -> Status {
        Status::unknown("the product service failed").with_source(err)
    }
}
