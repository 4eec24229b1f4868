//! The connection to a cluster: kubeconfig or in-cluster config (kube-rs), discovery, paged LISTs
//! with client-go's fallbacks, retries with backoff.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use http_body_util::BodyExt;
use kube::api::ListParams;
use kube::client::Body;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::Deserialize;

use crate::error::LiveError;
use crate::kinds::{kinds_for, Kind, Scope, Where};
use crate::page::{append_items, list_document};

/// Which cluster to read: kubectl's `--kubeconfig` and `--context`.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// `--kubeconfig`; else `$KUBECONFIG`, then `~/.kube/config`, then the in-cluster service
    /// account.
    pub kubeconfig: Option<PathBuf>,
    /// `--context`; else the kubeconfig's current context.
    pub context: Option<String>,
}

/// How to read.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which kinds: what the command needs.
    pub scope: Scope,
    /// Keep Secrets' `data` (default: metadata and type only).
    pub include_secret_data: bool,
    /// Items per LIST page (`limit`).
    pub page_size: u32,
    /// Kinds listed at once.
    pub concurrency: usize,
    /// Retries of a request answered 429 or 5xx.
    pub retries: u32,
    /// The longest wait between retries (a larger `Retry-After` is capped to it).
    pub max_backoff: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            scope: Scope::Rbac,
            include_secret_data: false,
            page_size: 500,
            concurrency: 4,
            retries: 5,
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// Told of each page listed (a terminal progress bar, or nothing).
pub trait Progress: Send + Sync {
    /// `items` of `kind` listed so far; `done` after its last page.
    fn listed(&self, kind: &Kind, items: usize, done: bool);
}

impl Progress for () {
    fn listed(&self, _: &Kind, _: usize, _: bool) {}
}

/// The objects of one kind.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The kind.
    pub kind: Kind,
    /// The version discovery preferred (`v1`, `kubevirt.io/v1`).
    pub api_version: String,
    /// One JSON `List` of the items, each with `apiVersion` and `kind`.
    pub document: String,
    /// How many items.
    pub items: usize,
}

/// What a live read gave.
#[derive(Debug, Clone, Default)]
pub struct Read {
    /// One entry per kind the server has and the caller may list, in [`crate::KINDS`] order.
    pub lists: Vec<Listed>,
    /// Kinds left out and why (403, missing from discovery), one line each.
    pub warnings: Vec<String>,
    /// Some kind the command needs could not be read: answers may miss grants or findings.
    pub partial: bool,
}

/// A cluster to read, connected.
pub struct Cluster {
    pub(crate) client: kube::Client,
    /// The kubeconfig context (or `in-cluster`), for sources such as `cluster <context>: …`.
    pub context: String,
    /// The API server URL.
    pub server: String,
}

/// The answer to one request.
enum Answer {
    Ok(String),
    Failed {
        code: u16,
        status: String,
        message: String,
        retry_after: Option<u64>,
    },
}

#[derive(Deserialize, Default)]
struct StatusBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Option<StatusDetails>,
}

#[derive(Deserialize, Default)]
struct StatusDetails {
    #[serde(rename = "retryAfterSeconds", default)]
    retry_after_seconds: Option<u64>,
}

#[derive(Deserialize)]
struct ResourceList {
    #[serde(default)]
    resources: Vec<ApiResource>,
}

#[derive(Deserialize)]
struct ApiResource {
    name: String,
    #[serde(default)]
    namespaced: bool,
}

#[derive(Deserialize)]
struct GroupList {
    #[serde(default)]
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    name: String,
    #[serde(default)]
    versions: Vec<GroupVersion>,
    #[serde(rename = "preferredVersion", default)]
    preferred_version: Option<GroupVersion>,
}

#[derive(Deserialize, Clone)]
struct GroupVersion {
    #[serde(rename = "groupVersion")]
    group_version: String,
}

/// Where discovery found a kind: its group version and whether it is namespaced.
#[derive(Debug, Clone)]
pub(crate) struct Served {
    pub(crate) group_version: String,
    pub(crate) namespaced: bool,
}

/// What listing one kind came to.
enum Outcome {
    Listed(Listed),
    Forbidden(String),
    Missing,
}

/// The deepest cause of an error chain: the one line that says what went wrong
/// (`Connection refused`, `invalid peer certificate: UnknownIssuer`).
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut deepest = e;
    let mut chain = vec![e.to_string()];
    while let Some(s) = deepest.source() {
        deepest = s;
        chain.push(s.to_string());
    }
    // Some layers repeat their source in their own message; keep the last. Parsers may add a
    // snippet of the input on later lines: one line is the rule.
    let last = chain.pop().unwrap_or_default();
    last.lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// Loads the kubeconfig (or in-cluster config) and makes a client; nothing is sent yet.
pub async fn connect(target: &Target) -> Result<Cluster, LiveError> {
    let in_pod = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let default_path = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".kube").join("config"))
        .unwrap_or_else(|| PathBuf::from("~/.kube/config"));
    let (kubeconfig, label) = match &target.kubeconfig {
        Some(p) => (
            Some(Kubeconfig::read_from(p).map_err(|e| LiveError::Kubeconfig {
                path: p.display().to_string(),
                cause: root_cause(&e),
            })?),
            p.display().to_string(),
        ),
        None if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) => (
            Some(Kubeconfig::read().map_err(|e| LiveError::Kubeconfig {
                path: "$KUBECONFIG".into(),
                cause: root_cause(&e),
            })?),
            "$KUBECONFIG".to_string(),
        ),
        None if default_path.exists() => (
            Some(
                Kubeconfig::read_from(&default_path).map_err(|e| LiveError::Kubeconfig {
                    path: default_path.display().to_string(),
                    cause: root_cause(&e),
                })?,
            ),
            default_path.display().to_string(),
        ),
        None if in_pod => (None, "in-cluster".to_string()),
        None => {
            return Err(LiveError::NoConfig {
                default: default_path.display().to_string(),
            })
        }
    };
    let (mut config, context) = match kubeconfig {
        Some(kc) => {
            let context = target
                .context
                .clone()
                .or_else(|| kc.current_context.clone())
                .unwrap_or_default();
            let opts = KubeConfigOptions {
                context: target.context.clone(),
                ..KubeConfigOptions::default()
            };
            let config = kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| LiveError::Kubeconfig {
                    path: label.clone(),
                    cause: root_cause(&e),
                })?;
            (config, context)
        }
        None => {
            let config = kube::Config::incluster().map_err(|e| LiveError::Kubeconfig {
                path: label.clone(),
                cause: root_cause(&e),
            })?;
            (config, "in-cluster".to_string())
        }
    };
    config.connect_timeout = Some(Duration::from_secs(10));
    config.read_timeout = Some(Duration::from_secs(60));
    // Retries are ours: on every 5xx and 429 with the server's Retry-After, counted and bounded.
    config.default_retry = false;
    let server = config
        .cluster_url
        .to_string()
        .trim_end_matches('/')
        .to_string();
    let client = kube::Client::try_from(config).map_err(|e| LiveError::Kubeconfig {
        path: label,
        cause: root_cause(&e),
    })?;
    Ok(Cluster {
        client,
        context,
        server,
    })
}

/// Path of a LIST.
fn list_path(kind: &Kind, served: &Served, namespace: Option<&str>) -> String {
    let base = if kind.group.is_empty() {
        format!("/api/{}", served.group_version)
    } else {
        format!("/apis/{}", served.group_version)
    };
    match namespace {
        Some(ns) if served.namespaced => format!("{base}/namespaces/{ns}/{}", kind.resource),
        _ => format!("{base}/{}", kind.resource),
    }
}

/// The wait before retry `attempt` (0-based): the server's `Retry-After` when it gave one, else
/// 200 ms doubling; never more than `cap`.
pub(crate) fn backoff(attempt: u32, retry_after: Option<u64>, cap: Duration) -> Duration {
    let d = match retry_after {
        Some(s) => Duration::from_secs(s),
        None => Duration::from_millis(200u64.saturating_mul(1u64 << attempt.min(16))),
    };
    d.min(cap)
}

impl Cluster {
    /// One GET, without retries. A connection failure is an error; any HTTP answer is not.
    async fn get_once(&self, req: http::Request<Vec<u8>>) -> Result<Answer, LiveError> {
        let path = req.uri().to_string();
        let mut req = req.map(Body::from);
        req.headers_mut().insert(
            http::header::ACCEPT,
            http::HeaderValue::from_static("application/json"),
        );
        let res = self
            .client
            .send(req)
            .await
            .map_err(|e| LiveError::Connect {
                server: self.server.clone(),
                cause: root_cause(&e),
            })?;
        let status = res.status();
        let retry_after = res
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| LiveError::Connect {
                server: self.server.clone(),
                cause: root_cause(&e),
            })?
            .to_bytes();
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| LiveError::Malformed {
            server: self.server.clone(),
            path: path.clone(),
            cause: "the body is not UTF-8".into(),
        })?;
        if status.is_success() {
            return Ok(Answer::Ok(text));
        }
        let body: StatusBody = serde_json::from_str(&text).unwrap_or_default();
        let message = if body.message.is_empty() {
            text.trim().chars().take(200).collect()
        } else {
            body.message
        };
        Ok(Answer::Failed {
            code: status.as_u16(),
            status: status.to_string(),
            message,
            retry_after: retry_after.or(body.details.and_then(|d| d.retry_after_seconds)),
        })
    }

    /// A GET retried on 429 and 5xx with backoff; the last answer when retries run out.
    async fn get(
        &self,
        make: impl Fn() -> Result<http::Request<Vec<u8>>, String>,
        opts: &Options,
    ) -> Result<Answer, LiveError> {
        let mut attempt = 0;
        loop {
            let req = make().map_err(|cause| LiveError::Malformed {
                server: self.server.clone(),
                path: String::new(),
                cause,
            })?;
            let answer = self.get_once(req).await?;
            match &answer {
                Answer::Failed {
                    code, retry_after, ..
                } if (*code == 429 || *code >= 500) && attempt < opts.retries => {
                    tokio::time::sleep(backoff(attempt, *retry_after, opts.max_backoff)).await;
                    attempt += 1;
                }
                _ => return Ok(answer),
            }
        }
    }

    /// A discovery document, or `None` when the server does not serve it (404, 403).
    async fn discovery<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        opts: &Options,
        required: bool,
    ) -> Result<Option<T>, LiveError> {
        let answer = self
            .get(
                || {
                    http::Request::get(path)
                        .body(Vec::new())
                        .map_err(|e| e.to_string())
                },
                opts,
            )
            .await?;
        match answer {
            Answer::Ok(text) => {
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| LiveError::Malformed {
                        server: self.server.clone(),
                        path: path.to_string(),
                        cause: e.to_string(),
                    })
            }
            Answer::Failed { code, .. } if !required && (code == 404 || code == 403) => Ok(None),
            Answer::Failed {
                status, message, ..
            } => Err(LiveError::Api {
                server: self.server.clone(),
                path: path.to_string(),
                status,
                message,
            }),
        }
    }

    /// Which of `kinds` the server serves, and where.
    pub(crate) async fn discover(
        &self,
        kinds: &[Kind],
        opts: &Options,
    ) -> Result<HashMap<(&'static str, &'static str), Served>, LiveError> {
        let mut served = HashMap::new();
        let core: Option<ResourceList> = self.discovery("/api/v1", opts, true).await?;
        for r in core.map(|c| c.resources).unwrap_or_default() {
            if let Some(k) = kinds
                .iter()
                .find(|k| k.group.is_empty() && k.resource == r.name)
            {
                served.insert(
                    (k.group, k.resource),
                    Served {
                        group_version: "v1".into(),
                        namespaced: r.namespaced,
                    },
                );
            }
        }
        let groups: Option<GroupList> = self.discovery("/apis", opts, true).await?;
        for g in groups.map(|g| g.groups).unwrap_or_default() {
            let wanted: Vec<&Kind> = kinds.iter().filter(|k| k.group == g.name).collect();
            if wanted.is_empty() {
                continue;
            }
            // The preferred version first, then the others in the server's order.
            let mut versions: Vec<GroupVersion> = g.preferred_version.iter().cloned().collect();
            versions.extend(
                g.versions
                    .iter()
                    .filter(|v| {
                        Some(&v.group_version)
                            != g.preferred_version.as_ref().map(|p| &p.group_version)
                    })
                    .cloned(),
            );
            for v in versions {
                if wanted
                    .iter()
                    .all(|k| served.contains_key(&(k.group, k.resource)))
                {
                    break;
                }
                let list: Option<ResourceList> = self
                    .discovery(&format!("/apis/{}", v.group_version), opts, false)
                    .await?;
                for r in list.map(|l| l.resources).unwrap_or_default() {
                    if let Some(k) = wanted.iter().find(|k| k.resource == r.name) {
                        served
                            .entry((k.group, k.resource))
                            .or_insert_with(|| Served {
                                group_version: v.group_version.clone(),
                                namespaced: r.namespaced,
                            });
                    }
                }
            }
        }
        Ok(served)
    }

    /// Lists one kind, page by page; an expired `continue` token falls back to one full list
    /// (client-go's pager does the same).
    async fn list_kind(
        &self,
        kind: Kind,
        served: &Served,
        namespace: Option<&str>,
        opts: &Options,
        progress: &dyn Progress,
    ) -> Result<Outcome, LiveError> {
        let path = list_path(&kind, served, namespace);
        let mut items = String::new();
        let mut count = 0usize;
        let mut token = String::new();
        let mut paged = true;
        loop {
            let lp = ListParams {
                label_selector: kind.label_selector.map(String::from),
                field_selector: kind.field_selector.map(String::from),
                limit: paged.then_some(opts.page_size),
                continue_token: (!token.is_empty()).then(|| token.clone()),
                ..ListParams::default()
            };
            let request = kube::core::Request::new(path.as_str());
            let answer = self
                .get(|| request.list(&lp).map_err(|e| e.to_string()), opts)
                .await?;
            let body = match answer {
                Answer::Ok(body) => body,
                Answer::Failed { code: 410, .. } if !token.is_empty() => {
                    // The token expired between pages: start over with one unpaged list.
                    items.clear();
                    count = 0;
                    token.clear();
                    paged = false;
                    continue;
                }
                Answer::Failed {
                    code: 403,
                    status,
                    message,
                    ..
                } => return Ok(Outcome::Forbidden(format!("{status}: {message}"))),
                Answer::Failed { code: 404, .. } => return Ok(Outcome::Missing),
                Answer::Failed {
                    status, message, ..
                } => {
                    return Err(LiveError::Api {
                        server: self.server.clone(),
                        path,
                        status,
                        message,
                    })
                }
            };
            let (meta, n) = append_items(
                &body,
                &served.group_version,
                kind.kind,
                !opts.include_secret_data,
                &mut items,
            )
            .map_err(|cause| LiveError::Malformed {
                server: self.server.clone(),
                path: path.clone(),
                cause,
            })?;
            count += n;
            let last = meta.continue_token.is_empty() || !paged;
            progress.listed(&kind, count, last);
            if last {
                break;
            }
            if meta.continue_token == token {
                return Err(LiveError::Malformed {
                    server: self.server.clone(),
                    path,
                    cause: "the same continue token twice (the list would never end)".into(),
                });
            }
            token = meta.continue_token;
        }
        Ok(Outcome::Listed(Listed {
            kind,
            api_version: served.group_version.clone(),
            document: list_document(&items),
            items: count,
        }))
    }

    /// Lists the kinds of `kinds` that discovery found; each failure to list is a warning.
    async fn list_all(
        &self,
        kinds: &[Kind],
        served: &HashMap<(&'static str, &'static str), Served>,
        namespace: Option<&str>,
        opts: &Options,
        progress: &dyn Progress,
        out: &mut Read,
    ) -> Result<(), LiveError> {
        let mut jobs = Vec::new();
        for (i, k) in kinds.iter().enumerate() {
            match served.get(&(k.group, k.resource)) {
                Some(s) => jobs.push((i, *k, s.clone())),
                None if k.optional => {}
                None => {
                    out.warnings.push(format!(
                        "the API server does not serve {} (not in discovery): {} objects are left out",
                        k.qualified(),
                        k.kind
                    ));
                    out.partial = true;
                }
            }
        }
        let mut done: Vec<(usize, Result<Outcome, LiveError>)> =
            stream::iter(jobs)
                .map(|(i, k, s)| async move {
                    (i, self.list_kind(k, &s, namespace, opts, progress).await)
                })
                .buffer_unordered(opts.concurrency.max(1))
                .collect()
                .await;
        done.sort_by_key(|(i, _)| *i);
        for (i, outcome) in done {
            let k = &kinds[i];
            match outcome? {
                Outcome::Listed(l) => out.lists.push(l),
                Outcome::Missing if k.optional => {}
                Outcome::Missing => {
                    out.warnings.push(format!(
                        "the API server answered 404 to a LIST of {}: {} objects are left out",
                        k.qualified(),
                        k.kind
                    ));
                    out.partial = true;
                }
                Outcome::Forbidden(why) => {
                    out.warnings.push(format!(
                        "cannot list {} ({why}): {} objects are left out, answers are partial",
                        k.qualified(),
                        k.kind
                    ));
                    out.partial = true;
                }
            }
        }
        Ok(())
    }

    /// Reads what a command needs: discovery, then every kind of `opts.scope` the server has.
    pub async fn read(&self, opts: &Options, progress: &dyn Progress) -> Result<Read, LiveError> {
        let kinds = kinds_for(opts.scope);
        let served = self.discover(&kinds, opts).await?;
        let mut out = Read::default();
        let (everywhere, install_ns): (Vec<Kind>, Vec<Kind>) =
            kinds.iter().partition(|k| k.within == Where::All);
        self.list_all(&everywhere, &served, None, opts, progress, &mut out)
            .await?;
        if !install_ns.is_empty() {
            let ns = install_namespace(&out);
            self.list_all(&install_ns, &served, Some(&ns), opts, progress, &mut out)
                .await?;
        }
        Ok(out)
    }
}

/// KubeVirt's install namespace: the KubeVirt CR's, else `kubevirt`.
fn install_namespace(read: &Read) -> String {
    #[derive(Deserialize)]
    struct Doc {
        items: Vec<Item>,
    }
    #[derive(Deserialize)]
    struct Item {
        #[serde(default)]
        metadata: Meta,
    }
    #[derive(Deserialize, Default)]
    struct Meta {
        #[serde(default)]
        namespace: String,
    }
    read.lists
        .iter()
        .filter(|l| l.kind.kind == "KubeVirt")
        .filter_map(|l| serde_json::from_str::<Doc>(&l.document).ok())
        .flat_map(|d| d.items)
        .map(|i| i.metadata.namespace)
        .find(|n| !n.is_empty())
        .unwrap_or_else(|| "kubevirt".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_honours_retry_after_and_is_capped() {
        let cap = Duration::from_secs(10);
        assert_eq!(backoff(0, None, cap), Duration::from_millis(200));
        assert_eq!(backoff(3, None, cap), Duration::from_millis(1600));
        assert_eq!(backoff(40, None, cap), cap);
        assert_eq!(backoff(0, Some(2), cap), Duration::from_secs(2));
        assert_eq!(backoff(0, Some(3600), cap), cap);
    }

    #[test]
    fn list_paths_follow_the_api_layout() {
        let rb = crate::KINDS
            .iter()
            .find(|k| k.kind == "RoleBinding")
            .copied()
            .expect("RoleBinding");
        let secret = crate::KINDS
            .iter()
            .find(|k| k.kind == "Secret")
            .copied()
            .expect("Secret");
        let s = |gv: &str, namespaced| Served {
            group_version: gv.into(),
            namespaced,
        };
        assert_eq!(
            list_path(&rb, &s("rbac.authorization.k8s.io/v1", true), None),
            "/apis/rbac.authorization.k8s.io/v1/rolebindings"
        );
        assert_eq!(
            list_path(&secret, &s("v1", true), Some("kubevirt")),
            "/api/v1/namespaces/kubevirt/secrets"
        );
    }
}
