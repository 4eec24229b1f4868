//! What the facade answers: a complete HTTP response (status code, content type, body), or a
//! watch the network edge streams.

use serde::Serialize;

use crate::watch::WatchPlan;

/// `application/json`, the only serialization the facade writes.
pub const JSON: &str = "application/json";

/// A complete response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status code.
    pub code: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON body from a serializable value (a value that cannot be serialized becomes a 500
    /// `Status`; that is a defect, never input-driven).
    pub fn json<T: Serialize + ?Sized>(code: u16, value: &T) -> Reply {
        match serde_json::to_vec(value) {
            Ok(body) => Reply::raw_json(code, body),
            Err(e) => Reply::raw_json(
                500,
                format!(
                    "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Failure\",\"message\":{},\"reason\":\"InternalError\",\"code\":500}}",
                    serde_json::Value::String(format!("cannot encode the response: {e}"))
                )
                .into_bytes(),
            ),
        }
    }

    /// A JSON body already encoded.
    pub fn raw_json(code: u16, body: Vec<u8>) -> Reply {
        Reply {
            code,
            content_type: JSON,
            body,
        }
    }

    /// A plain-text body (health endpoints).
    pub fn text(code: u16, body: &str) -> Reply {
        Reply {
            code,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
        }
    }

    /// The body parsed as JSON (tests and logs).
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// The outcome of handling one request.
#[derive(Debug)]
pub enum Handled {
    /// Answer with this response.
    Reply(Reply),
    /// Stream a watch: first [`WatchPlan::initial`], then the changes of later reloads.
    Watch(Box<WatchPlan>),
}

impl From<Reply> for Handled {
    fn from(r: Reply) -> Self {
        Handled::Reply(r)
    }
}
