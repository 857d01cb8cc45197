//! Descriptors of services and methods: names and kinds, for routing,
//! interceptors, logs and reflection. Generated code declares one
//! [`ServiceDescriptor`] per service.

/// The kind of a method, by whether each side streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
    /// Streams both ways.
    BidiStreaming,
}

impl MethodKind {
    /// Whether the client sends a stream of requests.
    pub fn client_streams(self) -> bool {
        matches!(
            self,
            MethodKind::ClientStreaming | MethodKind::BidiStreaming
        )
    }

    /// Whether the server sends a stream of responses.
    pub fn server_streams(self) -> bool {
        matches!(
            self,
            MethodKind::ServerStreaming | MethodKind::BidiStreaming
        )
    }
}

/// A method of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct MethodDescriptor {
    /// The method's name, `UnaryCall`.
    pub name: &'static str,
    /// The HTTP/2 path of the method, `/grpc.testing.TestService/UnaryCall`.
    pub path: &'static str,
    /// Which sides stream.
    pub kind: MethodKind,
    /// The full protobuf name of the request type, `grpc.testing.SimpleRequest`.
    pub input_type: &'static str,
    /// The full protobuf name of the response type.
    pub output_type: &'static str,
}

impl MethodDescriptor {
    /// A descriptor (for generated code; fields may grow).
    pub const fn new(
        name: &'static str,
        path: &'static str,
        kind: MethodKind,
        input_type: &'static str,
        output_type: &'static str,
    ) -> MethodDescriptor {
        MethodDescriptor {
            name,
            path,
            kind,
            input_type,
            output_type,
        }
    }
}

/// A service and its methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct ServiceDescriptor {
    /// The full service name, `grpc.testing.TestService`.
    pub name: &'static str,
    /// The methods, in the order of the `.proto` file.
    pub methods: &'static [MethodDescriptor],
}

impl ServiceDescriptor {
    /// A descriptor (for generated code; fields may grow).
    pub const fn new(
        name: &'static str,
        methods: &'static [MethodDescriptor],
    ) -> ServiceDescriptor {
        ServiceDescriptor { name, methods }
    }

    /// The method called `name`, if the service has one.
    pub fn method(&self, name: &str) -> Option<&'static MethodDescriptor> {
        self.methods.iter().find(|m| m.name == name)
    }
}
