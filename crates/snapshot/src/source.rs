//! Where an object came from: file, document, line, and item of a List.

use std::fmt;
use std::sync::Arc;

/// The place of an object in the input. An object read from a live cluster has no file: its
/// `file` is `cluster <context>: Kind/namespace/name` and its line 0 (see [`Source::live`]).
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
        if self.line == 0 {
            return f.write_str(&self.file);
        }
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(i) = self.item {
            write!(f, " (items[{i}])")?;
        }
        Ok(())
    }
}

impl Source {
    /// The source of an object read from cluster `context`: `cluster prod: RoleBinding/ns/name`
    /// (`Kind/name` when cluster-scoped).
    pub fn live(context: &str, kind: &str, namespace: &str, name: &str) -> Self {
        let file = if namespace.is_empty() {
            format!("cluster {context}: {kind}/{name}")
        } else {
            format!("cluster {context}: {kind}/{namespace}/{name}")
        };
        Source {
            file: Arc::from(file),
            document: 1,
            line: 0,
            item: None,
        }
    }

    /// Splits a location as [`Source`] displays it (`file:line`, optionally followed by
    /// ` (items[i])`) into the file and the line (0 when there is none). For callers that hold
    /// only the text, such as a binding's `origin` or a load problem's `location`.
    pub fn split_location(location: &str) -> (&str, usize) {
        let loc = location.split(" (items[").next().unwrap_or(location);
        match loc.rsplit_once(':') {
            Some((file, line)) => match line.parse() {
                Ok(n) => (file, n),
                Err(_) => (loc, 0),
            },
            None => (loc, 0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_split_back_into_file_and_line() {
        let s = Source {
            file: Arc::from("dir/a.yaml"),
            document: 2,
            line: 14,
            item: Some(3),
        };
        assert_eq!(Source::split_location(&s.to_string()), ("dir/a.yaml", 14));
        assert_eq!(Source::split_location("c:\\x.yaml:7"), ("c:\\x.yaml", 7));
        assert_eq!(Source::split_location("<stdin>"), ("<stdin>", 0));
        let live = Source::live("prod", "RoleBinding", "ns1", "edit");
        assert_eq!(live.to_string(), "cluster prod: RoleBinding/ns1/edit");
        assert_eq!(
            Source::split_location(&live.to_string()),
            ("cluster prod: RoleBinding/ns1/edit", 0)
        );
        assert_eq!(
            Source::live("prod", "ClusterRole", "", "view").to_string(),
            "cluster prod: ClusterRole/view"
        );
        assert_eq!(
            Source::split_location("catalog:kubevirt@v1.9.0/x.yaml"),
            ("catalog:kubevirt@v1.9.0/x.yaml", 0)
        );
    }
}
