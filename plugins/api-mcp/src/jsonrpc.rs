//! JSON-RPC 2.0 as MCP uses it: one message per HTTP request (MCP
//! 2025-06-18 dropped batches), ids that are strings or numbers (never
//! null), and the error codes of the specification.

use serde_json::{Map, Value, json};

/// The body is not JSON.
pub const PARSE_ERROR: i64 = -32700;
/// JSON, but not a JSON-RPC message MCP accepts.
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// The transport's own refusals (a header missing or wrong), as the
/// reference SDKs send them.
pub const BAD_TRANSPORT: i64 = -32000;
/// The session named by `Mcp-Session-Id` does not exist (any more).
pub const SESSION_NOT_FOUND: i64 = -32001;

/// A message from the client.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A call that wants an answer, under `id` (a string or a number).
    Request {
        id: Value,
        method: String,
        params: Params,
    },
    Notification {
        method: String,
        params: Params,
    },
    /// The client's answer to a request of the server's (this server sends
    /// none, so it is only acknowledged).
    Response,
}

/// A message's `params`: MCP's are always named (an object); absent is empty.
pub type Params = Map<String, Value>;

/// A JSON-RPC error, answered to the request `id` (null when the message
/// was too broken to have one).
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub code: i64,
    pub message: String,
}

impl Error {
    pub fn new(code: i64, message: impl Into<String>) -> Error {
        Error {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_params(message: impl Into<String>) -> Error {
        Error::new(INVALID_PARAMS, message)
    }

    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(INTERNAL_ERROR, message)
    }

    /// The error response to the request `id`.
    pub fn to_response(&self, id: &Value) -> Value {
        json!({
            "jsonrpc": "2.0",
            "id": id,
            "error": { "code": self.code, "message": self.message },
        })
    }
}

/// A message the server could not take, with the id to answer it under
/// (null unless the message had a valid one).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub id: Value,
    pub error: Error,
}

impl Rejected {
    fn new(id: Value, code: i64, message: impl Into<String>) -> Rejected {
        Rejected {
            id,
            error: Error::new(code, message),
        }
    }

    pub fn to_response(&self) -> Value {
        self.error.to_response(&self.id)
    }
}

/// Parses one HTTP request body into a message.
pub fn parse(body: &[u8]) -> Result<Message, Rejected> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Rejected::new(
            Value::Null,
            PARSE_ERROR,
            format!("the body is not JSON: {e}"),
        )
    })?;
    let mut fields = match value {
        Value::Object(fields) => fields,
        Value::Array(_) => {
            return Err(Rejected::new(
                Value::Null,
                INVALID_REQUEST,
                "batches are not supported: send one JSON-RPC message per request (MCP 2025-06-18)",
            ));
        }
        _ => {
            return Err(Rejected::new(
                Value::Null,
                INVALID_REQUEST,
                "a JSON-RPC message is a JSON object",
            ));
        }
    };
    // An id that is usable is echoed in the error, so that the client can
    // match it to its request.
    let id = match fields.remove("id") {
        None => None,
        Some(id @ (Value::String(_) | Value::Number(_))) => Some(id),
        Some(_) => {
            return Err(Rejected::new(
                Value::Null,
                INVALID_REQUEST,
                "`id` must be a string or a number",
            ));
        }
    };
    let reject =
        |message: &str| Rejected::new(id.clone().unwrap_or(Value::Null), INVALID_REQUEST, message);
    if fields.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(reject("`jsonrpc` must be \"2.0\""));
    }
    let method = match fields.remove("method") {
        Some(Value::String(method)) => method,
        Some(_) => return Err(reject("`method` must be a string")),
        None if id.is_some() && (fields.contains_key("result") || fields.contains_key("error")) => {
            return Ok(Message::Response);
        }
        None => return Err(reject("the message has no `method`")),
    };
    let params = match fields.remove("params") {
        None => Map::new(),
        Some(Value::Object(params)) => params,
        Some(_) => return Err(reject("`params` must be an object")),
    };
    Ok(match id {
        Some(id) => Message::Request { id, method, params },
        None => Message::Notification { method, params },
    })
}

/// The result response to the request `id`.
pub fn result(id: &Value, result: Value) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "result": result })
}

/// A notification from the server.
pub fn notification(method: &str, params: Value) -> Value {
    json!({ "jsonrpc": "2.0", "method": method, "params": params })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(body: &str) -> (Value, i64) {
        let r = parse(body.as_bytes()).unwrap_err();
        (r.id, r.error.code)
    }

    #[test]
    fn requests_notifications_and_responses() {
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap(),
            Message::Request {
                id: json!(1),
                method: "tools/list".into(),
                params: Map::new()
            }
        );
        let Message::Request { id, params, .. } =
            parse(br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x"}}"#)
                .unwrap()
        else {
            panic!("not a request");
        };
        assert_eq!((id, params["name"].clone()), (json!("a"), json!("x")));
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).unwrap(),
            Message::Notification {
                method: "notifications/initialized".into(),
                params: Map::new()
            }
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":7,"result":{}}"#).unwrap(),
            Message::Response
        );
        assert_eq!(
            parse(br#"{"jsonrpc":"2.0","id":7,"error":{"code":1,"message":"x"}}"#).unwrap(),
            Message::Response
        );
    }

    #[test]
    fn broken_messages() {
        assert_eq!(rejected("{not json"), (Value::Null, PARSE_ERROR));
        assert_eq!(rejected(""), (Value::Null, PARSE_ERROR));
        assert_eq!(
            rejected(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#),
            (Value::Null, INVALID_REQUEST)
        );
        assert_eq!(rejected("42"), (Value::Null, INVALID_REQUEST));
        // A null, boolean or object id is no id.
        for id in ["null", "true", "{}", "[1]"] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"ping"}}"#);
            assert_eq!(rejected(&body), (Value::Null, INVALID_REQUEST), "{body}");
        }
        // With a good id, the error is answered under it.
        assert_eq!(
            rejected(r#"{"jsonrpc":"1.0","id":3,"method":"ping"}"#),
            (json!(3), INVALID_REQUEST)
        );
        assert_eq!(
            rejected(r#"{"id":3,"method":"ping"}"#),
            (json!(3), INVALID_REQUEST)
        );
        assert_eq!(
            rejected(r#"{"jsonrpc":"2.0","id":"x","method":5}"#),
            (json!("x"), INVALID_REQUEST)
        );
        assert_eq!(
            rejected(r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[1]}"#),
            (json!(1), INVALID_REQUEST)
        );
        assert_eq!(
            rejected(r#"{"jsonrpc":"2.0","id":1}"#),
            (json!(1), INVALID_REQUEST)
        );
        // A result without an id answers nothing.
        assert_eq!(
            rejected(r#"{"jsonrpc":"2.0","result":{}}"#),
            (Value::Null, INVALID_REQUEST)
        );
    }

    #[test]
    fn encodes_messages() {
        assert_eq!(
            result(&json!(1), json!({})),
            json!({"jsonrpc": "2.0", "id": 1, "result": {}})
        );
        assert_eq!(
            Error::new(METHOD_NOT_FOUND, "no").to_response(&json!("a")),
            json!({"jsonrpc": "2.0", "id": "a", "error": {"code": -32601, "message": "no"}})
        );
        assert_eq!(
            notification("notifications/progress", json!({"progress": 1})),
            json!({"jsonrpc": "2.0", "method": "notifications/progress", "params": {"progress": 1}})
        );
    }
}
