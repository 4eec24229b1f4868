//! The server's error type.

use std::path::PathBuf;

use thiserror::Error;

/// Why the server could not start, or why a certificate file was refused.
#[derive(Debug, Error)]
pub enum ServerError {
    /// The configuration is invalid (unknown cipher suite, bad TLS version, ...).
    #[error("invalid server configuration: {0}")]
    Config(String),
    /// A certificate, key or CA file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A certificate, key or CA file was read but refused.
    #[error("refusing {path}: {reason}")]
    Refused {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls rejected the TLS configuration.
    #[error("TLS configuration error: {0}")]
    Tls(#[from] rustls::Error),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file watcher could not be started.
    #[error("cannot watch certificate files: {0}")]
    Watch(String),
    /// Accepting connections failed persistently.
    #[error("accept failed: {0}")]
    Accept(std::io::Error),
}
