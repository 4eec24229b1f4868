//! Why a live read failed: each variant is one line naming the kubeconfig, context or server and
//! the cause.

/// A live read that could not be done.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// No kubeconfig and not in a pod.
    #[error("no cluster to read: pass -f PATH for manifests or --kubeconfig PATH ($KUBECONFIG is unset, {default} does not exist, and this is not a pod with a service account)")]
    NoConfig {
        /// The default kubeconfig path looked at.
        default: String,
    },
    /// The kubeconfig could not be read or used.
    #[error("kubeconfig {path}: {cause}")]
    Kubeconfig {
        /// The file (or `$KUBECONFIG`, or `in-cluster`).
        path: String,
        /// What is wrong.
        cause: String,
    },
    /// The API server could not be reached (connection, TLS, timeout).
    #[error("cannot reach the API server {server}: {cause}")]
    Connect {
        /// The server URL.
        server: String,
        /// The deepest cause.
        cause: String,
    },
    /// The API server answered with an error that makes the read impossible.
    #[error("the API server {server} answered {status} to GET {path}: {message}")]
    Api {
        /// The server URL.
        server: String,
        /// The request path.
        path: String,
        /// HTTP status, e.g. `401 Unauthorized`.
        status: String,
        /// The Status message or body.
        message: String,
    },
    /// The API server's answer could not be understood.
    #[error("the API server {server} sent a malformed answer to GET {path}: {cause}")]
    Malformed {
        /// The server URL.
        server: String,
        /// The request path.
        path: String,
        /// What is wrong.
        cause: String,
    },
}
