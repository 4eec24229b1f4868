//! Load errors: every problem names its place and, when known, its object.

use std::fmt;

use crate::source::Source;

/// One thing wrong with the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `file:line` (and list item) of the problem.
    pub location: String,
    /// `Kind namespace/name` when the object is known.
    pub object: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem at a source.
    pub fn at(source: &Source, object: Option<String>, message: impl Into<String>) -> Self {
        Problem {
            location: source.to_string(),
            object,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.object {
            Some(o) => write!(f, "{}: {}: {}", self.location, o, self.message),
            None => write!(f, "{}: {}", self.location, self.message),
        }
    }
}

/// Why a snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or directory could not be read.
    #[error("{path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        message: String,
    },
    /// Objects were malformed or invalid; every problem is listed.
    #[error("{}", join(.0))]
    Invalid(Vec<Problem>),
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}
