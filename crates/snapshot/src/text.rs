//! Input text read from a file: large regular files are memory-mapped instead of copied.
//!
//! A `kubectl get -o json` dump of a large cluster is tens of megabytes, and a stream of access
//! reviews more. Reading one copies it from the page cache into memory the kernel must first
//! clear; mapping it reads the page cache in place. Small files (and anything that is not a
//! regular file) are read as usual.

use std::ops::Deref;
use std::path::Path;

/// Files at least this large are mapped; smaller ones are read.
const MAP_AT_LEAST: u64 = 1 << 20;

/// UTF-8 text read from a file, owned or mapped.
pub enum Text {
    /// Read into memory.
    Owned(String),
    /// Mapped read-only; checked to be UTF-8 when opened.
    Mapped(memmap2::Mmap),
}

/// Why a file could not be read as text.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    /// The file could not be opened, mapped or read.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The file is not UTF-8.
    #[error("not UTF-8 text (invalid byte at offset {0})")]
    NotUtf8(usize),
}

impl Text {
    /// Reads (or maps) the file at `path`.
    pub fn read(path: &Path) -> Result<Text, TextError> {
        let file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        if meta.is_file() && meta.len() >= MAP_AT_LEAST {
            // SAFETY: the map is read-only and private to this process. Another process
            // truncating the file while it is being read would fault the reader (as it would
            // any program that maps its input); a load holds the map only while it parses.
            let map = unsafe { memmap2::Mmap::map(&file)? };
            std::str::from_utf8(&map).map_err(|e| TextError::NotUtf8(e.valid_up_to()))?;
            return Ok(Text::Mapped(map));
        }
        let bytes = std::fs::read(path)?;
        String::from_utf8(bytes)
            .map(Text::Owned)
            .map_err(|e| TextError::NotUtf8(e.utf8_error().valid_up_to()))
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text::Owned(s)
    }
}

impl Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Owned(s) => s,
            // SAFETY: checked to be UTF-8 in `Text::read`; the map is read-only, and the bytes
            // change only if another process rewrites the file, the hazard `Text::read`
            // already accepts for the map itself.
            Text::Mapped(m) => unsafe { std::str::from_utf8_unchecked(m) },
        }
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_files_are_mapped_and_small_ones_read() {
        let dir = tempfile::tempdir().unwrap();
        let small = dir.path().join("small.json");
        std::fs::write(&small, "{\"a\": 1}").unwrap();
        let big = dir.path().join("big.json");
        let body = "x".repeat(MAP_AT_LEAST as usize + 10);
        std::fs::write(&big, &body).unwrap();
        let t = Text::read(&small).unwrap();
        assert!(matches!(t, Text::Owned(_)));
        assert_eq!(&*t, "{\"a\": 1}");
        let t = Text::read(&big).unwrap();
        assert!(matches!(t, Text::Mapped(_)));
        assert_eq!(&*t, body);
    }

    #[test]
    fn invalid_utf8_is_an_error_naming_the_offset_either_way() {
        let dir = tempfile::tempdir().unwrap();
        for len in [10usize, MAP_AT_LEAST as usize + 10] {
            let p = dir.path().join(format!("bad-{len}"));
            let mut bytes = vec![b'a'; len];
            bytes[7] = 0xff;
            std::fs::write(&p, &bytes).unwrap();
            let e = Text::read(&p).err().unwrap();
            assert_eq!(e.to_string(), "not UTF-8 text (invalid byte at offset 7)");
        }
    }
}
