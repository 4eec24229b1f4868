//! Keeping a cluster's objects current: one kube-runtime reflector (watch, relist on expiry,
//! backoff on errors) per kind a command needs, and a callback with the whole set, as a [`Read`],
//! after each change (changes arriving together are delivered once).

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use kube::runtime::reflector::{self, store::Writer, Store};
use kube::runtime::{watcher, WatchStreamExt};
use tokio::sync::Notify;

use crate::client::{Cluster, Options, Served};
use crate::error::LiveError;
use crate::kinds::{kinds_for, Kind, Where};
use crate::page::list_document;
use crate::Listed;
use crate::Read;

/// How long changes are gathered before the callback runs.
const DEBOUNCE: Duration = Duration::from_millis(100);

/// A kind being followed: its store and how its objects are written back.
struct Followed {
    kind: Kind,
    api_version: String,
    store: Store<DynamicObject>,
}

impl Followed {
    /// The store's objects as one JSON List (items with apiVersion and kind; Secrets without
    /// their private data unless `keep_secrets`).
    fn listed(&self, keep_secrets: bool) -> Listed {
        let mut state = self.store.state();
        state.sort_by(|a, b| {
            (a.metadata.namespace.as_deref(), a.metadata.name.as_deref())
                .cmp(&(b.metadata.namespace.as_deref(), b.metadata.name.as_deref()))
        });
        let mut items = String::new();
        let mut n = 0;
        for o in &state {
            let Ok(mut v) = serde_json::to_value(o.as_ref()) else {
                continue;
            };
            if let Some(m) = v.as_object_mut() {
                m.insert("apiVersion".into(), self.api_version.clone().into());
                m.insert("kind".into(), self.kind.kind.into());
            }
            if self.kind.kind == "Secret" && !keep_secrets {
                virtguard_pki::secret::withhold_private_data(&mut v);
            }
            if !items.is_empty() {
                items.push(',');
            }
            items.push_str(&v.to_string());
            n += 1;
        }
        Listed {
            kind: self.kind,
            api_version: self.api_version.clone(),
            document: list_document(&items),
            items: n,
        }
    }
}

impl Cluster {
    /// Follows the kinds of `opts.scope` until the process ends: `on_change` gets every kind's
    /// current objects after each change (the first call once every kind has been listed).
    /// `install_namespace` scopes the kinds read there only. Kinds the server lacks are left out
    /// as [`Cluster::read`] leaves them out; a watch that fails is retried with backoff.
    pub async fn follow(
        &self,
        opts: &Options,
        install_namespace: &str,
        on_change: Arc<dyn Fn(Read) + Send + Sync>,
    ) -> Result<(), LiveError> {
        let kinds = kinds_for(opts.scope);
        let served = self.discover(&kinds, opts).await?;
        let changed = Arc::new(Notify::new());
        let mut followed = Vec::new();
        let mut ready = Vec::new();
        for k in &kinds {
            let Some(s) = served.get(&(k.group, k.resource)) else {
                continue;
            };
            let (f, done) = self.follow_kind(*k, s, install_namespace, changed.clone());
            followed.push(f);
            ready.push(done);
        }
        // The first delivery waits for every kind's initial list.
        for r in ready {
            let _ = r.await;
        }
        loop {
            let read = Read {
                lists: followed
                    .iter()
                    .map(|f| f.listed(opts.include_secret_data))
                    .collect(),
                warnings: Vec::new(),
                partial: false,
            };
            on_change(read);
            changed.notified().await;
            tokio::time::sleep(DEBOUNCE).await;
        }
    }

    /// Starts the reflector of one kind; the receiver completes once its first list is in.
    fn follow_kind(
        &self,
        kind: Kind,
        served: &Served,
        install_namespace: &str,
        changed: Arc<Notify>,
    ) -> (Followed, tokio::sync::oneshot::Receiver<()>) {
        let (group, version) = served
            .group_version
            .split_once('/')
            .unwrap_or(("", served.group_version.as_str()));
        let ar = ApiResource {
            group: group.to_string(),
            version: version.to_string(),
            api_version: served.group_version.clone(),
            kind: kind.kind.to_string(),
            plural: kind.resource.to_string(),
        };
        let api: Api<DynamicObject> = match kind.within {
            Where::InstallNamespace if served.namespaced => {
                Api::namespaced_with(self.client.clone(), install_namespace, &ar)
            }
            _ => Api::all_with(self.client.clone(), &ar),
        };
        let mut config = watcher::Config::default().page_size(500);
        if let Some(l) = kind.label_selector {
            config = config.labels(l);
        }
        if let Some(f) = kind.field_selector {
            config = config.fields(f);
        }
        let writer: Writer<DynamicObject> = Writer::new(ar);
        let store = writer.as_reader();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let ready = store.clone();
        tokio::spawn(async move {
            let _ = ready.wait_until_ready().await;
            let _ = tx.send(());
        });
        let stream = reflector::reflector(writer, watcher(api, config)).default_backoff();
        tokio::spawn(async move {
            let mut stream = std::pin::pin!(stream);
            while let Some(event) = stream.next().await {
                match event {
                    Ok(watcher::Event::InitApply(_) | watcher::Event::Init) => {}
                    Ok(_) => changed.notify_one(),
                    Err(e) => warn_watch(&kind, &e),
                }
            }
        });
        (
            Followed {
                kind,
                api_version: served.group_version.clone(),
                store,
            },
            rx,
        )
    }
}

/// A watch error, on stderr (the reflector retries with backoff).
fn warn_watch(kind: &Kind, e: &watcher::Error) {
    eprintln!("warning: watch of {}: {e} (retrying)", kind.qualified());
}
