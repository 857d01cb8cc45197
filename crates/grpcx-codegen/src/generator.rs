//! The prost-build [`ServiceGenerator`] writing grpcx's service code.
//!
//! For each service it writes, at the top level of the package's module:
//! the name constant and descriptor; the async client, server trait and
//! server; and, when enabled, the blocking client, server trait and server.
//! Every path it names is absolute (`::grpcx::codegen::*`, `::core::*`) and
//! every message type is `self::`-qualified, so nothing in the user's
//! module (a message called `Result` or `Send`, say) can shadow them.

use std::collections::BTreeSet;
use std::str::FromStr;

use proc_macro2::{Ident, Literal, Span, TokenStream};
use prost::Message as _;
use prost_build::{Comments, Method, Service, ServiceGenerator};
use prost_types::source_code_info::Location;
use prost_types::{FileDescriptorProto, FileDescriptorSet, SourceCodeInfo};
use quote::quote;

use crate::names::{MethodNames, ServiceNames, is_valid_identifier};

/// What to generate.
#[derive(Clone, Debug)]
pub(crate) struct Options {
    pub(crate) client: bool,
    pub(crate) server: bool,
    pub(crate) blocking: bool,
    /// `(proto path, attribute)`: attributes for every item of the matching
    /// services.
    pub(crate) service_attributes: Vec<(String, String)>,
    /// Proto paths mapped to Rust paths outside the generated module.
    pub(crate) externs: Vec<String>,
    /// Every file compiled and imported, with its comments as written: the
    /// `FILE_DESCRIPTOR_SET` of each package with a service is cut from it.
    pub(crate) descriptors: FileDescriptorSet,
}

/// The [`ServiceGenerator`] prost-build calls for each service.
#[derive(Debug)]
pub(crate) struct Generator {
    options: Options,
    /// The packages a service was generated for.
    packages: BTreeSet<String>,
}

impl Generator {
    pub(crate) fn new(options: Options) -> Generator {
        Generator {
            options,
            packages: BTreeSet::new(),
        }
    }
}

impl ServiceGenerator for Generator {
    fn generate(&mut self, service: Service, buf: &mut String) {
        self.packages.insert(service.package.clone());
        buf.push_str(&service_code(&self.options, &service).to_string());
        buf.push('\n');
    }

    fn finalize_package(&mut self, package: &str, buf: &mut String) {
        if self.packages.contains(package) {
            let set = package_descriptor_set(&self.options.descriptors, package);
            buf.push_str(&file_descriptor_set_code(&set.encode_to_vec()).to_string());
            buf.push('\n');
        }
    }
}

/// The files of `package` and, transitively, every file they import, in
/// the order of `all` (which lists a file's imports before it), with only
/// the source info reflection clients show: the leading and trailing
/// comments (see [`documented`]), except in the well-known
/// `google/protobuf/*.proto` files, whose long comments every client
/// already has.
pub(crate) fn package_descriptor_set(all: &FileDescriptorSet, package: &str) -> FileDescriptorSet {
    let mut wanted: BTreeSet<&str> = BTreeSet::new();
    let mut pending: Vec<&str> = all
        .file
        .iter()
        .filter(|file| file.package() == package)
        .map(|file| file.name())
        .collect();
    while let Some(name) = pending.pop() {
        if wanted.insert(name) {
            if let Some(file) = all.file.iter().find(|file| file.name() == name) {
                pending.extend(file.dependency.iter().map(String::as_str));
            }
        }
    }
    FileDescriptorSet {
        file: all
            .file
            .iter()
            .filter(|file| wanted.contains(file.name()))
            .map(|file| FileDescriptorProto {
                source_code_info: match file.name().starts_with("google/protobuf/") {
                    true => None,
                    false => file.source_code_info.as_ref().and_then(documented),
                },
                ..file.clone()
            })
            .collect(),
    }
}

/// The locations of `info` with a leading or trailing comment (what
/// `grpcurl describe` and other reflection clients print), without their
/// detached comments (license headers and the like); `None` when no
/// location has one. The rest of a full source info (a location, with
/// path and span, for every element and keyword) would more than double
/// the size of a set for nothing a client shows. Spans are kept: clients
/// (protobuf-go) reject a location without one.
fn documented(info: &SourceCodeInfo) -> Option<SourceCodeInfo> {
    let commented = |comment: &Option<String>| comment.as_deref().is_some_and(|c| !c.is_empty());
    let location: Vec<Location> = info
        .location
        .iter()
        .filter(|l| commented(&l.leading_comments) || commented(&l.trailing_comments))
        .map(|l| Location {
            leading_detached_comments: Vec::new(),
            ..l.clone()
        })
        .collect();
    (!location.is_empty()).then_some(SourceCodeInfo { location })
}

/// The package's `FILE_DESCRIPTOR_SET` constant.
fn file_descriptor_set_code(bytes: &[u8]) -> TokenStream {
    let literal = Literal::byte_string(bytes);
    let doc = doc_text(
        "The encoded `google.protobuf.FileDescriptorSet` of this package's\n\
         files and every file they import, for server reflection; each\n\
         service's descriptor points at it.",
    );
    quote! {
        #doc
        pub const FILE_DESCRIPTOR_SET: &[u8] = #literal;
    }
}

/// The kind of a method, by which side streams.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Unary,
    ServerStreaming,
    ClientStreaming,
    Bidi,
}

/// What the code of one method needs.
struct MethodInfo {
    names: MethodNames,
    proto_name: String,
    kind: Kind,
    path: String,
    input: TokenStream,
    output: TokenStream,
    input_proto: String,
    output_proto: String,
    docs: Vec<String>,
}

/// What the code of one service needs.
struct ServiceInfo {
    names: ServiceNames,
    docs: Vec<String>,
    attributes: TokenStream,
    methods: Vec<MethodInfo>,
}

fn service_code(options: &Options, service: &Service) -> TokenStream {
    let names = ServiceNames::new(&service.package, &service.proto_name);
    let attributes = service_attributes(options, &names.full_name);
    let methods = service
        .methods
        .iter()
        .map(|method| method_info(options, &names, method))
        .collect();
    let info = ServiceInfo {
        docs: doc_lines(&service.comments),
        names,
        attributes,
        methods,
    };
    for name in [
        &info.names.server_trait,
        &info.names.client,
        &info.names.server,
        &info.names.blocking_client,
        &info.names.blocking_trait,
        &info.names.blocking_server,
        &info.names.name_const,
        &info.names.descriptor,
    ] {
        if !is_valid_identifier(name) {
            return invalid_name(name);
        }
    }
    for method in &info.methods {
        let names = &method.names;
        for name in [
            &names.method,
            &names.with,
            &names.future,
            &names.stream_type,
        ] {
            if !is_valid_identifier(name) {
                return invalid_name(name);
            }
        }
    }

    let mut code = descriptor(&info);
    if options.client {
        code.extend(client(&info));
    }
    if options.server {
        code.extend(server(&info));
    }
    if options.blocking && options.client {
        code.extend(blocking_client(&info));
    }
    if options.blocking && options.server {
        code.extend(blocking_server(&info));
    }
    code
}

/// Never reached through the builder, which checks names first.
fn invalid_name(name: &str) -> TokenStream {
    let message = format!("grpcx-codegen: `{name}` is not a Rust identifier");
    quote!(::core::compile_error!(#message);)
}

fn method_info(options: &Options, service: &ServiceNames, method: &Method) -> MethodInfo {
    let kind = match (method.client_streaming, method.server_streaming) {
        (false, false) => Kind::Unary,
        (false, true) => Kind::ServerStreaming,
        (true, false) => Kind::ClientStreaming,
        (true, true) => Kind::Bidi,
    };
    MethodInfo {
        names: MethodNames::new(&method.proto_name),
        proto_name: method.proto_name.clone(),
        kind,
        path: format!("/{}/{}", service.full_name, method.proto_name),
        input: rust_type(options, &method.input_proto_type, &method.input_type),
        output: rust_type(options, &method.output_proto_type, &method.output_type),
        input_proto: method.input_proto_type.trim_start_matches('.').to_owned(),
        output_proto: method.output_proto_type.trim_start_matches('.').to_owned(),
        docs: doc_lines(&method.comments),
    }
}

/// The Rust type of a message: prost-build's path, made absolute with
/// `self::` when it is relative to the package's module.
fn rust_type(options: &Options, proto: &str, rust: &str) -> TokenStream {
    let is_extern = options
        .externs
        .iter()
        .any(|e| proto == e || proto.starts_with(&format!("{e}.")));
    let relative = !is_extern
        && rust
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let path = if relative && !rust.starts_with("crate::") {
        format!("self::{rust}")
    } else {
        rust.to_owned()
    };
    TokenStream::from_str(&path).unwrap_or_else(|_| {
        let message = format!("grpcx-codegen: `{rust}` is not a Rust type");
        quote!(::core::compile_error!(#message))
    })
}

/// The attributes configured for the service named `full_name`.
fn service_attributes(options: &Options, full_name: &str) -> TokenStream {
    let mut attributes = TokenStream::new();
    for (path, attribute) in &options.service_attributes {
        if matches_path(path, full_name) {
            // The builder checked that each one parses.
            if let Ok(tokens) = TokenStream::from_str(attribute) {
                attributes.extend(tokens);
            }
        }
    }
    attributes
}

/// Whether a proto path given to the builder (`.`, `.pkg`, `.pkg.Service`,
/// with or without the leading dot) selects the service `full_name`.
pub(crate) fn matches_path(path: &str, full_name: &str) -> bool {
    let path = path.trim_start_matches('.');
    path.is_empty() || full_name == path || full_name.starts_with(&format!("{path}."))
}

/// The lines of a proto comment as prost-build writes them for messages
/// (leading, then trailing; URLs and brackets escaped), without the
/// `///`.
fn doc_lines(comments: &Comments) -> Vec<String> {
    let comments = Comments {
        leading_detached: Vec::new(),
        leading: comments.leading.clone(),
        trailing: comments.trailing.clone(),
    };
    let mut rendered = String::new();
    comments.append_with_indent(0, &mut rendered);
    rendered
        .lines()
        .filter_map(|line| line.strip_prefix("///"))
        .map(str::to_owned)
        .collect()
}

/// Doc attributes: the proto comment if there is one, else `fallback`.
fn docs_or(lines: &[String], fallback: &str) -> TokenStream {
    if lines.iter().all(|line| line.trim().is_empty()) {
        return doc_text(fallback);
    }
    lines.iter().map(|line| quote!(#[doc = #line])).collect()
}

/// Doc attributes for generated text, one per line.
fn doc_text(text: &str) -> TokenStream {
    text.lines()
        .map(|line| {
            let line = if line.is_empty() {
                String::new()
            } else {
                format!(" {line}")
            };
            quote!(#[doc = #line])
        })
        .collect()
}

fn ident(name: &str) -> Ident {
    match name.strip_prefix("r#") {
        Some(raw) => Ident::new_raw(raw, Span::call_site()),
        None => Ident::new(name, Span::call_site()),
    }
}

fn kind_phrase(kind: Kind) -> &'static str {
    match kind {
        Kind::Unary => "one request, one response",
        Kind::ServerStreaming => "one request, a stream of responses",
        Kind::ClientStreaming => "a stream of requests, one response",
        Kind::Bidi => "requests and responses stream both ways",
    }
}

fn descriptor(info: &ServiceInfo) -> TokenStream {
    let attributes = &info.attributes;
    let full_name = &info.names.full_name;
    let name_const = ident(&info.names.name_const);
    let descriptor = ident(&info.names.descriptor);
    let name_doc = doc_text(&format!("The full name of the `{full_name}` service."));
    let descriptor_doc = doc_text(&format!(
        "The descriptor of the `{full_name}` service: its methods, with their\npaths, kinds and message types."
    ));
    let methods = info.methods.iter().map(|method| {
        let name = &method.proto_name;
        let path = &method.path;
        let kind = ident(match method.kind {
            Kind::Unary => "Unary",
            Kind::ServerStreaming => "ServerStreaming",
            Kind::ClientStreaming => "ClientStreaming",
            Kind::Bidi => "BidiStreaming",
        });
        let input = &method.input_proto;
        let output = &method.output_proto;
        quote! {
            ::grpcx::codegen::MethodDescriptor::new(
                #name,
                #path,
                ::grpcx::codegen::MethodKind::#kind,
                #input,
                #output,
            )
        }
    });
    quote! {
        #name_doc
        #attributes
        pub const #name_const: &str = #full_name;

        #descriptor_doc
        #attributes
        pub static #descriptor: ::grpcx::codegen::ServiceDescriptor =
            ::grpcx::codegen::ServiceDescriptor::new(#name_const, &[#(#methods),*])
                .with_file_descriptor_set(self::FILE_DESCRIPTOR_SET);
    }
}

/// `<ProstCodec<Encode, Decode> as Default>::default()`.
fn codec(encode: &TokenStream, decode: &TokenStream) -> TokenStream {
    quote! {
        <::grpcx::codegen::ProstCodec<#encode, #decode> as ::core::default::Default>::default()
    }
}

fn client(info: &ServiceInfo) -> TokenStream {
    let attributes = &info.attributes;
    let full_name = &info.names.full_name;
    let client = ident(&info.names.client);
    let docs = docs_or(
        &info.docs,
        &format!("A client of the `{full_name}` service."),
    );
    let about = doc_text(&format!(
        "Each method makes one call of `{full_name}` on the channel; calls may\n\
         run concurrently, and cloning the client is cheap (the clones share\n\
         the channel). A failed call returns the server's status, or one made\n\
         locally: `DEADLINE_EXCEEDED` when the timeout passed, `UNAVAILABLE`\n\
         when no connection could be made."
    ));
    let methods = info.methods.iter().map(client_method);
    quote! {
        #docs
        #[doc = ""]
        #about
        #attributes
        #[derive(Clone, Debug)]
        pub struct #client<T = ::grpcx::codegen::Channel> {
            inner: ::grpcx::codegen::Grpc<T>,
        }

        #attributes
        impl<T: 'static> #client<T> {
            /// A client making its calls on `inner`: a `Channel`, or tower
            /// layers over one.
            pub fn new(inner: T) -> Self {
                Self { inner: ::grpcx::codegen::Grpc::new(inner) }
            }
        }

        #attributes
        impl<T> #client<T> {
            /// Replaces the encoding settings (message size limits,
            /// compression, default timeout); a client over layers starts
            /// from the defaults, not from its channel's.
            pub fn with_config(self, config: ::grpcx::codegen::ClientConfig) -> Self {
                Self { inner: self.inner.with_config(config) }
            }

            /// The channel (or service) the calls are made on.
            pub fn get_ref(&self) -> &T {
                self.inner.get_ref()
            }

            /// The channel (or service) the calls are made on, to change it.
            pub fn get_mut(&mut self) -> &mut T {
                self.inner.get_mut()
            }

            /// The channel (or service), consuming the client.
            pub fn into_inner(self) -> T {
                self.inner.into_inner()
            }
        }

        #attributes
        impl<T: ::grpcx::codegen::ClientService> #client<T> {
            #(#methods)*
        }
    }
}

fn client_method(method: &MethodInfo) -> TokenStream {
    let name = ident(&method.names.method);
    let path = &method.path;
    let input = &method.input;
    let output = &method.output;
    let codec = codec(input, output);
    let docs = docs_or(
        &method.docs,
        &format!("`{}`: {}.", method.proto_name, kind_phrase(method.kind)),
    );
    let path = quote!(::grpcx::codegen::PathAndQuery::from_static(#path));
    match method.kind {
        Kind::Unary => quote! {
            #docs
            pub async fn #name(
                &self,
                request: impl ::grpcx::codegen::IntoRequest<#input>,
            ) -> ::core::result::Result<::grpcx::codegen::Response<#output>, ::grpcx::codegen::Status> {
                self.inner
                    .unary(#path, ::grpcx::codegen::IntoRequest::into_request(request), #codec)
                    .await
            }
        },
        Kind::ServerStreaming => quote! {
            #docs
            pub async fn #name(
                &self,
                request: impl ::grpcx::codegen::IntoRequest<#input>,
            ) -> ::core::result::Result<
                ::grpcx::codegen::Response<::grpcx::codegen::Streaming<#output>>,
                ::grpcx::codegen::Status,
            > {
                self.inner
                    .server_streaming(#path, ::grpcx::codegen::IntoRequest::into_request(request), #codec)
                    .await
            }
        },
        Kind::ClientStreaming => {
            let more = doc_text(
                "\nTakes a `Stream` or an iterator of requests, or either in a\n`Request` to set metadata and a timeout.",
            );
            quote! {
                #docs
                #more
                pub async fn #name<M>(
                    &self,
                    request: impl ::grpcx::codegen::IntoStreamingRequest<M, Message = #input>,
                ) -> ::core::result::Result<::grpcx::codegen::Response<#output>, ::grpcx::codegen::Status> {
                    self.inner
                        .client_streaming(
                            #path,
                            ::grpcx::codegen::IntoStreamingRequest::into_streaming_request(request),
                            #codec,
                        )
                        .await
                }
            }
        }
        Kind::Bidi => {
            let with = ident(&method.names.with);
            let more = doc_text(
                "\nReturns at once: a sender for the requests and the stream of\n\
                 responses. The call starts when the stream is first polled;\n\
                 dropping the sender ends the requests, dropping the stream\n\
                 cancels the call.",
            );
            let with_docs = doc_text(&format!(
                "`{}`, with the metadata and timeout of `request`.",
                method.proto_name
            ));
            quote! {
                #docs
                #more
                pub fn #name(&self) -> (::grpcx::codegen::RequestSender<#input>, ::grpcx::codegen::Streaming<#output>) {
                    self.#with(::grpcx::codegen::Request::new(()))
                }

                #with_docs
                pub fn #with(
                    &self,
                    request: ::grpcx::codegen::Request<()>,
                ) -> (::grpcx::codegen::RequestSender<#input>, ::grpcx::codegen::Streaming<#output>) {
                    self.inner.bidi_streaming(#path, request, #codec)
                }
            }
        }
    }
}

fn result(ok: TokenStream) -> TokenStream {
    quote!(::core::result::Result<#ok, ::grpcx::codegen::Status>)
}

fn server(info: &ServiceInfo) -> TokenStream {
    let attributes = &info.attributes;
    let full_name = &info.names.full_name;
    let trait_name = ident(&info.names.server_trait);
    let server = ident(&info.names.server);
    let server_doc = doc_text(&format!(
        "Serves a [`{}`] implementation: add it to a `Server`.",
        info.names.server_trait
    ));
    let descriptor = ident(&info.names.descriptor);
    let name_const = ident(&info.names.name_const);
    let docs = docs_or(
        &info.docs,
        &format!("The `{full_name}` service, as a server implements it."),
    );
    let about = doc_text(&format!(
        "Serve an implementation by adding a `{}` to a `Server`. A\n\
         handler fails with a `Status`; a panic fails only its call, with\n\
         `INTERNAL`.",
        info.names.server
    ));
    let items = info.methods.iter().map(|method| {
        let name = ident(&method.names.method);
        let input = &method.input;
        let output = &method.output;
        let docs = docs_or(
            &method.docs,
            &format!("`{}`: {}.", method.proto_name, kind_phrase(method.kind)),
        );
        let request = match method.kind {
            Kind::Unary | Kind::ServerStreaming => quote!(::grpcx::codegen::ServerRequest<#input>),
            Kind::ClientStreaming | Kind::Bidi => {
                quote!(::grpcx::codegen::ServerRequest<::grpcx::codegen::Streaming<#input>>)
            }
        };
        match method.kind {
            Kind::Unary | Kind::ClientStreaming => {
                let result = result(quote!(::grpcx::codegen::Response<#output>));
                quote! {
                    #docs
                    fn #name(&self, request: #request)
                        -> impl ::core::future::Future<Output = #result> + ::core::marker::Send;
                }
            }
            Kind::ServerStreaming | Kind::Bidi => {
                let stream = ident(&method.names.stream_type);
                let stream_docs = doc_text(&format!(
                    "The stream of responses of `{}`.",
                    method.proto_name
                ));
                let result = result(quote!(::grpcx::codegen::Response<Self::#stream>));
                let item = result_item(output);
                quote! {
                    #stream_docs
                    type #stream: ::grpcx::codegen::Stream<Item = #item>
                        + ::core::marker::Send
                        + 'static;

                    #docs
                    fn #name(&self, request: #request)
                        -> impl ::core::future::Future<Output = #result> + ::core::marker::Send;
                }
            }
        }
    });
    let arms = info.methods.iter().map(|method| {
        let name = ident(&method.names.method);
        let proto_name = &method.proto_name;
        let codec = codec(&method.output, &method.input);
        let adapter = ident(match method.kind {
            Kind::Unary => "unary",
            Kind::ServerStreaming => "server_streaming",
            Kind::ClientStreaming => "client_streaming",
            Kind::Bidi => "bidi_streaming",
        });
        quote! {
            #proto_name => {
                let inner = ::grpcx::codegen::Arc::clone(&self.inner);
                ::std::boxed::Box::pin(::grpcx::codegen::handler::#adapter(
                    call,
                    #codec,
                    move |request| async move { <T as #trait_name>::#name(&*inner, request).await },
                ))
            }
        }
    });
    let glue = server_glue(
        attributes,
        &server_doc,
        &server,
        &trait_name,
        &name_const,
        &descriptor,
        arms.collect(),
    );
    quote! {
        #docs
        #[doc = ""]
        #about
        #attributes
        pub trait #trait_name: ::core::marker::Send + ::core::marker::Sync + 'static {
            #(#items)*
        }

        #glue
    }
}

/// `Result<Output, Status>`, a response stream's item.
fn result_item(output: &TokenStream) -> TokenStream {
    result(output.clone())
}

fn blocking_client(info: &ServiceInfo) -> TokenStream {
    let attributes = &info.attributes;
    let full_name = &info.names.full_name;
    let client = ident(&info.names.blocking_client);
    let docs = doc_text(&format!(
        "A blocking client of the `{full_name}` service, for threads outside\n\
         any async runtime.\n\n\
         Each method makes one call and waits for it; the `_future` methods\n\
         return a handle to wait on later."
    ));
    let methods = info.methods.iter().map(blocking_client_method);
    quote! {
        #docs
        #attributes
        #[derive(Clone, Debug)]
        pub struct #client<T = ::grpcx::codegen::Channel> {
            inner: ::grpcx::codegen::BlockingChannel<T>,
        }

        #attributes
        impl<T> #client<T> {
            /// A client making its calls on `channel`.
            pub fn new(channel: ::grpcx::codegen::BlockingChannel<T>) -> Self {
                Self { inner: channel }
            }

            /// The channel the calls are made on.
            pub fn get_ref(&self) -> &::grpcx::codegen::BlockingChannel<T> {
                &self.inner
            }

            /// The channel the calls are made on, to change it.
            pub fn get_mut(&mut self) -> &mut ::grpcx::codegen::BlockingChannel<T> {
                &mut self.inner
            }

            /// The channel, consuming the client.
            pub fn into_inner(self) -> ::grpcx::codegen::BlockingChannel<T> {
                self.inner
            }
        }

        #attributes
        impl<T: ::grpcx::codegen::ClientService> #client<T> {
            #(#methods)*
        }
    }
}

fn blocking_client_method(method: &MethodInfo) -> TokenStream {
    let name = ident(&method.names.method);
    let path = &method.path;
    let input = &method.input;
    let output = &method.output;
    let codec = codec(input, output);
    let docs = docs_or(
        &method.docs,
        &format!("`{}`: {}.", method.proto_name, kind_phrase(method.kind)),
    );
    let path = quote!(::grpcx::codegen::PathAndQuery::from_static(#path));
    let into_request = quote!(::grpcx::codegen::IntoRequest::into_request(request));
    match method.kind {
        Kind::Unary => {
            let future = ident(&method.names.future);
            let future_docs = doc_text(&format!(
                "`{}`, without waiting: the handle gives the response later.",
                method.proto_name
            ));
            let response = result(quote!(::grpcx::codegen::Response<#output>));
            quote! {
                #docs
                pub fn #name(&self, request: impl ::grpcx::codegen::IntoRequest<#input>) -> #response {
                    self.inner.unary(#path, #into_request, #codec)
                }

                #future_docs
                pub fn #future(
                    &self,
                    request: impl ::grpcx::codegen::IntoRequest<#input>,
                ) -> ::grpcx::codegen::CallHandle<::grpcx::codegen::Response<#output>> {
                    self.inner.unary_future(#path, #into_request, #codec)
                }
            }
        }
        Kind::ServerStreaming => {
            let response = result(quote!(
                ::grpcx::codegen::Response<::grpcx::codegen::BlockingStreaming<#output>>
            ));
            quote! {
                #docs
                pub fn #name(&self, request: impl ::grpcx::codegen::IntoRequest<#input>) -> #response {
                    self.inner.server_streaming(#path, #into_request, #codec)
                }
            }
        }
        Kind::ClientStreaming => {
            let more = doc_text(
                "\nTakes an iterator of requests (sent from another thread as it\nyields them), or one in a `Request` to set metadata and a timeout.",
            );
            let response = result(quote!(::grpcx::codegen::Response<#output>));
            quote! {
                #docs
                #more
                pub fn #name<M>(
                    &self,
                    request: impl ::grpcx::codegen::IntoBlockingStreamingRequest<M, Message = #input>,
                ) -> #response {
                    self.inner.client_streaming(
                        #path,
                        ::grpcx::codegen::IntoBlockingStreamingRequest::into_blocking_streaming_request(request),
                        #codec,
                    )
                }
            }
        }
        Kind::Bidi => {
            let with = ident(&method.names.with);
            let more = doc_text(
                "\nReturns at once: a sender for the requests and the stream of\n\
                 responses. Dropping the sender ends the requests, dropping the\n\
                 stream cancels the call.",
            );
            let with_docs = doc_text(&format!(
                "`{}`, with the metadata and timeout of `request`.",
                method.proto_name
            ));
            quote! {
                #docs
                #more
                pub fn #name(&self) -> (::grpcx::codegen::BlockingSender<#input>, ::grpcx::codegen::BlockingStreaming<#output>) {
                    self.#with(::grpcx::codegen::Request::new(()))
                }

                #with_docs
                pub fn #with(
                    &self,
                    request: ::grpcx::codegen::Request<()>,
                ) -> (::grpcx::codegen::BlockingSender<#input>, ::grpcx::codegen::BlockingStreaming<#output>) {
                    self.inner.bidi_streaming(#path, request, #codec)
                }
            }
        }
    }
}

fn blocking_server(info: &ServiceInfo) -> TokenStream {
    let attributes = &info.attributes;
    let full_name = &info.names.full_name;
    let trait_name = ident(&info.names.blocking_trait);
    let server = ident(&info.names.blocking_server);
    let server_doc = doc_text(&format!(
        "Serves a [`{}`] implementation: add it to a `Server`.",
        info.names.blocking_trait
    ));
    let descriptor = ident(&info.names.descriptor);
    let name_const = ident(&info.names.name_const);
    let docs = doc_text(&format!(
        "The `{full_name}` service with blocking handlers.\n\n\
         Each call runs on a thread of its own, where blocking is fine. Serve an\n\
         implementation by adding a `{}` to a `Server`.",
        info.names.blocking_server
    ));
    let items = info.methods.iter().map(|method| {
        let name = ident(&method.names.method);
        let input = &method.input;
        let output = &method.output;
        let docs = docs_or(
            &method.docs,
            &format!("`{}`: {}.", method.proto_name, kind_phrase(method.kind)),
        );
        let response = result(quote!(::grpcx::codegen::Response<#output>));
        let unit = result(quote!(()));
        let streaming = quote!(::grpcx::codegen::ServerRequest<::grpcx::codegen::BlockingStreaming<#input>>);
        let sink = quote!(::grpcx::codegen::ResponseSink<#output>);
        match method.kind {
            Kind::Unary => quote! {
                #docs
                fn #name(&self, request: ::grpcx::codegen::ServerRequest<#input>) -> #response;
            },
            Kind::ServerStreaming => quote! {
                #docs
                fn #name(&self, request: ::grpcx::codegen::ServerRequest<#input>, responses: #sink) -> #unit;
            },
            Kind::ClientStreaming => quote! {
                #docs
                fn #name(&self, requests: #streaming) -> #response;
            },
            Kind::Bidi => quote! {
                #docs
                fn #name(&self, requests: #streaming, responses: #sink) -> #unit;
            },
        }
    });
    let arms = info.methods.iter().map(|method| {
        let name = ident(&method.names.method);
        let proto_name = &method.proto_name;
        let codec = codec(&method.output, &method.input);
        let (adapter, handler) = match method.kind {
            Kind::Unary => (
                "blocking_unary",
                quote!(move |request| <T as #trait_name>::#name(&*inner, request)),
            ),
            Kind::ServerStreaming => (
                "blocking_server_streaming",
                quote!(move |request, responses| <T as #trait_name>::#name(&*inner, request, responses)),
            ),
            Kind::ClientStreaming => (
                "blocking_client_streaming",
                quote!(move |requests| <T as #trait_name>::#name(&*inner, requests)),
            ),
            Kind::Bidi => (
                "blocking_bidi_streaming",
                quote!(move |requests, responses| <T as #trait_name>::#name(&*inner, requests, responses)),
            ),
        };
        let adapter = ident(adapter);
        quote! {
            #proto_name => {
                let inner = ::grpcx::codegen::Arc::clone(&self.inner);
                ::std::boxed::Box::pin(::grpcx::codegen::handler::#adapter(call, #codec, #handler))
            }
        }
    });
    let glue = server_glue(
        attributes,
        &server_doc,
        &server,
        &trait_name,
        &name_const,
        &descriptor,
        arms.collect(),
    );
    quote! {
        #docs
        #attributes
        pub trait #trait_name: ::core::marker::Send + ::core::marker::Sync + 'static {
            #(#items)*
        }

        #glue
    }
}

/// The struct that serves a service trait, and its `GrpcService` impl: the
/// same for the async and the blocking trait, bar the match arms.
fn server_glue(
    attributes: &TokenStream,
    server_doc: &TokenStream,
    server: &Ident,
    trait_name: &Ident,
    name_const: &Ident,
    descriptor: &Ident,
    arms: Vec<TokenStream>,
) -> TokenStream {
    quote! {
        #attributes
        #server_doc
        #[derive(Debug)]
        pub struct #server<T> {
            inner: ::grpcx::codegen::Arc<T>,
        }

        #attributes
        impl<T: #trait_name> #server<T> {
            /// Serves `service`.
            pub fn new(service: T) -> Self {
                Self::from_arc(::grpcx::codegen::Arc::new(service))
            }

            /// Serves a shared `service`.
            pub fn from_arc(service: ::grpcx::codegen::Arc<T>) -> Self {
                Self { inner: service }
            }

            /// The service.
            pub fn get_ref(&self) -> &T {
                &self.inner
            }

            /// The shared service, consuming the server.
            pub fn into_inner(self) -> ::grpcx::codegen::Arc<T> {
                self.inner
            }
        }

        #attributes
        impl<T> ::core::clone::Clone for #server<T> {
            fn clone(&self) -> Self {
                Self { inner: ::grpcx::codegen::Arc::clone(&self.inner) }
            }
        }

        #attributes
        impl<T: #trait_name> ::grpcx::codegen::GrpcService for #server<T> {
            fn name(&self) -> &'static str {
                #name_const
            }

            fn call(
                &self,
                method: &str,
                call: ::grpcx::codegen::ServerCall,
            ) -> ::grpcx::codegen::BoxFuture<::grpcx::codegen::http::Response<::grpcx::codegen::ResponseBody>> {
                match method {
                    #(#arms)*
                    _ => ::std::boxed::Box::pin(async move { call.unimplemented() }),
                }
            }

            fn descriptor(&self) -> ::core::option::Option<&'static ::grpcx::codegen::ServiceDescriptor> {
                ::core::option::Option::Some(&#descriptor)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn testing_files() -> FileDescriptorSet {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
        let mut compiler = protox::Compiler::new([root]).unwrap();
        compiler.include_imports(true).include_source_info(true);
        compiler.open_file("grpc/testing/test.proto").unwrap();
        compiler.file_descriptor_set()
    }

    #[test]
    fn a_package_set_holds_its_files_and_their_imports() {
        let all = testing_files();
        let set = package_descriptor_set(&all, "grpc.testing");
        let names: Vec<&str> = set.file.iter().map(|f| f.name()).collect();
        assert_eq!(
            names,
            [
                "grpc/testing/empty.proto",
                "grpc/testing/messages.proto",
                "grpc/testing/test.proto"
            ]
        );
        let decoded = FileDescriptorSet::decode(set.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, set);
    }

    #[test]
    fn a_package_set_keeps_the_comments_and_only_them() {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
        let mut compiler = protox::Compiler::new([root]).unwrap();
        compiler.include_imports(true).include_source_info(true);
        compiler.open_file("grpc/health/v1/health.proto").unwrap();
        compiler
            .open_file("google/protobuf/timestamp.proto")
            .unwrap();
        let all = compiler.file_descriptor_set();
        let timestamp = package_descriptor_set(&all, "google.protobuf");
        assert!(timestamp.file[0].source_code_info.is_none());
        let set = package_descriptor_set(&all, "grpc.health.v1");
        let info = set.file[0].source_code_info.as_ref().expect("comments");
        // Only commented locations, with their spans, and no detached
        // comment (the file's header).
        for location in &info.location {
            assert!(location.leading_comments.is_some() || location.trailing_comments.is_some());
            assert!(location.leading_detached_comments.is_empty());
            assert!(matches!(location.span.len(), 3 | 4));
        }
        // The comment of `Health` (path: service = 6, index 0), as written.
        let service = info.location.iter().find(|l| l.path == [6, 0]);
        let comment = service.and_then(|l| l.leading_comments.as_deref());
        assert_eq!(comment, Some(" The health of a server's services.\n"));
        // The set grows by about the comments' text (a location's path and
        // span are a few bytes), less than the full source info.
        let full = &all.file[0];
        let without = full.encoded_len()
            - full
                .source_code_info
                .as_ref()
                .map_or(0, |i| i.encoded_len());
        let text: usize = info
            .location
            .iter()
            .map(|l| l.leading_comments().len() + l.trailing_comments().len())
            .sum();
        let kept = set.encoded_len();
        assert!(
            kept <= without + text + 16 * info.location.len(),
            "{kept}: {without} + {text}"
        );
        assert!(
            kept < full.encoded_len(),
            "{kept} of {}",
            full.encoded_len()
        );
        // A file without a comment has no source info at all.
        let testing = package_descriptor_set(&testing_files(), "grpc.testing");
        assert!(testing.file.iter().any(|f| f.source_code_info.is_none()));
    }

    #[test]
    fn an_unknown_package_has_an_empty_set() {
        assert!(
            package_descriptor_set(&testing_files(), "nope")
                .file
                .is_empty()
        );
    }
}
