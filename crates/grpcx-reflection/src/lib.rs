//! gRPC server reflection for grpcx servers: `grpc.reflection.v1` and
//! `grpc.reflection.v1alpha` ([gRPC's server reflection protocol]), so
//! that tools such as grpcurl, grpcui and `grpcio-reflection` can list the
//! services and fetch their protobuf descriptors without the `.proto`
//! files.
//!
//! The descriptors come from grpcx-codegen: each generated module has a
//! `FILE_DESCRIPTOR_SET` (the package's files and their imports), and each
//! generated `FOO_DESCRIPTOR` points at it. A [`Builder`] takes the
//! services to list (and, for hand-written services, encoded descriptor
//! sets), and [`Reflection`] serves both API versions:
//!
//! ```
//! use grpcx_transport::Server;
//!
//! # fn main() -> Result<(), grpcx_reflection::Error> {
//! let reflection = grpcx_reflection::service_for(&[grpcx_health::DESCRIPTOR])?;
//! let server = Server::builder()
//!     .add_service(reflection.v1())
//!     .add_service(reflection.v1alpha());
//! # drop(server);
//! # Ok(())
//! # }
//! ```
//!
//! Every request of the bidirectional `ServerReflectionInfo` call gets one
//! response, in order: `list_services` (the services given, and the two
//! reflection services), `file_by_filename`, `file_containing_symbol` (a
//! service, method, message, field, enum, enum value or extension, by full
//! name), `file_containing_extension` (each answered with the file and all
//! it imports, transitively, the file first) and
//! `all_extension_numbers_of_type`. What cannot be found is an
//! `ErrorResponse` with `NOT_FOUND`, and the call stays open.
//!
//! [gRPC's server reflection protocol]: https://github.com/grpc/grpc/blob/master/doc/server-reflection.md

// The generated code names `::grpcx::codegen::*`; see `codegen.rs`.
extern crate self as grpcx;

#[doc(hidden)]
pub mod codegen;
mod error;
mod index;
mod service;

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use grpcx_transport::descriptor::ServiceDescriptor;

pub use error::Error;
pub use service::ReflectionService;

/// The generated code of `grpc/reflection/{v1,v1alpha}/reflection.proto`:
/// the messages, the clients (for reflection from Rust) and the server
/// traits (committed under `src/generated/`; `cargo xtask codegen` writes
/// it).
pub mod pb {
    /// `grpc.reflection.v1`.
    pub mod v1 {
        #![allow(missing_docs, unreachable_pub, clippy::all)]
        include!("generated/grpc_reflection_v1.rs");
    }
    /// `grpc.reflection.v1alpha`.
    pub mod v1alpha {
        #![allow(missing_docs, unreachable_pub, clippy::all)]
        include!("generated/grpc_reflection_v1alpha.rs");
    }
}

/// The reflection of the services in `descriptors` (generated `FOO_DESCRIPTOR`s),
/// as [`Builder::service`] for each.
///
/// # Errors
///
/// As [`Builder::build`].
pub fn service_for(descriptors: &[&ServiceDescriptor]) -> Result<Reflection, Error> {
    descriptors
        .iter()
        .fold(Builder::default(), |builder, descriptor| {
            builder.service(descriptor)
        })
        .build()
}

/// What a [`Reflection`] knows: the services it lists and the files it
/// serves.
///
/// ```
/// # fn main() -> Result<(), grpcx_reflection::Error> {
/// let reflection = grpcx_reflection::Builder::default()
///     .service(grpcx_health::DESCRIPTOR)
///     .build()?;
/// # drop(reflection);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct Builder {
    sets: Vec<Bytes>,
    services: BTreeSet<String>,
}

impl Builder {
    /// Lists the service, and serves the files of its descriptor set (a
    /// generated descriptor has one; for a hand-written service, add its
    /// files with [`Builder::file_descriptor_set`]).
    pub fn service(mut self, descriptor: &ServiceDescriptor) -> Builder {
        if !descriptor.file_descriptor_set.is_empty() {
            self.sets
                .push(Bytes::from_static(descriptor.file_descriptor_set));
        }
        self.services.insert(descriptor.name.to_owned());
        self
    }

    /// Lists a service by its full name, `package.Service`; its file must
    /// be among those given.
    pub fn service_name(mut self, name: impl Into<String>) -> Builder {
        self.services.insert(name.into());
        self
    }

    /// Serves the files of an encoded `google.protobuf.FileDescriptorSet`
    /// (a generated `FILE_DESCRIPTOR_SET`, or protox's or protoc's output),
    /// without listing its services. A file whose name was already given
    /// is kept as first given.
    pub fn file_descriptor_set(mut self, encoded: impl Into<Bytes>) -> Builder {
        self.sets.push(encoded.into());
        self
    }

    /// Decodes and indexes the files. The two reflection services are
    /// always listed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidDescriptorSet`] when a set does not decode;
    /// [`Error::UnknownService`] when a listed service is in no file.
    pub fn build(self) -> Result<Reflection, Error> {
        let builder = self
            .service(&pb::v1::SERVER_REFLECTION_DESCRIPTOR)
            .service(&pb::v1alpha::SERVER_REFLECTION_DESCRIPTOR);
        let index = index::Index::new(&builder.sets, &builder.services)?;
        Ok(Reflection {
            service: ReflectionService::new(Arc::new(index)),
        })
    }
}

/// The reflection services, built by [`Builder::build`] or
/// [`service_for`]; add both to a server (they share one index).
#[derive(Clone, Debug)]
pub struct Reflection {
    service: ReflectionService,
}

impl Reflection {
    /// `grpc.reflection.v1.ServerReflection`.
    pub fn v1(&self) -> pb::v1::ServerReflectionServer<ReflectionService> {
        pb::v1::ServerReflectionServer::new(self.service.clone())
    }

    /// `grpc.reflection.v1alpha.ServerReflection`, which older clients
    /// (grpcurl before 1.9, most grpcio versions) use.
    pub fn v1alpha(&self) -> pb::v1alpha::ServerReflectionServer<ReflectionService> {
        pb::v1alpha::ServerReflectionServer::new(self.service.clone())
    }
}
