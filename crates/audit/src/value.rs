//! Small helpers to read dynamic objects (JSON values) without panicking on odd shapes.

use serde_json::Value;
use virtguard_snapshot::Object;

use crate::finding::ObjectRef;

/// The reference to a snapshot object, with its source.
pub fn object_ref(o: &Object) -> ObjectRef {
    ObjectRef {
        kind: o.kind.clone(),
        name: o.name.clone(),
        namespace: o.namespace.clone(),
        file: o.source.file.to_string(),
        line: o.source.line,
    }
}

/// The string at a JSON pointer.
pub fn str_at<'v>(v: &'v Value, ptr: &str) -> Option<&'v str> {
    v.pointer(ptr).and_then(Value::as_str)
}

/// The array at a JSON pointer (empty when absent or not an array).
pub fn array_at<'v>(v: &'v Value, ptr: &str) -> &'v [Value] {
    v.pointer(ptr)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The strings of an array at a JSON pointer.
pub fn strings_at(v: &Value, ptr: &str) -> Vec<String> {
    array_at(v, ptr)
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

/// A boolean (also `"true"` as a string) at a JSON pointer.
pub fn bool_at(v: &Value, ptr: &str) -> Option<bool> {
    match v.pointer(ptr)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}
