//! [`Error`]: why code generation failed.

use std::io;
use std::path::PathBuf;

use miette::Diagnostic;

/// Why code generation failed.
///
/// `Display` gives the cause in one line, with the place in the `.proto`
/// file when there is one (`proto/shop.proto:12:5: ...`), so a build script
/// can return it as is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `.proto` file could not be found, read, parsed or checked (an
    /// unknown type, a duplicate name, an import cycle).
    #[error("{}", describe_proto(.file, *.line, *.column, .message))]
    Proto {
        /// The file the problem is in, as named on the include path.
        file: Option<String>,
        /// The line of the problem, counting from 1.
        line: Option<usize>,
        /// The column of the problem, counting from 1.
        column: Option<usize>,
        /// What is wrong.
        message: String,
        /// The compiler's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Generated items would collide with each other or with a message, or
    /// a name does not make a Rust identifier.
    #[error("{message}")]
    Names {
        /// Which names collide, and how to fix it.
        message: String,
    },
    /// An attribute given to the builder is not one or more `#[...]`
    /// attributes.
    #[error("invalid attribute {attribute:?} for {path:?}: expected `#[...]`")]
    InvalidAttribute {
        /// The proto path the attribute was given for.
        path: String,
        /// The attribute as given.
        attribute: String,
    },
    /// No output directory: `OUT_DIR` is not set (not in a build script) and
    /// none was given with [`Builder::out_dir`](crate::Builder::out_dir).
    #[error("no output directory: OUT_DIR is not set and no out_dir was given")]
    NoOutDir,
    /// prost-build failed to generate or write the code.
    #[error("code generation failed: {0}")]
    Generate(#[source] io::Error),
    /// A file could not be read or written.
    #[error("{}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn names(message: String) -> Error {
        Error::Names { message }
    }

    /// Converts protox's error, finding the line and column of its first
    /// label in the source it carries.
    pub(crate) fn from_protox(err: protox::Error) -> Error {
        let file = err.file().map(str::to_owned);
        let mut line = None;
        let mut column = None;
        let first_label = err.labels().and_then(|mut labels| labels.next());
        if let (Some(label), Some(source)) = (first_label, err.source_code()) {
            if let Ok(contents) = source.read_span(label.inner(), 0, 0) {
                line = Some(contents.line() + 1);
                column = Some(contents.column() + 1);
            }
        }
        let mut message = err.to_string();
        if let Some(help) = err.help() {
            message = format!("{message} (help: {help})");
        }
        Error::Proto {
            file,
            line,
            column,
            message,
            source: Box::new(err),
        }
    }
}

fn describe_proto(
    file: &Option<String>,
    line: Option<usize>,
    column: Option<usize>,
    message: &str,
) -> String {
    match (file, line, column) {
        (Some(file), Some(line), Some(column)) => format!("{file}:{line}:{column}: {message}"),
        (Some(file), Some(line), None) => format!("{file}:{line}: {message}"),
        (Some(file), None, _) => format!("{file}: {message}"),
        (None, _, _) => message.to_owned(),
    }
}
