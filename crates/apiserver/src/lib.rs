//! A read-only, RBAC-enforcing Kubernetes API over a snapshot, as pure functions.
//!
//! [`handle`] takes the authenticated identity (from the network edge: a verified client
//! certificate, or anonymous), one HTTP request and the [`Store`], and answers as
//! kube-apiserver would: impersonation headers honoured only when RBAC allows the caller to
//! `impersonate`, every request authorized by the same engine as `virtguard can-i` (with
//! `system:masters` allowed first), discovery, GET/LIST (selectors, paging, Tables) and WATCH
//! of every kind in the snapshot, the authorization and authentication review APIs, and a
//! `metav1.Status` for every failure. Nothing here does I/O: the server crate streams watches
//! and reloads the store when the snapshot files change.

#![warn(missing_docs)]

pub mod auth;
pub mod columns;
pub mod discovery;
pub mod handler;
pub mod list;
pub mod protobuf;
pub mod reply;
pub mod request;
pub mod review;
pub mod status;
pub mod store;
pub mod watch;

pub use auth::{authorize, impersonate, Check, UserInfo, SYSTEM_MASTERS};
pub use handler::{handle, wants_table};
pub use reply::{Handled, Reply};
pub use request::{ApiRequest, Query, RequestInfo, MAX_BODY_BYTES};
pub use status::ApiError;
pub use store::{Loaded, State, Store};
pub use watch::WatchPlan;
