//! [`Index`]: the files a reflection service knows, by name, by symbol and
//! by extension, and the answers to each kind of request.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use bytes::Bytes;
use grpcx_status::Code;
use prost::Message as _;
use prost_types::{DescriptorProto, FileDescriptorProto, FileDescriptorSet};

use crate::Error;
use crate::pb::v1::server_reflection_request::MessageRequest;
use crate::pb::v1::server_reflection_response::MessageResponse;
use crate::pb::v1::{
    ErrorResponse, ExtensionNumberResponse, FileDescriptorResponse, ListServiceResponse,
    ServerReflectionRequest, ServerReflectionResponse, ServiceResponse,
};

/// Every file known, indexed; immutable once built.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// The services `list_services` answers, sorted.
    services: BTreeSet<String>,
    /// File name → its encoded descriptor and the names of its imports.
    files: HashMap<String, (Bytes, Vec<String>)>,
    /// Fully qualified symbol → the file defining it.
    symbols: HashMap<String, String>,
    /// Extended message → extension number → the file defining it.
    extensions: HashMap<String, BTreeMap<i32, String>>,
}

impl Index {
    /// Indexes the files of `sets` (encoded `FileDescriptorSet`s; a file
    /// seen twice is kept once) and lists `services`, which must be
    /// defined in them.
    pub(crate) fn new(sets: &[Bytes], services: &BTreeSet<String>) -> Result<Index, Error> {
        let mut index = Index::default();
        for set in sets {
            index.add_set(set)?;
        }
        if let Some(name) = services.iter().find(|name| !index.defines_service(name)) {
            return Err(Error::UnknownService { name: name.clone() });
        }
        index.services = services.clone();
        Ok(index)
    }

    /// Indexes what it can of `sets` and lists every one of `services`:
    /// a set that does not decode is left out (and logged), and a service
    /// no file defines is listed by name only.
    pub(crate) fn lenient(sets: &[Bytes], services: &BTreeSet<String>) -> Index {
        let mut index = Index::default();
        for set in sets {
            if let Err(err) = index.add_set(set) {
                tracing::warn!(error = %err, "reflection leaves out a file descriptor set");
            }
        }
        for name in services.iter().filter(|name| !index.defines_service(name)) {
            tracing::debug!(service = %name, "reflection lists a service with no file by name only");
        }
        index.services = services.clone();
        index
    }

    /// Adds the files of an encoded set, all or none.
    fn add_set(&mut self, set: &Bytes) -> Result<(), Error> {
        let set = FileDescriptorSet::decode(set.clone()).map_err(Error::InvalidDescriptorSet)?;
        for file in set.file {
            if !self.files.contains_key(file.name()) {
                self.add_file(file);
            }
        }
        Ok(())
    }

    /// Whether a file defines the service `name`.
    fn defines_service(&self, name: &str) -> bool {
        self.symbols
            .get(name)
            .is_some_and(|file| self.is_service(file, name))
    }

    fn is_service(&self, file: &str, name: &str) -> bool {
        self.files
            .get(file)
            .and_then(|(bytes, _)| FileDescriptorProto::decode(bytes.clone()).ok())
            .is_some_and(|file| {
                file.service
                    .iter()
                    .any(|s| qualify(file.package(), s.name()) == name)
            })
    }

    fn add_file(&mut self, file: FileDescriptorProto) {
        let name = file.name().to_owned();
        let package = file.package();
        let mut symbols = Vec::new();
        for service in &file.service {
            let service_name = qualify(package, service.name());
            for method in &service.method {
                symbols.push(format!("{service_name}.{}", method.name()));
            }
            symbols.push(service_name);
        }
        for message in &file.message_type {
            self.add_message(&name, package, message, &mut symbols);
        }
        for enumeration in &file.enum_type {
            add_enum(package, enumeration, &mut symbols);
        }
        for extension in &file.extension {
            symbols.push(qualify(package, extension.name()));
            self.add_extension(&name, extension);
        }
        for symbol in symbols {
            self.symbols.entry(symbol).or_insert_with(|| name.clone());
        }
        let bytes = Bytes::from(file.encode_to_vec());
        self.files.insert(name, (bytes, file.dependency));
    }

    fn add_message(
        &mut self,
        file: &str,
        scope: &str,
        message: &DescriptorProto,
        symbols: &mut Vec<String>,
    ) {
        let name = qualify(scope, message.name());
        for field in &message.field {
            symbols.push(format!("{name}.{}", field.name()));
        }
        for oneof in &message.oneof_decl {
            symbols.push(format!("{name}.{}", oneof.name()));
        }
        for nested in &message.nested_type {
            self.add_message(file, &name, nested, symbols);
        }
        for enumeration in &message.enum_type {
            add_enum(&name, enumeration, symbols);
        }
        for extension in &message.extension {
            symbols.push(format!("{name}.{}", extension.name()));
            self.add_extension(file, extension);
        }
        symbols.push(name);
    }

    fn add_extension(&mut self, file: &str, extension: &prost_types::FieldDescriptorProto) {
        let extendee = extension.extendee().trim_start_matches('.').to_owned();
        self.extensions
            .entry(extendee)
            .or_default()
            .entry(extension.number())
            .or_insert_with(|| file.to_owned());
    }

    /// The answer to one request of a call; `sent` holds the names of the
    /// files already sent on the call, and gets those this answer sends.
    pub(crate) fn answer(
        &self,
        request: ServerReflectionRequest,
        sent: &mut HashSet<String>,
    ) -> ServerReflectionResponse {
        let response = match &request.message_request {
            Some(MessageRequest::ListServices(_)) => {
                MessageResponse::ListServicesResponse(ListServiceResponse {
                    service: self
                        .services
                        .iter()
                        .map(|name| ServiceResponse { name: name.clone() })
                        .collect(),
                })
            }
            Some(MessageRequest::FileByFilename(name)) => match self.files.contains_key(name) {
                true => self.file_and_imports(name, sent),
                false => error(Code::NotFound, format!("file {name:?} not found")),
            },
            Some(MessageRequest::FileContainingSymbol(symbol)) => {
                match self.symbols.get(symbol.trim_start_matches('.')) {
                    Some(file) => self.file_and_imports(file, sent),
                    None => error(Code::NotFound, format!("symbol {symbol:?} not found")),
                }
            }
            Some(MessageRequest::FileContainingExtension(extension)) => {
                let containing = extension.containing_type.trim_start_matches('.');
                match self
                    .extensions
                    .get(containing)
                    .and_then(|numbers| numbers.get(&extension.extension_number))
                {
                    Some(file) => self.file_and_imports(file, sent),
                    None => error(
                        Code::NotFound,
                        format!(
                            "extension {} of {containing:?} not found",
                            extension.extension_number
                        ),
                    ),
                }
            }
            Some(MessageRequest::AllExtensionNumbersOfType(name)) => {
                let name = name.trim_start_matches('.');
                let known = self
                    .symbols
                    .get(name)
                    .is_some_and(|file| self.is_message(file, name));
                if known {
                    MessageResponse::AllExtensionNumbersResponse(ExtensionNumberResponse {
                        base_type_name: name.to_owned(),
                        extension_number: self
                            .extensions
                            .get(name)
                            .map(|numbers| numbers.keys().copied().collect())
                            .unwrap_or_default(),
                    })
                } else {
                    error(Code::NotFound, format!("message type {name:?} not found"))
                }
            }
            None => error(Code::InvalidArgument, "empty request".to_owned()),
        };
        ServerReflectionResponse {
            valid_host: request.host.clone(),
            original_request: Some(request),
            message_response: Some(response),
        }
    }

    fn is_message(&self, file: &str, name: &str) -> bool {
        fn find(scope: &str, messages: &[DescriptorProto], name: &str) -> bool {
            messages.iter().any(|m| {
                let full = qualify(scope, m.name());
                full == name || find(&full, &m.nested_type, name)
            })
        }
        self.files
            .get(file)
            .and_then(|(bytes, _)| FileDescriptorProto::decode(bytes.clone()).ok())
            .is_some_and(|file| find(file.package(), &file.message_type, name))
    }

    /// `file` first, then every file it imports, transitively, each once,
    /// leaving out those in `sent` (already sent on this call, with their
    /// own imports) and adding those sent to it; `file` itself is always
    /// sent, as in grpc-go and grpc-java. Imports not known are left out:
    /// the client will report them.
    fn file_and_imports(&self, file: &str, sent: &mut HashSet<String>) -> MessageResponse {
        let mut seen = BTreeSet::new();
        let mut pending = vec![file];
        let mut out = Vec::new();
        while let Some(name) = pending.pop() {
            if !seen.insert(name) || (name != file && sent.contains(name)) {
                continue;
            }
            if let Some((bytes, imports)) = self.files.get(name) {
                out.push(bytes.to_vec());
                sent.insert(name.to_owned());
                pending.extend(imports.iter().rev().map(String::as_str));
            }
        }
        MessageResponse::FileDescriptorResponse(FileDescriptorResponse {
            file_descriptor_proto: out,
        })
    }
}

fn add_enum(
    scope: &str,
    enumeration: &prost_types::EnumDescriptorProto,
    symbols: &mut Vec<String>,
) {
    // Enum values are scoped beside their enum, as in protobuf.
    for value in &enumeration.value {
        symbols.push(qualify(scope, value.name()));
    }
    symbols.push(qualify(scope, enumeration.name()));
}

fn qualify(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}.{name}")
    }
}

fn error(code: Code, message: String) -> MessageResponse {
    MessageResponse::ErrorResponse(ErrorResponse {
        error_code: code as i32,
        error_message: message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(services: &[&str]) -> Result<Index, Error> {
        let set =
            Bytes::from_static(crate::pb::v1::SERVER_REFLECTION_DESCRIPTOR.file_descriptor_set);
        Index::new(
            &[set.clone(), set],
            &services.iter().map(|s| (*s).to_owned()).collect(),
        )
    }

    fn ask(index: &Index, request: MessageRequest) -> MessageResponse {
        ask_on(index, request, &mut HashSet::new())
    }

    fn ask_on(
        index: &Index,
        request: MessageRequest,
        sent: &mut HashSet<String>,
    ) -> MessageResponse {
        index
            .answer(
                ServerReflectionRequest {
                    host: "h".to_owned(),
                    message_request: Some(request),
                },
                sent,
            )
            .message_response
            .unwrap()
    }

    fn found(answer: &MessageResponse) -> bool {
        matches!(answer, MessageResponse::FileDescriptorResponse(files) if files.file_descriptor_proto.len() == 1)
    }

    #[test]
    fn every_kind_of_symbol_is_found() {
        let index = index(&["grpc.reflection.v1.ServerReflection"]).unwrap();
        for symbol in [
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1.ServerReflection.ServerReflectionInfo",
            "grpc.reflection.v1.ServerReflectionRequest",
            ".grpc.reflection.v1.ServerReflectionRequest",
            "grpc.reflection.v1.ServerReflectionRequest.host",
            "grpc.reflection.v1.ServerReflectionRequest.message_request",
            "grpc.reflection.v1.ErrorResponse.error_code",
        ] {
            assert!(
                found(&ask(
                    &index,
                    MessageRequest::FileContainingSymbol(symbol.to_owned())
                )),
                "{symbol}"
            );
        }
        for missing in ["grpc.reflection.v1", "grpc", "", "grpc.reflection.v1.Nope"] {
            let answer = ask(
                &index,
                MessageRequest::FileContainingSymbol(missing.to_owned()),
            );
            assert!(
                matches!(answer, MessageResponse::ErrorResponse(ref e) if e.error_code == Code::NotFound as i32),
                "{missing}"
            );
        }
    }

    #[test]
    fn a_response_echoes_the_request_and_host() {
        let index = index(&[]).unwrap();
        let response = index.answer(
            ServerReflectionRequest {
                host: "h".to_owned(),
                message_request: None,
            },
            &mut HashSet::new(),
        );
        assert_eq!(response.valid_host, "h");
        assert!(
            matches!(response.message_response, Some(MessageResponse::ErrorResponse(ref e)) if e.error_code == Code::InvalidArgument as i32)
        );
    }

    #[test]
    fn listed_services_must_be_defined() {
        assert!(
            matches!(index(&["no.Such"]), Err(Error::UnknownService { name }) if name == "no.Such")
        );
        // A message is not a service.
        assert!(index(&["grpc.reflection.v1.ErrorResponse"]).is_err());
        let bad = Index::new(&[Bytes::from_static(b"\xff\xff")], &BTreeSet::new());
        assert!(matches!(bad, Err(Error::InvalidDescriptorSet(_))));
    }

    /// `a.proto` imports `b.proto`, which imports `c.proto`; `d.proto`
    /// imports `c.proto`.
    fn chain() -> Index {
        let file = |name: &str, imports: &[&str]| FileDescriptorProto {
            name: Some(name.to_owned()),
            dependency: imports.iter().map(|i| (*i).to_owned()).collect(),
            ..FileDescriptorProto::default()
        };
        let set = FileDescriptorSet {
            file: vec![
                file("c.proto", &[]),
                file("b.proto", &["c.proto"]),
                file("a.proto", &["b.proto", "missing.proto"]),
                file("d.proto", &["c.proto"]),
            ],
        };
        Index::new(&[Bytes::from(set.encode_to_vec())], &BTreeSet::new()).unwrap()
    }

    fn names(answer: &MessageResponse) -> Vec<String> {
        match answer {
            MessageResponse::FileDescriptorResponse(files) => files
                .file_descriptor_proto
                .iter()
                .map(|f| {
                    FileDescriptorProto::decode(f.as_slice())
                        .unwrap()
                        .name()
                        .to_owned()
                })
                .collect(),
            other => panic!("not files: {other:?}"),
        }
    }

    #[test]
    fn files_sent_on_a_call_are_not_sent_again_but_the_one_asked_is() {
        let index = chain();
        let by_name = |name: &str| MessageRequest::FileByFilename(name.to_owned());
        let mut sent = HashSet::new();
        let mut ask = |name: &str| names(&ask_on(&index, by_name(name), &mut sent));
        assert_eq!(ask("a.proto"), ["a.proto", "b.proto", "c.proto"]);
        assert_eq!(ask("d.proto"), ["d.proto"]);
        assert_eq!(ask("b.proto"), ["b.proto"]);
        assert_eq!(ask("a.proto"), ["a.proto"]);
        // Another call starts afresh.
        assert_eq!(
            names(&ask_on(&index, by_name("d.proto"), &mut HashSet::new())),
            ["d.proto", "c.proto"]
        );
        // What is not found sends nothing, and marks nothing as sent.
        let mut sent = HashSet::new();
        let answer = ask_on(&index, by_name("missing.proto"), &mut sent);
        assert!(matches!(answer, MessageResponse::ErrorResponse(_)));
        assert!(sent.is_empty());
    }

    #[test]
    fn a_lenient_index_lists_every_service_and_serves_what_decodes() {
        let set =
            Bytes::from_static(crate::pb::v1::SERVER_REFLECTION_DESCRIPTOR.file_descriptor_set);
        let services = ["grpc.reflection.v1.ServerReflection", "hand.Written"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let index = Index::lenient(&[Bytes::from_static(b"\xff\xff"), set], &services);
        let listed = ask(&index, MessageRequest::ListServices(String::new()));
        assert!(
            matches!(listed, MessageResponse::ListServicesResponse(ref list) if list.service.len() == 2),
            "{listed:?}"
        );
        assert!(found(&ask(
            &index,
            MessageRequest::FileContainingSymbol("grpc.reflection.v1.ServerReflection".to_owned())
        )));
        let hand = ask(
            &index,
            MessageRequest::FileContainingSymbol("hand.Written".to_owned()),
        );
        assert!(matches!(hand, MessageResponse::ErrorResponse(_)));
    }
}
