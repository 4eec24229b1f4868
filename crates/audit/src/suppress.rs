//! Suppressions: accepted findings, each with a reason and an expiry date. A suppression
//! matches a finding by check id and by an object (`Kind/namespace/name`, `Kind/name`, or a
//! name) or a subject (`Group:name`, `User:name`, `ServiceAccount:ns/name`); `*` matches all.
//! Expired suppressions hide nothing and are findings themselves (VG002).

use serde::{Deserialize, Serialize};

use crate::finding::{Finding, ObjectRef};

/// One accepted finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suppression {
    /// Check id (`VG101`).
    pub id: String,
    /// The object: `Kind/namespace/name`, `Kind/name`, a bare name, or `*`.
    #[serde(default)]
    pub object: Option<String>,
    /// The subject: `Group:name`, `User:name`, `ServiceAccount:ns/name`.
    #[serde(default)]
    pub subject: Option<String>,
    /// Why the finding is accepted.
    pub reason: String,
    /// Last day it applies, `YYYY-MM-DD`.
    #[serde(default)]
    pub expires: Option<String>,
}

/// A suppression file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SuppressionError {
    /// An entry names neither an object nor a subject.
    #[error("suppression {index} ({id}): give `object` or `subject` (use \"*\" for every one)")]
    NoTarget {
        /// 0-based entry.
        index: usize,
        /// Its id.
        id: String,
    },
    /// A date that is not `YYYY-MM-DD`.
    #[error("suppression {index} ({id}): expires {value:?} is not a date (YYYY-MM-DD)")]
    BadDate {
        /// 0-based entry.
        index: usize,
        /// Its id.
        id: String,
        /// The value.
        value: String,
    },
    /// An id no check has.
    #[error("suppression {index}: unknown check id {id:?}")]
    UnknownId {
        /// 0-based entry.
        index: usize,
        /// The id.
        id: String,
    },
}

/// A finding hidden by a suppression.
#[derive(Debug, Clone, Serialize)]
pub struct Suppressed {
    /// The finding.
    pub finding: Finding,
    /// Why.
    pub reason: String,
    /// Until when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

fn valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
        && (1..=12).contains(&s[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&s[8..10].parse::<u32>().unwrap_or(0))
}

fn object_matches(pattern: &str, o: &ObjectRef) -> bool {
    if pattern == "*" {
        return true;
    }
    let full = if o.namespace.is_empty() {
        format!("{}/{}", o.kind, o.name)
    } else {
        format!("{}/{}/{}", o.kind, o.namespace, o.name)
    };
    pattern == full || pattern == format!("{}/{}", o.kind, o.name) || pattern == o.name
}

fn matches(s: &Suppression, f: &Finding) -> bool {
    if s.id != f.id {
        return false;
    }
    let obj = s
        .object
        .as_deref()
        .is_none_or(|p| f.objects.iter().any(|o| object_matches(p, o)) || (p == "*"));
    let subj = s.subject.as_deref().is_none_or(|p| {
        p == "*"
            || f.subjects.iter().any(|x| {
                let name = if x.namespace.is_empty() {
                    x.name.clone()
                } else {
                    format!("{}/{}", x.namespace, x.name)
                };
                p == format!("{}:{name}", x.kind)
            })
    });
    obj && subj
}

/// Checks a suppression list (`today` is `YYYY-MM-DD`).
pub fn validate(list: &[Suppression]) -> Result<(), SuppressionError> {
    for (index, s) in list.iter().enumerate() {
        if crate::check(&s.id).is_none() {
            return Err(SuppressionError::UnknownId {
                index,
                id: s.id.clone(),
            });
        }
        if s.object.is_none() && s.subject.is_none() {
            return Err(SuppressionError::NoTarget {
                index,
                id: s.id.clone(),
            });
        }
        if let Some(d) = &s.expires {
            if !valid_date(d) {
                return Err(SuppressionError::BadDate {
                    index,
                    id: s.id.clone(),
                    value: d.clone(),
                });
            }
        }
    }
    Ok(())
}

/// Splits findings into kept and suppressed; expired suppressions (expiry before `today`,
/// `YYYY-MM-DD`) suppress nothing and add a VG002 finding each.
pub fn apply_suppressions(
    findings: Vec<Finding>,
    list: &[Suppression],
    today: &str,
) -> Result<(Vec<Finding>, Vec<Suppressed>), SuppressionError> {
    validate(list)?;
    let (active, expired): (Vec<&Suppression>, Vec<&Suppression>) = list
        .iter()
        .partition(|s| s.expires.as_deref().is_none_or(|d| d >= today));
    let mut kept = Vec::new();
    let mut hidden = Vec::new();
    for f in findings {
        match active.iter().find(|s| matches(s, &f)) {
            Some(s) => hidden.push(Suppressed {
                finding: f,
                reason: s.reason.clone(),
                expires: s.expires.clone(),
            }),
            None => kept.push(f),
        }
    }
    for s in expired {
        let mut f = crate::finding(
            "VG002",
            format!(
                "suppression of {} ({}) expired on {}",
                s.id,
                s.object.as_deref().or(s.subject.as_deref()).unwrap_or("*"),
                s.expires.as_deref().unwrap_or("")
            ),
        );
        f.evidence = format!("reason given: {}", s.reason);
        kept.push(f);
    }
    kept.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    Ok((kept, hidden))
}
