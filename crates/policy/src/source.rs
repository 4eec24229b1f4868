//! The only I/O of the crate: reading policy files (`*.cedar`) from disk into sources for
//! [`PolicySet::from_sources`](crate::PolicySet::from_sources).

use std::path::Path;

use crate::error::PolicyError;

/// Reads one policy file; the source is named by the path as given.
pub fn load_file(path: &Path) -> Result<(String, String), PolicyError> {
    let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok((path.display().to_string(), text))
}

/// Reads every regular `*.cedar` file directly in `dir` (not recursive, as the project's
/// directory store does), sorted by file name.
pub fn load_dir(dir: &Path) -> Result<Vec<(String, String)>, PolicyError> {
    let io = |source| PolicyError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "cedar")
            && entry.file_type().map_err(io)?.is_file()
        {
            paths.push(path);
        }
    }
    paths.sort();
    paths.iter().map(|p| load_file(p)).collect()
}

/// Reads each path as given on the command line: a directory gives its `*.cedar` files
/// ([`load_dir`]), anything else is read as one policy file ([`load_file`]).
pub fn load_paths<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<(String, String)>, PolicyError> {
    let mut out = Vec::new();
    for p in paths {
        let p = p.as_ref();
        if p.is_dir() {
            out.extend(load_dir(p)?);
        } else {
            out.push(load_file(p)?);
        }
    }
    Ok(out)
}
