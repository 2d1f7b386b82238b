//! JSON-RPC 2.0 as an MCP client speaks it: its requests and
//! notifications out, the server's messages in, told apart.

use serde_json::{Value, json};
use std::fmt;

/// Bad params; MCP's answer to an unknown tool, too.
pub const INVALID_PARAMS: i64 = -32602;

/// A request: `id` is a string, unique within the session.
pub fn request(id: &str, method: &str, params: Value) -> Vec<u8> {
    json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
        .to_string()
        .into_bytes()
}

/// A notification (no answer comes).
pub fn notification(method: &str) -> Vec<u8> {
    json!({ "jsonrpc": "2.0", "method": method })
        .to_string()
        .into_bytes()
}

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (JSON-RPC error {})", self.message, self.code)
    }
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// The answer to the request `id` (null when the server could not read
    /// the request's).
    Response {
        id: Value,
        outcome: Result<Value, RpcError>,
    },
    Notification {
        method: String,
    },
    /// A request of the server's (sampling, roots, elicitation, ping): this
    /// client declares no capability to answer one.
    Request {
        method: String,
    },
}

/// Reads one message.
pub fn parse(message: &Value) -> Result<Incoming, String> {
    let Some(fields) = message.as_object() else {
        return Err("a JSON-RPC message is a JSON object".into());
    };
    if fields.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err("the message's `jsonrpc` is not \"2.0\"".into());
    }
    if let Some(method) = fields.get("method") {
        let method = method
            .as_str()
            .ok_or("the message's `method` is not a string")?
            .to_string();
        return Ok(match fields.get("id") {
            None => Incoming::Notification { method },
            Some(_) => Incoming::Request { method },
        });
    }
    let id = fields.get("id").cloned().unwrap_or(Value::Null);
    let outcome = match (fields.get("result"), fields.get("error")) {
        (Some(result), None) => Ok(result.clone()),
        (None, Some(error)) => Err(RpcError {
            code: error
                .get("code")
                .and_then(Value::as_i64)
                .ok_or("the error has no integer `code`")?,
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        }),
        _ => return Err("the message has no `method` and not one of `result` and `error`".into()),
    };
    Ok(Incoming::Response { id, outcome })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Incoming, String> {
        parse(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn encodes_requests_and_notifications() {
        let r: Value = serde_json::from_slice(&request("hn-1", "tools/list", json!({}))).unwrap();
        assert_eq!(
            r,
            json!({"jsonrpc": "2.0", "id": "hn-1", "method": "tools/list", "params": {}})
        );
        let n: Value = serde_json::from_slice(&notification("notifications/initialized")).unwrap();
        assert_eq!(
            n,
            json!({"jsonrpc": "2.0", "method": "notifications/initialized"})
        );
    }

    #[test]
    fn tells_messages_apart() {
        assert_eq!(
            read(r#"{"jsonrpc":"2.0","id":"a","result":{"tools":[]}}"#),
            Ok(Incoming::Response {
                id: json!("a"),
                outcome: Ok(json!({"tools": []}))
            })
        );
        assert_eq!(
            read(
                r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Session not found"}}"#
            ),
            Ok(Incoming::Response {
                id: Value::Null,
                outcome: Err(RpcError {
                    code: -32600,
                    message: "Session not found".into()
                })
            })
        );
        assert_eq!(
            read(r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#),
            Ok(Incoming::Notification {
                method: "notifications/tools/list_changed".into()
            })
        );
        assert_eq!(
            read(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#),
            Ok(Incoming::Request {
                method: "ping".into()
            })
        );
    }

    #[test]
    fn broken_messages() {
        for text in [
            "[]",
            r#"{"id":1,"result":{}}"#,
            r#"{"jsonrpc":"1.0","id":1,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1}}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"message":"no code"}}"#,
            r#"{"jsonrpc":"2.0","method":7}"#,
        ] {
            assert!(read(text).is_err(), "{text}");
        }
        assert_eq!(
            RpcError {
                code: -32602,
                message: "bad".into()
            }
            .to_string(),
            "bad (JSON-RPC error -32602)"
        );
    }
}
