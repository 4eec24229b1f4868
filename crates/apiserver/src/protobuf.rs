//! Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`),
//! which kubectl's typed clients send for the review APIs: the `k8s\0` envelope
//! (`runtime.Unknown`) and the fields of the review kinds (`k8s.io/api/authorization/v1` and
//! `authentication/v1` `generated.proto`), turned into the JSON the rest of the crate reads.
//! Responses stay JSON, which those clients accept.

use serde_json::{json, Map, Value};

use crate::status::ApiError;

/// The protobuf media type.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

const MAGIC: &[u8] = b"k8s\0";

/// One decoded field: number and value.
enum Field<'a> {
    /// A varint (no field the review kinds need is one; read to skip it).
    Varint,
    Bytes(&'a [u8]),
}

fn bad(what: &str) -> ApiError {
    ApiError::bad_request(format!("the protobuf body cannot be decoded: {what}"))
}

fn varint(buf: &[u8], pos: &mut usize) -> Result<u64, ApiError> {
    let mut out = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos).ok_or_else(|| bad("truncated varint"))?;
        *pos += 1;
        out |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(out);
        }
    }
    Err(bad("varint too long"))
}

/// The fields of one message, in order.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Field<'_>)>, ApiError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let (num, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                varint(buf, &mut pos)?;
                out.push((num, Field::Varint));
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).map_err(|_| bad("length"))?;
                let end = pos.checked_add(len).ok_or_else(|| bad("length"))?;
                let bytes = buf.get(pos..end).ok_or_else(|| bad("truncated field"))?;
                out.push((num, Field::Bytes(bytes)));
                pos = end;
            }
            1 => {
                pos = pos
                    .checked_add(8)
                    .filter(|p| *p <= buf.len())
                    .ok_or_else(|| bad("truncated fixed64"))?
            }
            5 => {
                pos = pos
                    .checked_add(4)
                    .filter(|p| *p <= buf.len())
                    .ok_or_else(|| bad("truncated fixed32"))?
            }
            _ => return Err(bad("unsupported wire type")),
        }
    }
    Ok(out)
}

fn text(b: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(b.to_vec()).map_err(|_| bad("a string is not UTF-8"))
}

/// A message whose fields are all strings: maps field numbers to JSON names (repeated names
/// listed in `repeated`).
fn strings(
    buf: &[u8],
    names: &[(u64, &str)],
    repeated: &[u64],
) -> Result<Map<String, Value>, ApiError> {
    let mut m = Map::new();
    for (num, f) in fields(buf)? {
        let (Some((_, name)), Field::Bytes(b)) = (names.iter().find(|(n, _)| *n == num), f) else {
            continue;
        };
        let v = Value::String(text(b)?);
        if repeated.contains(&num) {
            match m
                .entry(name.to_string())
                .or_insert_with(|| Value::Array(Vec::new()))
            {
                Value::Array(a) => a.push(v),
                _ => return Err(bad("field repeated")),
            }
        } else {
            m.insert(name.to_string(), v);
        }
    }
    Ok(m)
}

fn resource_attributes(b: &[u8]) -> Result<Value, ApiError> {
    Ok(Value::Object(strings(
        b,
        &[
            (1, "namespace"),
            (2, "verb"),
            (3, "group"),
            (4, "version"),
            (5, "resource"),
            (6, "subresource"),
            (7, "name"),
        ],
        &[],
    )?))
}

fn non_resource_attributes(b: &[u8]) -> Result<Value, ApiError> {
    Ok(Value::Object(strings(b, &[(1, "path"), (2, "verb")], &[])?))
}

/// `SubjectAccessReviewSpec` (and the self variant's first two fields).
fn access_spec(b: &[u8]) -> Result<Value, ApiError> {
    let mut spec = Map::new();
    let mut groups = Vec::new();
    let mut extra = Map::new();
    for (num, f) in fields(b)? {
        let Field::Bytes(v) = f else { continue };
        match num {
            1 => {
                spec.insert("resourceAttributes".into(), resource_attributes(v)?);
            }
            2 => {
                spec.insert("nonResourceAttributes".into(), non_resource_attributes(v)?);
            }
            3 => {
                spec.insert("user".into(), Value::String(text(v)?));
            }
            4 => groups.push(Value::String(text(v)?)),
            5 => {
                // map entry: key = 1, value = ExtraValue { items = 1 (repeated) }
                let mut key = String::new();
                let mut items = Vec::new();
                for (n, f) in fields(v)? {
                    match (n, f) {
                        (1, Field::Bytes(k)) => key = text(k)?,
                        (2, Field::Bytes(ev)) => {
                            for (_, item) in fields(ev)? {
                                if let Field::Bytes(i) = item {
                                    items.push(Value::String(text(i)?));
                                }
                            }
                        }
                        _ => {}
                    }
                }
                extra.insert(key, Value::Array(items));
            }
            6 => {
                spec.insert("uid".into(), Value::String(text(v)?));
            }
            _ => {}
        }
    }
    if !groups.is_empty() {
        spec.insert("groups".into(), Value::Array(groups));
    }
    if !extra.is_empty() {
        spec.insert("extra".into(), Value::Object(extra));
    }
    Ok(Value::Object(spec))
}

/// Converts a protobuf-encoded review to its JSON form; other kinds are a 415.
pub fn to_json(body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("the body does not start with the k8s protobuf envelope"))?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (num, f) in fields(rest)? {
        match (num, f) {
            (1, Field::Bytes(tm)) => {
                let m = strings(tm, &[(1, "apiVersion"), (2, "kind")], &[])?;
                api_version = m
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                kind = m
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
            }
            (2, Field::Bytes(r)) => raw = r,
            _ => {}
        }
    }
    let mut metadata = Map::new();
    let mut spec = Value::Object(Map::new());
    for (num, f) in fields(raw)? {
        let Field::Bytes(v) = f else { continue };
        match num {
            1 => metadata = strings(v, &[(1, "name"), (3, "namespace")], &[])?,
            2 => {
                spec = match kind.as_str() {
                    "SelfSubjectAccessReview"
                    | "SubjectAccessReview"
                    | "LocalSubjectAccessReview" => access_spec(v)?,
                    "SelfSubjectRulesReview" => {
                        Value::Object(strings(v, &[(1, "namespace")], &[])?)
                    }
                    // SelfSubjectReview: field 2 is its status, which a request does not need.
                    _ => Value::Object(Map::new()),
                }
            }
            _ => {}
        }
    }
    let obj = match kind.as_str() {
        "SelfSubjectAccessReview"
        | "SubjectAccessReview"
        | "LocalSubjectAccessReview"
        | "SelfSubjectRulesReview" => {
            json!({"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec})
        }
        "SelfSubjectReview" => {
            json!({"apiVersion": api_version, "kind": kind, "metadata": metadata})
        }
        _ => {
            return Err(ApiError::unsupported_media_type(&format!(
                "{PROTOBUF} for kind {kind:?}"
            )))
        }
    };
    serde_json::to_vec(&obj).map_err(|e| bad(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What kubectl 1.33 sends for `auth can-i get vmi --subresource vnc -n vm-prod`.
    const KUBECTL_SSAR: &[u8] = &[
        0x6b, 0x38, 0x73, 0x00, 0x0a, 0x32, 0x0a, 0x17, 0x61, 0x75, 0x74, 0x68, 0x6f, 0x72, 0x69,
        0x7a, 0x61, 0x74, 0x69, 0x6f, 0x6e, 0x2e, 0x6b, 0x38, 0x73, 0x2e, 0x69, 0x6f, 0x2f, 0x76,
        0x31, 0x12, 0x17, 0x53, 0x65, 0x6c, 0x66, 0x53, 0x75, 0x62, 0x6a, 0x65, 0x63, 0x74, 0x41,
        0x63, 0x63, 0x65, 0x73, 0x73, 0x52, 0x65, 0x76, 0x69, 0x65, 0x77, 0x12, 0x5d, 0x0a, 0x10,
        0x0a, 0x00, 0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42,
        0x00, 0x12, 0x3f, 0x0a, 0x3d, 0x0a, 0x07, 0x76, 0x6d, 0x2d, 0x70, 0x72, 0x6f, 0x64, 0x12,
        0x03, 0x67, 0x65, 0x74, 0x1a, 0x0b, 0x6b, 0x75, 0x62, 0x65, 0x76, 0x69, 0x72, 0x74, 0x2e,
        0x69, 0x6f, 0x22, 0x00, 0x2a, 0x17, 0x76, 0x69, 0x72, 0x74, 0x75, 0x61, 0x6c, 0x6d, 0x61,
        0x63, 0x68, 0x69, 0x6e, 0x65, 0x69, 0x6e, 0x73, 0x74, 0x61, 0x6e, 0x63, 0x65, 0x73, 0x32,
        0x03, 0x76, 0x6e, 0x63, 0x3a, 0x00, 0x1a, 0x08, 0x08, 0x00, 0x12, 0x00, 0x1a, 0x00, 0x20,
        0x00, 0x1a, 0x00, 0x22, 0x00,
    ];

    #[test]
    fn kubectl_ssar_decodes() {
        let v: Value = serde_json::from_slice(&to_json(KUBECTL_SSAR).unwrap()).unwrap();
        assert_eq!(v["kind"], "SelfSubjectAccessReview");
        let ra = &v["spec"]["resourceAttributes"];
        assert_eq!(ra["namespace"], "vm-prod");
        assert_eq!(ra["verb"], "get");
        assert_eq!(ra["group"], "kubevirt.io");
        assert_eq!(ra["resource"], "virtualmachineinstances");
        assert_eq!(ra["subresource"], "vnc");
        assert_eq!(ra["name"], "");
    }

    #[test]
    fn garbage_is_a_bad_request() {
        for body in [
            &b"nope"[..],
            b"k8s\0\x0a\xff",
            b"k8s\0\x0f",
            &KUBECTL_SSAR[..40],
        ] {
            let e = to_json(body).unwrap_err();
            assert!(e.code == 400 || e.code == 415, "{body:?}");
        }
    }

    #[test]
    fn subject_access_review_spec_fields() {
        // spec: user "u", groups "a","b", extra {"k": ["v"]}, uid "1", nonResourceAttributes {path "/x", verb "get"}
        let na = [0x0a, 0x02, b'/', b'x', 0x12, 0x03, b'g', b'e', b't'];
        let mut spec = vec![0x12, na.len() as u8];
        spec.extend_from_slice(&na);
        spec.extend_from_slice(&[0x1a, 0x01, b'u', 0x22, 0x01, b'a', 0x22, 0x01, b'b']);
        let ev = [0x0a, 0x01, b'v'];
        let mut entry = vec![0x0a, 0x01, b'k', 0x12, ev.len() as u8];
        entry.extend_from_slice(&ev);
        spec.push(0x2a);
        spec.push(entry.len() as u8);
        spec.extend_from_slice(&entry);
        spec.extend_from_slice(&[0x32, 0x01, b'1']);
        let mut raw = vec![0x12, spec.len() as u8];
        raw.extend_from_slice(&spec);
        let tm = [
            &[0x0a, 0x17][..],
            b"authorization.k8s.io/v1",
            &[0x12, 0x13],
            b"SubjectAccessReview",
        ]
        .concat();
        let mut body = b"k8s\0".to_vec();
        body.push(0x0a);
        body.push(tm.len() as u8);
        body.extend_from_slice(&tm);
        body.push(0x12);
        body.push(raw.len() as u8);
        body.extend_from_slice(&raw);
        let v: Value = serde_json::from_slice(&to_json(&body).unwrap()).unwrap();
        assert_eq!(v["spec"]["user"], "u");
        assert_eq!(v["spec"]["groups"], json!(["a", "b"]));
        assert_eq!(v["spec"]["extra"], json!({"k": ["v"]}));
        assert_eq!(v["spec"]["uid"], "1");
        assert_eq!(
            v["spec"]["nonResourceAttributes"],
            json!({"path": "/x", "verb": "get"})
        );
    }
}
