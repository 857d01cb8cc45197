//! The Rust names of generated items, and the check that they do not
//! collide with each other or with prost-build's messages.
//!
//! Everything generated for a package goes in one Rust module, next to the
//! messages and enums prost-build writes there, so a service `Foo` adds the
//! types `FooClient`, `Foo`, `FooServer`, `FooBlockingClient`,
//! `FooBlocking` and `FooBlockingServer` and the values `FOO_SERVICE_NAME`
//! and `FOO_DESCRIPTOR`. A collision would be a compile error in the user's
//! crate, far from its cause; [`check`] reports it at build time instead.

use std::collections::{BTreeMap, HashSet};

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use prost_types::{FileDescriptorSet, MethodDescriptorProto};

use crate::Error;

/// Inherent methods of the generated clients; an RPC whose Rust name would
/// be one of these gets a trailing underscore instead.
const CLIENT_METHODS: &[&str] = &["new", "get_ref", "get_mut", "into_inner", "clone"];

/// The names generated for one service.
#[derive(Clone, Debug)]
pub(crate) struct ServiceNames {
    /// `package.Service`, or `Service` without a package.
    pub(crate) full_name: String,
    /// The async server trait, `Foo`.
    pub(crate) server_trait: String,
    /// The async client, `FooClient`.
    pub(crate) client: String,
    /// The async server glue, `FooServer`.
    pub(crate) server: String,
    /// The blocking client, `FooBlockingClient`.
    pub(crate) blocking_client: String,
    /// The blocking server trait, `FooBlocking`.
    pub(crate) blocking_trait: String,
    /// The blocking server glue, `FooBlockingServer`.
    pub(crate) blocking_server: String,
    /// The service name constant, `FOO_SERVICE_NAME`.
    pub(crate) name_const: String,
    /// The descriptor static, `FOO_DESCRIPTOR`.
    pub(crate) descriptor: String,
}

impl ServiceNames {
    pub(crate) fn new(package: &str, proto_name: &str) -> ServiceNames {
        let camel = proto_name.to_upper_camel_case();
        let shouty = proto_name.to_shouty_snake_case();
        let full_name = if package.is_empty() {
            proto_name.to_owned()
        } else {
            format!("{package}.{proto_name}")
        };
        ServiceNames {
            full_name,
            server_trait: sanitize_identifier(&camel),
            client: sanitize_identifier(&format!("{camel}Client")),
            server: sanitize_identifier(&format!("{camel}Server")),
            blocking_client: sanitize_identifier(&format!("{camel}BlockingClient")),
            blocking_trait: sanitize_identifier(&format!("{camel}Blocking")),
            blocking_server: sanitize_identifier(&format!("{camel}BlockingServer")),
            name_const: sanitize_identifier(&format!("{shouty}_SERVICE_NAME")),
            descriptor: sanitize_identifier(&format!("{shouty}_DESCRIPTOR")),
        }
    }

    /// The type-namespace items, with what each one is.
    fn types(&self) -> [(&str, &'static str); 6] {
        [
            (&self.server_trait, "server trait"),
            (&self.client, "client"),
            (&self.server, "server"),
            (&self.blocking_client, "blocking client"),
            (&self.blocking_trait, "blocking server trait"),
            (&self.blocking_server, "blocking server"),
        ]
    }

    /// The value-namespace items.
    fn values(&self) -> [(&str, &'static str); 2] {
        [
            (&self.name_const, "service name constant"),
            (&self.descriptor, "descriptor"),
        ]
    }
}

/// The names generated for one method.
#[derive(Clone, Debug)]
pub(crate) struct MethodNames {
    /// The client and server trait method, `get_feature` (maybe raw,
    /// `r#match`).
    pub(crate) method: String,
    /// The bidi client method taking a `Request<()>`, `chat_with`.
    pub(crate) with: String,
    /// The blocking unary method returning a call handle, `get_feature_future`.
    pub(crate) future: String,
    /// The server trait's associated response stream type, `ListFeaturesStream`.
    pub(crate) stream_type: String,
}

impl MethodNames {
    pub(crate) fn new(proto_name: &str) -> MethodNames {
        let snake = proto_name.to_snake_case();
        let mut method = sanitize_identifier(&snake);
        if CLIENT_METHODS.contains(&method.as_str()) {
            method.push('_');
        }
        let base = method
            .strip_prefix("r#")
            .unwrap_or(&method)
            .trim_end_matches('_')
            .to_owned();
        MethodNames {
            with: sanitize_identifier(&format!("{base}_with")),
            future: sanitize_identifier(&format!("{base}_future")),
            stream_type: sanitize_identifier(&format!(
                "{}Stream",
                proto_name.to_upper_camel_case()
            )),
            method,
        }
    }
}

/// A Rust identifier for `name`: a raw identifier for a keyword, a trailing
/// underscore for the keywords that cannot be raw, a leading underscore
/// before a digit (as prost-build does).
pub(crate) fn sanitize_identifier(name: &str) -> String {
    match name {
        "as" | "break" | "const" | "continue" | "else" | "enum" | "false" | "fn" | "for" | "if"
        | "impl" | "in" | "let" | "loop" | "match" | "mod" | "move" | "mut" | "pub" | "ref"
        | "return" | "static" | "struct" | "trait" | "true" | "type" | "unsafe" | "use"
        | "where" | "while" | "dyn" | "abstract" | "become" | "box" | "do" | "final" | "macro"
        | "override" | "priv" | "typeof" | "unsized" | "virtual" | "yield" | "async" | "await"
        | "try" | "gen" => format!("r#{name}"),
        "_" | "super" | "self" | "Self" | "extern" | "crate" => format!("{name}_"),
        s if s.starts_with(|c: char| c.is_ascii_digit()) => format!("_{name}"),
        _ => name.to_owned(),
    }
}

/// Whether `name` (maybe `r#`-prefixed) is a usable Rust identifier.
pub(crate) fn is_valid_identifier(name: &str) -> bool {
    let bare = name.strip_prefix("r#").unwrap_or(name);
    let mut chars = bare.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first == '_' || first.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && bare != "_"
}

/// One generated or prost-generated item of a package's module.
struct Item {
    what: String,
}

/// The names taken in one namespace of a module, with what took them.
type Namespace = BTreeMap<String, Item>;

/// Checks that the names generated for every service of `fds` are valid
/// and distinct, within each service and within each package's module.
/// Types in `externs` (fully qualified proto names or prefixes) are not
/// generated, so they do not count.
pub(crate) fn check(fds: &FileDescriptorSet, externs: &[String]) -> Result<(), Error> {
    // Per package: the type namespace and the value namespace.
    let mut packages: BTreeMap<&str, (Namespace, Namespace)> = BTreeMap::new();
    let is_extern = |full: &str| {
        externs
            .iter()
            .any(|e| full == e || full.starts_with(&format!("{e}.")))
    };
    for file in &fds.file {
        let package = file.package();
        let (types, _) = packages.entry(package).or_default();
        let prefix = if package.is_empty() {
            String::from(".")
        } else {
            format!(".{package}.")
        };
        let messages = file.message_type.iter().map(|m| (m.name(), "message"));
        let enums = file.enum_type.iter().map(|e| (e.name(), "enum"));
        for (name, kind) in messages.chain(enums) {
            if is_extern(&format!("{prefix}{name}")) {
                continue;
            }
            let rust = sanitize_identifier(&name.to_upper_camel_case());
            types.entry(rust).or_insert(Item {
                what: format!("{kind} `{}`", full_name(package, name)),
            });
        }
    }
    for file in &fds.file {
        let package = file.package();
        for service in &file.service {
            let names = ServiceNames::new(package, service.name());
            check_methods(&names.full_name, &service.method)?;
            let (types, values) = packages.entry(package).or_default();
            for (namespace, items) in [
                (&mut *types, names.types().to_vec()),
                (&mut *values, names.values().to_vec()),
            ] {
                for (rust, kind) in items {
                    let what = format!("the {kind} of service `{}`", names.full_name);
                    insert(namespace, rust, what, &package_scope(package))?;
                }
            }
        }
    }
    Ok(())
}

fn package_scope(package: &str) -> String {
    if package.is_empty() {
        String::from("the module of the files without a package")
    } else {
        format!("the module of package `{package}`")
    }
}

/// Adds `rust` to `namespace`, or fails if it is taken or not an
/// identifier; `scope` says where the names live, for the message.
fn insert(namespace: &mut Namespace, rust: &str, what: String, scope: &str) -> Result<(), Error> {
    if !is_valid_identifier(rust) {
        return Err(Error::names(format!(
            "{what} would be named `{rust}`, which is not a Rust identifier"
        )));
    }
    if let Some(existing) = namespace.get(rust) {
        return Err(Error::names(format!(
            "{what} and {} would both be named `{rust}` in {scope}; rename one of them",
            existing.what
        )));
    }
    namespace.insert(rust.to_owned(), Item { what });
    Ok(())
}

/// Checks the method names of one service: each Rust name is valid and
/// names one method, in the clients and in the server traits.
fn check_methods(service: &str, methods: &[MethodDescriptorProto]) -> Result<(), Error> {
    let mut client = BTreeMap::new();
    let mut blocking_client = BTreeMap::new();
    let mut server = BTreeMap::new();
    let mut proto_names = HashSet::new();
    let scope = format!("the generated code of service `{service}`");
    for reserved in CLIENT_METHODS {
        let item = || Item {
            what: format!("the client's own method `{reserved}`"),
        };
        client.insert((*reserved).to_owned(), item());
        blocking_client.insert((*reserved).to_owned(), item());
    }
    for method in methods {
        let proto = method.name();
        if !proto_names.insert(proto) {
            return Err(Error::names(format!(
                "service `{service}` has two methods named `{proto}`"
            )));
        }
        let names = MethodNames::new(proto);
        let what = |role: &str| format!("the {role} of method `{service}.{proto}`");
        let client_streaming = method.client_streaming();
        let server_streaming = method.server_streaming();
        insert(&mut client, &names.method, what("client method"), &scope)?;
        insert(
            &mut blocking_client,
            &names.method,
            what("blocking client method"),
            &scope,
        )?;
        insert(
            &mut server,
            &names.method,
            what("server trait method"),
            &scope,
        )?;
        if client_streaming && server_streaming {
            insert(&mut client, &names.with, what("client method"), &scope)?;
            insert(
                &mut blocking_client,
                &names.with,
                what("blocking client method"),
                &scope,
            )?;
        }
        if !client_streaming && !server_streaming {
            insert(
                &mut blocking_client,
                &names.future,
                what("blocking client method"),
                &scope,
            )?;
        }
        if server_streaming {
            insert(
                &mut server,
                &names.stream_type,
                what("response stream type"),
                &scope,
            )?;
        }
    }
    Ok(())
}

fn full_name(package: &str, name: &str) -> String {
    if package.is_empty() {
        name.to_owned()
    } else {
        format!("{package}.{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_avoid_keywords_and_client_methods() {
        let names = MethodNames::new("Match");
        assert_eq!(names.method, "r#match");
        assert_eq!(names.with, "match_with");
        assert_eq!(names.future, "match_future");
        assert_eq!(names.stream_type, "MatchStream");
        assert_eq!(MethodNames::new("Self").method, "self_");
        assert_eq!(MethodNames::new("Self").with, "self_with");
        assert_eq!(MethodNames::new("New").method, "new_");
        assert_eq!(MethodNames::new("Clone").method, "clone_");
        assert_eq!(MethodNames::new("GetHTTPStatus").method, "get_http_status");
        assert_eq!(MethodNames::new("Type").stream_type, "TypeStream");
    }

    #[test]
    fn service_names() {
        let names = ServiceNames::new("grpc.testing", "TestService");
        assert_eq!(names.full_name, "grpc.testing.TestService");
        assert_eq!(names.server_trait, "TestService");
        assert_eq!(names.client, "TestServiceClient");
        assert_eq!(names.blocking_server, "TestServiceBlockingServer");
        assert_eq!(names.descriptor, "TEST_SERVICE_DESCRIPTOR");
        assert_eq!(names.name_const, "TEST_SERVICE_SERVICE_NAME");
        assert_eq!(ServiceNames::new("", "Self").server_trait, "Self_");
        assert_eq!(ServiceNames::new("", "Self").full_name, "Self");
    }

    #[test]
    fn identifiers() {
        for ok in ["a", "_a", "r#match", "A1", "self_"] {
            assert!(is_valid_identifier(ok), "{ok}");
        }
        for bad in ["", "_", "1a", "a-b", "r#"] {
            assert!(!is_valid_identifier(bad), "{bad}");
        }
    }
}
