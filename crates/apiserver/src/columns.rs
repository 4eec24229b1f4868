//! Table columns of custom resources: the `additionalPrinterColumns` of the snapshot's
//! CustomResourceDefinitions, evaluated as apiextensions' table convertor does (the simple
//! JSONPath CRDs allow: `.field`, `[N]`, `[*]`, `[?(@.field=='value')]`; the first result; a
//! `date` column as an age; no result is an empty cell).

use std::collections::HashMap;

use serde_json::{json, Value};
use time::OffsetDateTime;
use virtguard_snapshot::Object;

use crate::list::age;
use crate::store::StoredObject;

/// One `additionalPrinterColumns` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterColumn {
    /// Header.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean` or `date`.
    pub kind: String,
    /// OpenAPI format.
    pub format: String,
    /// Description.
    pub description: String,
    /// 0: shown by default; higher: with `-o wide`.
    pub priority: i64,
    /// The JSONPath.
    pub json_path: String,
}

impl PrinterColumn {
    /// The `columnDefinitions` entry.
    pub fn definition(&self) -> Value {
        json!({"name": self.name, "type": self.kind, "format": self.format,
               "description": self.description, "priority": self.priority})
    }

    /// The cell for an object.
    pub fn cell(&self, o: &StoredObject, now: OffsetDateTime) -> Value {
        let content = o.value();
        let Some(v) = eval(&content, &self.json_path).into_iter().next() else {
            return Value::Null;
        };
        match (self.kind.as_str(), &v) {
            ("date", Value::String(s)) => Value::String(age(Some(s), now)),
            ("string", Value::String(_)) => v,
            ("string", Value::Null) => Value::Null,
            ("string", other) => Value::String(other.to_string()),
            _ => v,
        }
    }
}

/// The printer columns of every CRD in `objects`, by (group, plural), from the first version
/// that has them (or the CRD-wide list of `apiextensions.k8s.io/v1beta1`).
pub fn crd_columns(objects: &[Object]) -> HashMap<(String, String), Vec<PrinterColumn>> {
    let mut out = HashMap::new();
    for o in objects
        .iter()
        .filter(|o| o.kind == "CustomResourceDefinition")
    {
        let Some(v) = o.value() else { continue };
        let text = |v: &Value, p: &str| {
            v.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let lists = v
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|ver| ver.get("additionalPrinterColumns"))
            .chain(v.pointer("/spec/additionalPrinterColumns"));
        let Some(list) = lists.filter_map(Value::as_array).find(|l| !l.is_empty()) else {
            continue;
        };
        let columns = list
            .iter()
            .map(|c| PrinterColumn {
                name: text(c, "/name"),
                kind: text(c, "/type"),
                format: text(c, "/format"),
                description: text(c, "/description"),
                priority: c.get("priority").and_then(Value::as_i64).unwrap_or(0),
                json_path: {
                    let p = text(c, "/jsonPath");
                    if p.is_empty() {
                        text(c, "/JSONPath")
                    } else {
                        p
                    }
                },
            })
            .collect();
        out.insert(
            (text(v, "/spec/group"), text(v, "/spec/names/plural")),
            columns,
        );
    }
    out
}

/// One step of a simple JSONPath.
#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    Filter(Vec<String>, String),
}

fn parse(path: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    let mut rest = path.trim().trim_start_matches('{').trim_end_matches('}');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            if end > 0 {
                steps.push(Step::Field(r[..end].to_string()));
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = r[..end].trim();
            rest = &r[end + 1..];
            if inner == "*" {
                steps.push(Step::All);
            } else if let Ok(n) = inner.parse::<usize>() {
                steps.push(Step::Index(n));
            } else {
                let cond = inner.strip_prefix("?(")?.strip_suffix(')')?;
                let (lhs, rhs) = cond.split_once("==")?;
                let field: Vec<String> = lhs
                    .trim()
                    .strip_prefix("@.")?
                    .split('.')
                    .map(str::to_string)
                    .collect();
                let want = rhs
                    .trim()
                    .trim_matches(|c| c == '\'' || c == '"')
                    .to_string();
                steps.push(Step::Filter(field, want));
            }
        } else {
            return None;
        }
    }
    Some(steps)
}

/// Every value `path` selects in `v` (an unsupported path selects nothing).
pub fn eval(v: &Value, path: &str) -> Vec<Value> {
    let Some(steps) = parse(path) else {
        return Vec::new();
    };
    let mut current = vec![v];
    for step in &steps {
        let mut next = Vec::new();
        for c in current {
            match step {
                Step::Field(f) => next.extend(c.get(f)),
                Step::Index(n) => next.extend(c.get(*n)),
                Step::All => next.extend(c.as_array().into_iter().flatten()),
                Step::Filter(field, want) => {
                    for item in c.as_array().into_iter().flatten() {
                        let got = field.iter().try_fold(item, |x, f| x.get(f));
                        let matches = match got {
                            Some(Value::String(s)) => s == want,
                            Some(other) => {
                                serde_json::from_str::<Value>(want).is_ok_and(|w| &w == other)
                            }
                            None => false,
                        };
                        if matches {
                            next.push(item);
                        }
                    }
                }
            }
        }
        current = next;
    }
    current.into_iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_json_paths() {
        let v = json!({"status": {"printableStatus": "Running",
            "conditions": [{"type": "Paused", "status": "False"}, {"type": "Ready", "status": "True"}],
            "interfaces": [{"ipAddress": "10.0.0.1"}], "replicas": 3}});
        assert_eq!(eval(&v, ".status.printableStatus"), [json!("Running")]);
        assert_eq!(
            eval(&v, ".status.conditions[?(@.type=='Ready')].status"),
            [json!("True")]
        );
        assert_eq!(
            eval(&v, ".status.interfaces[0].ipAddress"),
            [json!("10.0.0.1")]
        );
        assert_eq!(eval(&v, ".status.conditions[*].type").len(), 2);
        assert_eq!(eval(&v, ".status.replicas"), [json!(3)]);
        assert!(eval(&v, ".status.missing").is_empty());
        assert!(eval(&v, "status[").is_empty());
        assert!(eval(&v, ".status.conditions[?(@.type~='x')]").is_empty());
    }
}
