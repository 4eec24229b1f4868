//! A request in Cedar's JSON formats, for evaluation by another Cedar implementation (the
//! differential test runs `@cedar-policy/cedar-wasm` on it).

use cedar_policy::EntityUid;
use serde_json::{json, Value};

use crate::entities;
use crate::request::Request;

/// `{"type": "k8s::User", "id": "…"}`, Cedar's JSON form of an entity uid.
fn uid_json(uid: &EntityUid) -> Value {
    json!({
        "type": uid.type_name().to_string(),
        "id": uid.id().unescaped(),
    })
}

/// The Cedar request virtguard evaluates for `req`, in Cedar's JSON formats:
/// `{"principal", "action", "resource"}` as entity uids (`{"type": "k8s::User", "id": "…"}`),
/// `"context"` (the empty record) and `"entities"` (Cedar's entities JSON array, as
/// `cedar_policy::Entities::to_json_value` writes it).
///
/// This is exactly what [`crate::PolicySet::decide`] authorizes, so another Cedar
/// implementation given these and the same policies must reach the same Cedar decision.
/// The error is a message for a request that cannot be expressed in Cedar.
pub fn cedar_request_json(req: &Request) -> Result<Value, String> {
    let mapped = entities::map(req)?;
    let entities = mapped
        .entities
        .to_json_value()
        .map_err(|e| format!("entities to JSON: {e}"))?;
    Ok(json!({
        "principal": uid_json(&mapped.principal),
        "action": uid_json(&mapped.action),
        "resource": uid_json(&mapped.resource),
        "context": {},
        "entities": entities,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ResourceAttributes;

    #[test]
    fn uids_and_entities() {
        let req = Request {
            uid: "u-1".into(),
            ..Request::resource(
                "system:serviceaccount:tenant-a:runner",
                &["system:serviceaccounts"],
                ResourceAttributes {
                    verb: "get".into(),
                    version: "v1".into(),
                    resource: "secrets".into(),
                    namespace: "tenant-a".into(),
                    name: "db \"quoted\"".into(),
                    ..Default::default()
                },
            )
        };
        let v = cedar_request_json(&req).expect("maps");
        assert_eq!(
            v["principal"],
            json!({"type": "k8s::ServiceAccount", "id": "u-1"})
        );
        assert_eq!(v["action"], json!({"type": "k8s::Action", "id": "get"}));
        assert_eq!(
            v["resource"],
            json!({"type": "k8s::Resource", "id": "/api/v1/namespaces/tenant-a/secrets/db \"quoted\""})
        );
        assert_eq!(v["context"], json!({}));
        let entities = v["entities"].as_array().expect("entities array");
        assert_eq!(entities.len(), 3, "{entities:?}");
        // The JSON reads back into the same entities.
        let back = cedar_policy::Entities::from_json_value(v["entities"].clone(), None)
            .expect("entities JSON parses");
        assert_eq!(back.iter().count(), 3);
    }
}
