//! [`Builder`]: what to generate, and where.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use proc_macro2::{Delimiter, TokenStream, TokenTree};
use prost_build::Module;
use prost_types::FileDescriptorSet;
use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};

use crate::generator::{Generator, Options};
use crate::{Error, comments, names};

/// The Rust path of the `google.rpc` messages, shipped in the facade.
const GOOGLE_RPC_PATH: &str = "::grpcx::rich::pb";

/// Every message and enum of `google/rpc/{status,code,error_details}.proto`,
/// which [`GOOGLE_RPC_PATH`] holds.
const GOOGLE_RPC_TYPES: &[&str] = &[
    "Status",
    "Code",
    "ErrorInfo",
    "RetryInfo",
    "DebugInfo",
    "QuotaFailure",
    "PreconditionFailure",
    "BadRequest",
    "RequestInfo",
    "ResourceInfo",
    "Help",
    "LocalizedMessage",
];

/// The `google.rpc` files, importable without being on an include path.
const GOOGLE_RPC_FILES: &[(&str, &str)] = &[
    (
        "google/rpc/status.proto",
        include_str!("../../../proto/google/rpc/status.proto"),
    ),
    (
        "google/rpc/code.proto",
        include_str!("../../../proto/google/rpc/code.proto"),
    ),
    (
        "google/rpc/error_details.proto",
        include_str!("../../../proto/google/rpc/error_details.proto"),
    ),
];

/// Configures and runs code generation; made by
/// [`configure`](crate::configure).
///
/// The setters consume and return the builder, so a build script is one
/// expression:
///
/// ```no_run
/// grpcx_codegen::configure()
///     .build_blocking(true)
///     .compile(&["proto/shop.proto"], &["proto"])?;
/// # Ok::<(), grpcx_codegen::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    includes: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    extern_paths: Vec<(String, String)>,
    build_client: bool,
    build_server: bool,
    build_blocking: bool,
    service_attributes: Vec<(String, String)>,
    message_attributes: Vec<(String, String)>,
    type_attributes: Vec<(String, String)>,
    field_attributes: Vec<(String, String)>,
    bytes: Vec<String>,
    btree_map: Vec<String>,
    include_file: Option<PathBuf>,
    emit_rerun_if_changed: bool,
}

/// One generated Rust file: the code of one protobuf package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedFile {
    /// The file name, `package.name.rs` (`_.rs` for the files without a
    /// package).
    pub name: String,
    /// The Rust code.
    pub code: String,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            includes: Vec::new(),
            out_dir: None,
            extern_paths: Vec::new(),
            build_client: true,
            build_server: true,
            build_blocking: false,
            service_attributes: Vec::new(),
            message_attributes: Vec::new(),
            type_attributes: Vec::new(),
            field_attributes: Vec::new(),
            bytes: Vec::new(),
            btree_map: Vec::new(),
            include_file: None,
            emit_rerun_if_changed: true,
        }
    }
}

impl Builder {
    /// Adds a directory to search for imports, before the ones given to
    /// [`Builder::compile`]. The well-known `google/protobuf/*.proto` and
    /// grpcx's `google/rpc/{status,code,error_details}.proto` are always
    /// found, after the include directories.
    pub fn include(mut self, path: impl Into<PathBuf>) -> Builder {
        self.includes.push(path.into());
        self
    }

    /// The directory the generated files go to; `OUT_DIR` by default, as
    /// set for build scripts.
    pub fn out_dir(mut self, path: impl Into<PathBuf>) -> Builder {
        self.out_dir = Some(path.into());
        self
    }

    /// Uses existing Rust types for a protobuf package or type instead of
    /// generating them, as prost-build's `extern_path`: `proto_path` is a
    /// fully qualified name (`.acme.common` or `.acme.common.Money`),
    /// `rust_path` an absolute Rust path (`::acme_common`).
    ///
    /// By default the well-known `google.protobuf` types map to
    /// prost-types (through `::grpcx::codegen::prost_types`, so no direct
    /// dependency is needed), and the `google.rpc` messages of the rich error
    /// model to `::grpcx::rich::pb`. An extern path for `.google.rpc` (or a
    /// type in it) replaces the latter.
    pub fn extern_path(
        mut self,
        proto_path: impl Into<String>,
        rust_path: impl Into<String>,
    ) -> Builder {
        self.extern_paths
            .push((proto_path.into(), rust_path.into()));
        self
    }

    /// Whether to generate the clients (`FooClient`, and with
    /// [`Builder::build_blocking`] `FooBlockingClient`); on by default.
    pub fn build_client(mut self, enable: bool) -> Builder {
        self.build_client = enable;
        self
    }

    /// Whether to generate the server traits and servers (`Foo` and
    /// `FooServer`, and with [`Builder::build_blocking`] `FooBlocking` and
    /// `FooBlockingServer`); on by default.
    pub fn build_server(mut self, enable: bool) -> Builder {
        self.build_server = enable;
        self
    }

    /// Whether to generate the blocking client and server as well, for
    /// code outside any async runtime; off by default.
    pub fn build_blocking(mut self, enable: bool) -> Builder {
        self.build_blocking = enable;
        self
    }

    /// Adds attributes (`#[cfg(feature = "shop")]`, `#[allow(...)]`) to
    /// every item generated for the services `path` selects: `.` for all,
    /// `.package` for a package's, `.package.Service` for one.
    pub fn service_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Builder {
        self.service_attributes
            .push((path.into(), attribute.into()));
        self
    }

    /// Adds attributes to the messages `path` selects, as prost-build's
    /// `message_attribute`.
    pub fn message_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Builder {
        self.message_attributes
            .push((path.into(), attribute.into()));
        self
    }

    /// Adds attributes to the messages, enums and oneofs `path` selects, as
    /// prost-build's `type_attribute`.
    pub fn type_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Builder {
        self.type_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Adds attributes to the fields `path` selects, as prost-build's
    /// `field_attribute`.
    pub fn field_attribute(
        mut self,
        path: impl Into<String>,
        attribute: impl Into<String>,
    ) -> Builder {
        self.field_attributes.push((path.into(), attribute.into()));
        self
    }

    /// Generates `bytes::Bytes` instead of `Vec<u8>` for the `bytes` fields
    /// `path` selects, as prost-build's `bytes`.
    pub fn bytes(mut self, path: impl Into<String>) -> Builder {
        self.bytes.push(path.into());
        self
    }

    /// Generates `BTreeMap` instead of `HashMap` for the map fields `path`
    /// selects, as prost-build's `btree_map`.
    pub fn btree_map(mut self, path: impl Into<String>) -> Builder {
        self.btree_map.push(path.into());
        self
    }

    /// Also writes a file, named `name` in the output directory, that
    /// includes every generated file in nested `pub mod`s following the
    /// packages, as prost-build's `include_file`.
    pub fn include_file(mut self, name: impl Into<PathBuf>) -> Builder {
        self.include_file = Some(name.into());
        self
    }

    /// Whether [`Builder::compile`] prints `cargo:rerun-if-changed` for
    /// every `.proto` file it reads, so that cargo reruns the build script
    /// when one changes; on by default.
    pub fn emit_rerun_if_changed(mut self, enable: bool) -> Builder {
        self.emit_rerun_if_changed = enable;
        self
    }

    /// Compiles `protos` and writes one Rust file per protobuf package to
    /// the output directory, for [`include_proto!`] (`grpcx::include_proto!`).
    ///
    /// `includes` are the directories to search for imports, after those
    /// given to [`Builder::include`]; every file of `protos` must be in one
    /// of them (or be named relative to one).
    ///
    /// # Errors
    ///
    /// [`Error::Proto`] for a file that is missing or invalid, with its
    /// place; [`Error::Names`] when generated names would collide;
    /// [`Error::InvalidAttribute`], [`Error::NoOutDir`] and
    /// [`Error::Generate`] for a bad configuration or a failed write.
    ///
    /// [`include_proto!`]: https://docs.rs/grpcx/latest/grpcx/macro.include_proto.html
    pub fn compile(
        &self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<(), Error> {
        let out_dir = match &self.out_dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os("OUT_DIR")
                .map(PathBuf::from)
                .ok_or(Error::NoOutDir)?,
        };
        let Loaded {
            fds,
            as_written,
            sources,
        } = self.load(protos, includes)?;
        if self.emit_rerun_if_changed {
            for source in &sources {
                println!("cargo:rerun-if-changed={}", source.display());
            }
        }
        let mut config = self.prost_config(as_written)?;
        config.out_dir(out_dir);
        if let Some(name) = &self.include_file {
            config.include_file(name);
        }
        config.compile_fds(fds).map_err(Error::Generate)
    }

    /// Compiles `protos` as [`Builder::compile`] does, but returns the
    /// generated files, sorted by name, instead of writing them: for
    /// snapshot tests and tools.
    ///
    /// # Errors
    ///
    /// As for [`Builder::compile`], except that no output directory is
    /// needed.
    pub fn generate(
        &self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<Vec<GeneratedFile>, Error> {
        let Loaded {
            fds, as_written, ..
        } = self.load(protos, includes)?;
        let mut config = self.prost_config(as_written)?;
        let requests = fds
            .file
            .into_iter()
            .map(|file| (Module::from_protobuf_package_name(file.package()), file))
            .collect();
        let modules = config.generate(requests).map_err(Error::Generate)?;
        let files: BTreeMap<String, String> = modules
            .into_iter()
            .map(|(module, code)| (module.to_file_name_or("_"), code))
            .collect();
        Ok(files
            .into_iter()
            .map(|(name, code)| GeneratedFile { name, code })
            .collect())
    }

    /// Parses and checks the files, makes their comments safe for rustdoc
    /// and checks the generated names.
    fn load(
        &self,
        protos: &[impl AsRef<Path>],
        includes: &[impl AsRef<Path>],
    ) -> Result<Loaded, Error> {
        let mut resolver = ChainFileResolver::new();
        let all_includes = self
            .includes
            .iter()
            .map(PathBuf::as_path)
            .chain(includes.iter().map(AsRef::as_ref));
        for include in all_includes {
            resolver.add(IncludeFileResolver::new(include.to_owned()));
        }
        resolver.add(GoogleFileResolver::new());
        resolver.add(BundledFiles);
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true).include_source_info(true);
        for proto in protos {
            let proto = proto.as_ref();
            if !self.exists(proto, includes) {
                return Err(Error::Proto {
                    file: Some(proto.display().to_string()),
                    line: None,
                    column: None,
                    message: String::from(
                        "file not found, in the current directory or under an include directory",
                    ),
                    source: String::from("file not found").into(),
                });
            }
            compiler.open_file(proto).map_err(Error::from_protox)?;
        }
        let sources = compiler
            .files()
            .filter_map(|file| file.path().map(Path::to_owned))
            .collect();
        let mut fds = compiler.file_descriptor_set();
        // Reflection clients get the comments as written; rustdoc gets them
        // sanitized.
        let as_written = fds.clone();
        comments::sanitize_descriptor_set(&mut fds);
        names::check(&fds, &self.extern_proto_paths())?;
        Ok(Loaded {
            fds,
            as_written,
            sources,
        })
    }

    /// Whether `proto` names a file: a path from the current directory, one
    /// relative to an include directory, or a file protox or grpcx ships.
    fn exists(&self, proto: &Path, includes: &[impl AsRef<Path>]) -> bool {
        let shipped = proto.to_str().is_some_and(|name| {
            name.starts_with("google/protobuf/")
                || GOOGLE_RPC_FILES.iter().any(|(file, _)| *file == name)
        });
        shipped
            || proto.exists()
            || self
                .includes
                .iter()
                .map(PathBuf::as_path)
                .chain(includes.iter().map(AsRef::as_ref))
                .any(|include| include.join(proto).exists())
    }

    /// The user's extern paths, then the default ones for `google.rpc`
    /// unless the user mapped any of it.
    fn all_extern_paths(&self) -> Vec<(String, String)> {
        let mut paths = self.extern_paths.clone();
        let user_maps_google_rpc = self.extern_paths.iter().any(|(proto, _)| {
            let proto = proto.trim_end_matches('.');
            proto == ".google.rpc"
                || proto.starts_with(".google.rpc.")
                || ".google.rpc".starts_with(&format!("{proto}."))
                || proto.is_empty()
        });
        if !user_maps_google_rpc {
            for name in GOOGLE_RPC_TYPES {
                paths.push((
                    format!(".google.rpc.{name}"),
                    format!("{GOOGLE_RPC_PATH}::{name}"),
                ));
            }
        }
        paths
    }

    /// Every proto path whose types are not generated.
    fn extern_proto_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .all_extern_paths()
            .into_iter()
            .map(|(proto, _)| proto)
            .collect();
        paths.push(String::from(".google.protobuf"));
        paths
    }

    /// The prost-build configuration; `descriptors` (every file, comments as
    /// written) is what the `FILE_DESCRIPTOR_SET`s are cut from.
    fn prost_config(&self, descriptors: FileDescriptorSet) -> Result<prost_build::Config, Error> {
        let mut config = prost_build::Config::new();
        config
            .prost_path("::grpcx::codegen::prost")
            .prost_types_path("::grpcx::codegen::prost_types");
        for (proto, rust) in self.all_extern_paths() {
            config.extern_path(proto, rust);
        }
        for (path, attribute) in &self.message_attributes {
            check_attribute(path, attribute)?;
            config.message_attribute(path, attribute);
        }
        for (path, attribute) in &self.type_attributes {
            check_attribute(path, attribute)?;
            config.type_attribute(path, attribute);
        }
        for (path, attribute) in &self.field_attributes {
            check_attribute(path, attribute)?;
            config.field_attribute(path, attribute);
        }
        for (path, attribute) in &self.service_attributes {
            check_attribute(path, attribute)?;
        }
        config.bytes(&self.bytes);
        config.btree_map(&self.btree_map);
        config.service_generator(Box::new(Generator::new(Options {
            client: self.build_client,
            server: self.build_server,
            blocking: self.build_blocking,
            service_attributes: self.service_attributes.clone(),
            externs: self.extern_proto_paths(),
            descriptors,
        })));
        Ok(config)
    }
}

/// What [`Builder::load`] read.
struct Loaded {
    /// Every file compiled and imported, comments sanitized for rustdoc.
    fds: FileDescriptorSet,
    /// The same files with their comments as written, for reflection.
    as_written: FileDescriptorSet,
    /// The paths of the files read.
    sources: Vec<PathBuf>,
}

/// Checks that `attribute` is a sequence of `#[...]` attributes, so that
/// prost-build, which panics on code it cannot parse, gets valid code.
fn check_attribute(path: &str, attribute: &str) -> Result<(), Error> {
    let invalid = || Error::InvalidAttribute {
        path: path.to_owned(),
        attribute: attribute.to_owned(),
    };
    let tokens = TokenStream::from_str(attribute).map_err(|_| invalid())?;
    let mut tokens = tokens.into_iter().peekable();
    if tokens.peek().is_none() {
        return Err(invalid());
    }
    while let Some(token) = tokens.next() {
        let pound = matches!(&token, TokenTree::Punct(p) if p.as_char() == '#');
        let bracket = matches!(tokens.next(), Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Bracket);
        if !pound || !bracket {
            return Err(invalid());
        }
    }
    Ok(())
}

/// Serves the `google.rpc` files grpcx ships, when no include directory
/// has them.
#[derive(Debug)]
struct BundledFiles;

impl FileResolver for BundledFiles {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match GOOGLE_RPC_FILES.iter().find(|(file, _)| *file == name) {
            Some((name, source)) => File::from_source(name, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_must_be_attributes() {
        assert!(check_attribute(".", "#[derive(Hash)]").is_ok());
        assert!(check_attribute(".", "#[a] #[b(c)]").is_ok());
        for bad in ["", "derive(Hash)", "#[derive(", "#[a] b", "#(a)"] {
            assert!(check_attribute(".", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn google_rpc_types_are_every_type_of_the_bundled_files() {
        let mut chain = ChainFileResolver::new();
        chain.add(BundledFiles);
        chain.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(chain);
        let mut found = Vec::new();
        for (name, _) in GOOGLE_RPC_FILES {
            compiler.open_file(name).unwrap();
        }
        for file in compiler.file_descriptor_set().file {
            assert_eq!(file.package(), "google.rpc");
            found.extend(file.message_type.iter().map(|m| m.name().to_owned()));
            found.extend(file.enum_type.iter().map(|e| e.name().to_owned()));
        }
        found.sort();
        let mut expected: Vec<_> = GOOGLE_RPC_TYPES.iter().map(|s| (*s).to_owned()).collect();
        expected.sort();
        assert_eq!(found, expected);
    }

    #[test]
    fn user_extern_paths_for_google_rpc_replace_the_defaults() {
        let defaults = Builder::default().all_extern_paths();
        assert_eq!(defaults.len(), GOOGLE_RPC_TYPES.len());
        for user in [".google.rpc", ".google", ".google.rpc.Status", "."] {
            let paths = Builder::default()
                .extern_path(user, "::x")
                .all_extern_paths();
            assert_eq!(paths, vec![(user.to_owned(), "::x".to_owned())], "{user}");
        }
        let other = Builder::default()
            .extern_path(".googlex", "::x")
            .all_extern_paths();
        assert_eq!(other.len(), GOOGLE_RPC_TYPES.len() + 1);
    }
}
