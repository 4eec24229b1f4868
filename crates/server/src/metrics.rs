//! The server's Prometheus metrics, kept in memory and rendered in the text exposition format:
//! requests by route and status, TLS handshake failures by reason, certificate expiry and
//! reload outcomes.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::verifier::HANDSHAKE_FAILURE_REASONS;

/// Which certificate an expiry gauge is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CertKind {
    /// The serving certificate (leaf of `tls.crt`).
    Serving,
    /// The client-CA bundle (latest NotAfter in it).
    ClientCa,
}

impl CertKind {
    fn label(self) -> &'static str {
        match self {
            CertKind::Serving => "serving",
            CertKind::ClientCa => "client_ca",
        }
    }
}

/// Counters and gauges of one server.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    handshake_failures: Mutex<BTreeMap<&'static str, u64>>,
    handshakes_ok: AtomicU64,
    serving_not_after: Mutex<Option<i64>>,
    client_ca_not_after: Mutex<Option<i64>>,
    reloads_ok: AtomicU64,
    reloads_error: AtomicU64,
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    /// Empty metrics, with every handshake failure reason at 0.
    pub fn new() -> Self {
        let m = Metrics::default();
        if let Ok(mut f) = m.handshake_failures.lock() {
            for r in HANDSHAKE_FAILURE_REASONS {
                f.insert(r, 0);
            }
        }
        m
    }

    /// Counts a served request; `path` is the matched route (bounded cardinality).
    pub fn record_request(&self, path: &str, code: u16) {
        if let Ok(mut r) = self.requests.lock() {
            *r.entry((path.to_string(), code)).or_insert(0) += 1;
        }
    }

    /// Counts a failed TLS handshake.
    pub fn record_handshake_failure(&self, reason: &'static str) {
        if let Ok(mut f) = self.handshake_failures.lock() {
            *f.entry(reason).or_insert(0) += 1;
        }
    }

    /// Counts a completed TLS handshake.
    pub fn record_handshake_ok(&self) {
        self.handshakes_ok.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a certificate (or CA bundle) reload.
    pub fn record_reload(&self, ok: bool) {
        let c = if ok {
            &self.reloads_ok
        } else {
            &self.reloads_error
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the NotAfter (unix seconds) of a certificate.
    pub fn set_expiry(&self, kind: CertKind, not_after: Option<i64>) {
        let slot = match kind {
            CertKind::Serving => &self.serving_not_after,
            CertKind::ClientCa => &self.client_ca_not_after,
        };
        if let Ok(mut s) = slot.lock() {
            *s = not_after;
        }
    }

    /// Handshake failures counted for `reason`.
    pub fn handshake_failures(&self, reason: &str) -> u64 {
        self.handshake_failures
            .lock()
            .ok()
            .and_then(|f| f.get(reason).copied())
            .unwrap_or(0)
    }

    /// Completed handshakes.
    pub fn handshakes_ok(&self) -> u64 {
        self.handshakes_ok.load(Ordering::Relaxed)
    }

    /// Reloads counted with result `ok` (`true`) or `error` (`false`).
    pub fn reloads(&self, ok: bool) -> u64 {
        if ok {
            self.reloads_ok.load(Ordering::Relaxed)
        } else {
            self.reloads_error.load(Ordering::Relaxed)
        }
    }

    /// Requests counted for `path` and `code`.
    pub fn requests(&self, path: &str, code: u16) -> u64 {
        self.requests
            .lock()
            .ok()
            .and_then(|r| r.get(&(path.to_string(), code)).copied())
            .unwrap_or(0)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        out.push_str("# HELP virtguard_http_requests_total HTTP requests served, by route and status code.\n");
        out.push_str("# TYPE virtguard_http_requests_total counter\n");
        if let Ok(r) = self.requests.lock() {
            for ((path, code), n) in r.iter() {
                let _ = writeln!(
                    out,
                    "virtguard_http_requests_total{{path=\"{}\",code=\"{code}\"}} {n}",
                    escape(path)
                );
            }
        }
        out.push_str("# HELP virtguard_tls_handshake_failures_total Rejected or failed TLS handshakes, by reason.\n");
        out.push_str("# TYPE virtguard_tls_handshake_failures_total counter\n");
        if let Ok(f) = self.handshake_failures.lock() {
            for (reason, n) in f.iter() {
                let _ = writeln!(
                    out,
                    "virtguard_tls_handshake_failures_total{{reason=\"{reason}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP virtguard_tls_handshakes_total Completed TLS handshakes.\n");
        out.push_str("# TYPE virtguard_tls_handshakes_total counter\n");
        let _ = writeln!(
            out,
            "virtguard_tls_handshakes_total {}",
            self.handshakes_ok()
        );
        out.push_str("# HELP virtguard_certificate_expiry_seconds NotAfter of the loaded certificate, unix seconds (client_ca: latest in the bundle).\n");
        out.push_str("# TYPE virtguard_certificate_expiry_seconds gauge\n");
        for kind in [CertKind::Serving, CertKind::ClientCa] {
            let slot = match kind {
                CertKind::Serving => &self.serving_not_after,
                CertKind::ClientCa => &self.client_ca_not_after,
            };
            if let Some(t) = slot.lock().ok().and_then(|s| *s) {
                let _ = writeln!(
                    out,
                    "virtguard_certificate_expiry_seconds{{kind=\"{}\"}} {t}",
                    kind.label()
                );
            }
        }
        out.push_str("# HELP virtguard_certificate_reloads_total Certificate and CA bundle reloads from disk, by result.\n");
        out.push_str("# TYPE virtguard_certificate_reloads_total counter\n");
        let _ = writeln!(
            out,
            "virtguard_certificate_reloads_total{{result=\"ok\"}} {}",
            self.reloads(true)
        );
        let _ = writeln!(
            out,
            "virtguard_certificate_reloads_total{{result=\"error\"}} {}",
            self.reloads(false)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family() {
        let m = Metrics::new();
        m.record_request("/healthz", 200);
        m.record_request("/healthz", 200);
        m.record_request("unmatched\"x", 404);
        m.record_handshake_failure("unknown_issuer");
        m.record_reload(false);
        m.set_expiry(CertKind::Serving, Some(1_700_000_000));
        let text = m.render();
        assert!(text.contains("virtguard_http_requests_total{path=\"/healthz\",code=\"200\"} 2\n"));
        assert!(text.contains("path=\"unmatched\\\"x\""));
        assert!(
            text.contains("virtguard_tls_handshake_failures_total{reason=\"unknown_issuer\"} 1\n")
        );
        assert!(
            text.contains("virtguard_tls_handshake_failures_total{reason=\"no_certificate\"} 0\n")
        );
        assert!(
            text.contains("virtguard_certificate_expiry_seconds{kind=\"serving\"} 1700000000\n")
        );
        assert!(!text.contains("kind=\"client_ca\""));
        assert!(text.contains("virtguard_certificate_reloads_total{result=\"error\"} 1\n"));
        assert!(text.contains("virtguard_certificate_reloads_total{result=\"ok\"} 0\n"));
    }
}
