//! gRPC server reflection for grpcx servers: `grpc.reflection.v1` and
//! `grpc.reflection.v1alpha` ([gRPC's server reflection protocol]), so
//! that tools such as grpcurl, grpcui and `grpcio-reflection` can list the
//! services and fetch their protobuf descriptors (with their comments)
//! without the `.proto` files.
//!
//! The descriptors come from grpcx-codegen: each generated module has a
//! `FILE_DESCRIPTOR_SET` (the package's files and their imports), and each
//! generated service's `FOO_DESCRIPTOR` points at it. One line serves
//! reflection of every service of a server, [`ServerExt::add_reflection`]:
//!
//! ```
//! use grpcx_reflection::ServerExt as _;
//! use grpcx_transport::Server;
//!
//! let (health, _reporter) = grpcx_health::service();
//! let server = Server::builder()
//!     .add_reflection() // lists grpc.health.v1.Health too, added after it
//!     .add_service(health);
//! # drop(server);
//! ```
//!
//! The services are those the server has when it starts serving, whenever
//! they were added, the two reflection services included; one without a
//! descriptor (written by hand) is listed by name, and its files can be
//! given with [`ServerExt::add_reflection_with`] and
//! [`Builder::file_descriptor_set`]. To choose the services listed, a
//! [`Builder`] builds a [`Reflection`] from given descriptors instead
//! ([`service_for`] is the short form):
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
//! response, in order: `list_services` (the services, and the two
//! reflection services), `file_by_filename`, `file_containing_symbol` (a
//! service, method, message, field, enum, enum value or extension, by full
//! name), `file_containing_extension` (each answered with the file and all
//! it imports, transitively, the file first, leaving out the imports
//! already sent on the same call) and `all_extension_numbers_of_type`.
//! What cannot be found is an `ErrorResponse` with `NOT_FOUND`, and the
//! call stays open.
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
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use grpcx_transport::Server;
use grpcx_transport::descriptor::ServiceDescriptor;
use grpcx_transport::server::Routes;

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
        let builder = self.with_reflection();
        let index = index::Index::new(&builder.sets, &builder.services)?;
        Ok(Reflection {
            service: ReflectionService::new(Arc::new(OnceLock::from(Arc::new(index)))),
        })
    }

    fn with_reflection(self) -> Builder {
        self.service(&pb::v1::SERVER_REFLECTION_DESCRIPTOR)
            .service(&pb::v1alpha::SERVER_REFLECTION_DESCRIPTOR)
    }

    /// The index of what is given and every service of `routes`, leniently
    /// (see `Index::lenient`): it is made as the server starts, where
    /// there is no one to return an error to.
    fn index_for(self, routes: &Routes) -> index::Index {
        let builder = routes
            .names()
            .into_iter()
            .fold(self.with_reflection(), |builder, name| {
                match routes.descriptor(name) {
                    Some(descriptor) => builder.service(descriptor),
                    None => builder.service_name(name),
                }
            });
        index::Index::lenient(&builder.sets, &builder.services)
    }
}

/// Reflection of every service of a [`Server`], in one line: `use
/// grpcx_reflection::ServerExt as _;` (or `grpcx::reflection::ServerExt`),
/// then `.add_reflection()` on the server.
///
/// Sealed: implemented for [`Server`] only.
pub trait ServerExt: sealed::Sealed + Sized {
    /// Adds `grpc.reflection.v1.ServerReflection` and its `v1alpha` twin,
    /// listing every service the server has when it starts serving (added
    /// before or after this call; the reflection services included) and
    /// serving the files of their descriptors. A service without a
    /// descriptor (written by hand) is listed by name; give its files with
    /// [`ServerExt::add_reflection_with`].
    ///
    /// ```
    /// use grpcx_reflection::ServerExt as _;
    ///
    /// let (health, _reporter) = grpcx_health::service();
    /// let server = grpcx_transport::Server::builder()
    ///     .add_service(health)
    ///     .add_reflection();
    /// # drop(server);
    /// ```
    fn add_reflection(self) -> Self {
        self.add_reflection_with(Builder::default())
    }

    /// As [`ServerExt::add_reflection`], also listing the services of
    /// `builder` and serving the files it was given (those of hand-written
    /// services, say). What cannot be used is left out, not an error, as
    /// the server is starting by then: a descriptor set that does not
    /// decode (logged as a warning), and the files of a service no set
    /// defines (it is listed by name only).
    ///
    /// ```
    /// use grpcx_reflection::{Builder, ServerExt as _};
    ///
    /// # let hand_written_set: &'static [u8] = &[];
    /// let server = grpcx_transport::Server::builder()
    ///     .add_reflection_with(Builder::default().file_descriptor_set(hand_written_set));
    /// # drop(server);
    /// ```
    fn add_reflection_with(self, builder: Builder) -> Self;
}

impl<L> ServerExt for Server<L> {
    fn add_reflection_with(self, builder: Builder) -> Server<L> {
        let index = Arc::new(OnceLock::new());
        let service = ReflectionService::new(Arc::clone(&index));
        self.add_service(pb::v1::ServerReflectionServer::new(service.clone()))
            .add_service(pb::v1alpha::ServerReflectionServer::new(service))
            .on_start(move |routes| {
                // Set once: this hook runs once, for the one server the
                // services were added to.
                let _ = index.set(Arc::new(builder.index_for(routes)));
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

/// Keeps [`ServerExt`] for [`Server`] alone, so that methods can be added.
mod sealed {
    pub trait Sealed {}
    impl<L> Sealed for grpcx_transport::Server<L> {}
}
