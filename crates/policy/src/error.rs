//! Errors: a policy problem is one line, `file:line:column: policy <id>: message`.

use std::fmt;

/// One problem in one policy source, located by line and column (both from 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// Source name, e.g. a file path or `Policy/<name>`.
    pub source: String,
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
    /// The policy's `@id`, or `policy<N>` (its index in the source) without one.
    pub policy: String,
    /// What is wrong, on one line.
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: policy {}: {}",
            self.source, self.line, self.column, self.policy, self.message
        )
    }
}

/// Why policies could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Syntax or schema errors, one line each (the `Display` joins them with newlines).
    #[error("{}", join(.0))]
    Invalid(Vec<SourceError>),
    /// A `cedar.k8s.aws/v1alpha1` `Policy` object that does not have the expected shape.
    #[error("{object}: {message}")]
    Object {
        /// `Policy/<name>`, or what is known of the object.
        object: String,
        /// What is missing or wrong.
        message: String,
    },
    /// A file or directory could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The built-in schema did not load (a bug in this crate).
    #[error("built-in k8s schema: {0}")]
    Schema(String),
}

impl PolicyError {
    /// The located errors of an [`PolicyError::Invalid`], empty otherwise.
    pub fn source_errors(&self) -> &[SourceError] {
        match self {
            PolicyError::Invalid(v) => v,
            _ => &[],
        }
    }
}

fn join(errors: &[SourceError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Folds a possibly multi-line message onto one line.
pub(crate) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}
