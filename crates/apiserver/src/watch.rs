//! Watches: what a `?watch=1` request selects, the events it is sent first (every object for
//! a watch without `resourceVersion`, the changes since it otherwise, or an ERROR event with a
//! 410 `Expired` Status when that version is no longer kept), and the encoding of later events
//! and BOOKMARKs as newline-delimited JSON (`{"type": …, "object": …}`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::list::{table, IncludeObject, Page, Selection};
use crate::status::ApiError;
use crate::store::{Event, EventType, StoredObject};

/// How long a watch runs when the client does not say (`timeoutSeconds`).
pub const DEFAULT_WATCH_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A watch to stream.
#[derive(Debug, Clone)]
pub struct WatchPlan {
    /// The resource's group.
    pub group: String,
    /// The resource.
    pub resource: String,
    /// Kind (for bookmarks).
    pub kind: String,
    /// `apiVersion` (for bookmarks).
    pub api_version: String,
    /// Which objects.
    pub selection: Selection,
    /// The lines to send first.
    pub initial: Vec<Vec<u8>>,
    /// Changes after this version follow the initial lines.
    pub since: u64,
    /// Whether the stream ends after the initial lines (a 410 ERROR was sent).
    pub finished: bool,
    /// Whether BOOKMARK events are wanted (`allowWatchBookmarks`).
    pub bookmarks: bool,
    /// How long the watch runs.
    pub timeout: Duration,
    /// Objects are sent as one-row Tables (kubectl `get -w`), with this `includeObject`.
    pub table: Option<IncludeObject>,
    /// The Table's columns after NAME.
    pub columns: Vec<crate::columns::PrinterColumn>,
}

fn line(kind: &str, object: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(object.len() + 32);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
    out
}

impl WatchPlan {
    /// The line for one object event.
    pub fn event_line(&self, kind: EventType, object: &StoredObject, rv: u64) -> Vec<u8> {
        match self.table {
            None => line(kind.as_str(), &object.json),
            Some(include) => {
                let page = Page {
                    items: vec![object],
                    next: String::new(),
                    remaining: 0,
                };
                let t = table(rv, &page, &self.columns, include, OffsetDateTime::now_utc());
                line(kind.as_str(), &serde_json::to_vec(&t).unwrap_or_default())
            }
        }
    }

    /// The lines for the changes in `batches` this watch selects. A modification that moves
    /// an object out of the selection is a DELETED (of the new state), into it an ADDED.
    pub fn lines_for(&self, batches: &[Arc<Vec<Event>>]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for e in batches.iter().flat_map(|b| b.iter()) {
            if e.group != self.group || e.resource != self.resource {
                continue;
            }
            let now = self.selection.matches(&e.object);
            let kind = match (e.kind, &e.previous) {
                (EventType::Modified, Some(before)) => {
                    match (self.selection.matches(before), now) {
                        (true, true) => EventType::Modified,
                        (true, false) => EventType::Deleted,
                        (false, true) => EventType::Added,
                        (false, false) => continue,
                    }
                }
                (kind, _) if now => kind,
                _ => continue,
            };
            out.push(self.event_line(kind, &e.object, e.object.resource_version));
        }
        out
    }

    /// A BOOKMARK at version `rv` (optionally marking the end of the initial events).
    pub fn bookmark(&self, rv: u64, initial_events_end: bool) -> Vec<u8> {
        let mut meta = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
        if initial_events_end {
            meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let obj = json!({"kind": self.kind, "apiVersion": self.api_version, "metadata": meta});
        line("BOOKMARK", &serde_json::to_vec(&obj).unwrap_or_default())
    }
}

/// An ERROR event carrying a `Status`.
pub fn error_line(err: &ApiError) -> Vec<u8> {
    line(
        "ERROR",
        &serde_json::to_vec(&err.status()).unwrap_or_default(),
    )
}

/// The 410 Status of a watch from a version no longer kept.
pub fn too_old(requested: u64, oldest: u64) -> ApiError {
    ApiError::expired(format!("too old resource version: {requested} ({oldest})"))
}

/// Parses an event line back (tests and clients).
pub fn parse_line(l: &[u8]) -> Option<(String, Value)> {
    let v: Value = serde_json::from_slice(l).ok()?;
    Some((
        v.get("type")?.as_str()?.to_string(),
        v.get("object")?.clone(),
    ))
}
