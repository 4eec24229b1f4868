//! Where an object came from: file, document, line, and item of a List.

use std::fmt;
use std::sync::Arc;

/// The place of an object in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// File path as given (or `<stdin>`).
    pub file: Arc<str>,
    /// 1-based document number within the file.
    pub document: usize,
    /// 1-based line where the document (or the object in a JSON stream) starts.
    pub line: usize,
    /// Index within `items` when the object came from a List.
    pub item: Option<usize>,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(i) = self.item {
            write!(f, " (items[{i}])")?;
        }
        Ok(())
    }
}
