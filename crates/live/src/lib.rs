//! Reads a live cluster's objects through the Kubernetes API, for every command that otherwise
//! reads manifests.
//!
//! kube-rs loads the kubeconfig (or the in-cluster service account) and speaks TLS; this crate
//! asks discovery which of the kinds a command needs the server has, then LISTs each in pages of
//! 500 (`limit`/`continue`, as kubectl and client-go's pager do), several kinds at once. It follows
//! client-go's rules where a list goes wrong: an expired `continue` token (410) falls back to one
//! full list; 429 and 5xx are retried with backoff (honouring `Retry-After`); a kind the caller may
//! not list (403) is a warning naming the kind, and the read is marked partial; an optional kind
//! the server lacks is skipped without a word. What comes back is one JSON `List` per kind, items
//! with their `apiVersion` and `kind`, for the snapshot loader's JSON fast path.

mod client;
mod error;
mod follow;
mod kinds;
mod page;

pub use client::{connect, Cluster, Listed, Options, Progress, Read, Target};
pub use error::LiveError;
pub use kinds::{kinds_for, Kind, Scope, Where, KINDS};
pub use page::{append_items, list_document, PageMeta};
