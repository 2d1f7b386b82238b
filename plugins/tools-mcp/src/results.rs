//! MCP's shapes as the node's: a `tools/list` entry as a tool spec, a
//! `tools/call` answer as a tool's result or error.
//!
//! A call's result is its `structuredContent` when the server gave one;
//! otherwise `{"text": <the text blocks, joined by newlines>}`, with the
//! other blocks (images, audio, resources) as they came under `"content"`
//! when there are any. An object either way, so the node's own MCP server
//! and API clients get it as structured content too.

use crate::jsonrpc::{INVALID_PARAMS, RpcError};
use hanzo_node_sdk::tool::{ToolError, ToolSpec};
use serde_json::{Map, Value, json};

/// The node's spec of a server's tool (an entry of `tools/list`), under the
/// node's `name` for it: the description (else the title), `inputSchema`
/// as the parameters and `outputSchema`, when it describes an object, as
/// the result.
pub fn spec(name: String, tool: &Value) -> Result<ToolSpec, String> {
    let description = ["description", "title"]
        .iter()
        .find_map(|key| tool.get(key).and_then(Value::as_str))
        .unwrap_or_default()
        .to_string();
    let parameters = match tool.get("inputSchema") {
        Some(schema @ Value::Object(fields)) if fields.get("type") == Some(&json!("object")) => {
            schema
        }
        Some(_) => return Err("its inputSchema is not a schema of type object".into()),
        None => return Err("it has no inputSchema".into()),
    };
    let result = match tool.get("outputSchema") {
        None | Some(Value::Null) => None,
        Some(schema @ Value::Object(fields)) if fields.get("type") == Some(&json!("object")) => {
            Some(schema.to_string())
        }
        Some(_) => return Err("its outputSchema is not a schema of type object".into()),
    };
    Ok(ToolSpec {
        name,
        description,
        parameters: parameters.to_string(),
        result,
    })
}

/// The result of `tools/call` of tool `tool`: the node's result (JSON text),
/// or the error an `isError` result is.
pub fn call_result(result: &Value, tool: &str) -> Result<String, ToolError> {
    let blocks = result
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let text = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join("\n");
    if result.get("isError") == Some(&Value::Bool(true)) {
        if says_unknown_tool(&text, tool) {
            return Err(ToolError::NotFound(text));
        }
        return Err(ToolError::Failed(if text.is_empty() {
            format!("tool `{tool}` failed without saying why")
        } else {
            text
        }));
    }
    if let Some(structured) = result.get("structuredContent").filter(|v| !v.is_null()) {
        return Ok(structured.to_string());
    }
    let mut value = Map::new();
    value.insert("text".into(), Value::String(text));
    let others: Vec<Value> = blocks
        .iter()
        .filter(|b| b["type"] != "text")
        .cloned()
        .collect();
    if !others.is_empty() {
        value.insert("content".into(), Value::Array(others));
    }
    Ok(Value::Object(value).to_string())
}

/// The error a JSON-RPC error answer to `tools/call` of `tool` is: an
/// unknown tool is not found, other bad params are bad arguments.
pub fn call_error(error: &RpcError, tool: &str) -> ToolError {
    match error.code {
        INVALID_PARAMS if says_unknown_tool(&error.message, tool) => {
            ToolError::NotFound(error.message.clone())
        }
        INVALID_PARAMS => ToolError::InvalidArguments(error.message.clone()),
        _ => ToolError::Failed(error.to_string()),
    }
}

/// Whether a server's message says it has no tool `tool`, in the words of
/// the reference SDKs ("Unknown tool: x" from Python's, "Tool x not found"
/// from TypeScript's, perhaps behind "MCP error -32602: ") or this node's
/// ("no tool named `x`").
fn says_unknown_tool(message: &str, tool: &str) -> bool {
    let message = message.trim();
    let message = match message.strip_prefix("MCP error ") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, m)| m),
        None => message,
    };
    let lower = message.to_ascii_lowercase();
    lower == format!("unknown tool: {}", tool.to_ascii_lowercase())
        || message == format!("Tool {tool} not found")
        || message.starts_with(&format!("no tool named `{tool}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_carry_the_schemas_over() {
        let tool = json!({
            "name": "add", "description": "Adds two integers.",
            "inputSchema": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
            "outputSchema": {"type": "object", "properties": {"result": {"type": "integer"}}},
        });
        let s = spec("py__add".into(), &tool).unwrap();
        assert_eq!(s.name, "py__add");
        assert_eq!(s.description, "Adds two integers.");
        let parameters: Value = serde_json::from_str(&s.parameters).unwrap();
        assert_eq!(parameters, tool["inputSchema"]);
        let result: Value = serde_json::from_str(s.result.as_deref().unwrap()).unwrap();
        assert_eq!(result, tool["outputSchema"]);

        let titled = json!({"name": "x", "title": "The X", "inputSchema": {"type": "object"}});
        let s = spec("x".into(), &titled).unwrap();
        assert_eq!((s.description.as_str(), s.result), ("The X", None));
        let bare = json!({"name": "x", "inputSchema": {"type": "object"}, "outputSchema": null});
        assert_eq!(spec("x".into(), &bare).unwrap().description, "");

        for bad in [
            json!({"name": "x"}),
            json!({"name": "x", "inputSchema": {"type": "string"}}),
            json!({"name": "x", "inputSchema": {"properties": {}}}),
            json!({"name": "x", "inputSchema": "object"}),
            json!({"name": "x", "inputSchema": {"type": "object"}, "outputSchema": {"type": "array"}}),
        ] {
            assert!(spec("x".into(), &bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn structured_content_else_the_text() {
        let structured = json!({"content": [{"type": "text", "text": "5"}], "structuredContent": {"result": 5}, "isError": false});
        assert_eq!(call_result(&structured, "add").unwrap(), r#"{"result":5}"#);
        let text =
            json!({"content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "there"}]});
        assert_eq!(
            call_result(&text, "echo").unwrap(),
            r#"{"text":"hi\nthere"}"#
        );
        let mixed = json!({"content": [
            {"type": "image", "data": "AAAA", "mimeType": "image/png"},
            {"type": "text", "text": "a picture"}
        ]});
        let value: Value = serde_json::from_str(&call_result(&mixed, "draw").unwrap()).unwrap();
        assert_eq!(
            value,
            json!({"text": "a picture", "content": [{"type": "image", "data": "AAAA", "mimeType": "image/png"}]})
        );
        assert_eq!(call_result(&json!({}), "quiet").unwrap(), r#"{"text":""}"#);
    }

    #[test]
    fn errors_by_kind() {
        let failed = json!({"content": [{"type": "text", "text": "disk full"}], "isError": true});
        assert_eq!(
            call_result(&failed, "write"),
            Err(ToolError::Failed("disk full".into()))
        );
        let silent = json!({"content": [], "isError": true});
        assert!(
            matches!(call_result(&silent, "write"), Err(ToolError::Failed(m)) if m.contains("without"))
        );
        for gone in [
            "Unknown tool: write",
            "MCP error -32602: Tool write not found",
            "Tool write not found",
        ] {
            let result = json!({"content": [{"type": "text", "text": gone}], "isError": true});
            assert!(
                matches!(call_result(&result, "write"), Err(ToolError::NotFound(_))),
                "{gone}"
            );
        }
        // A failure that merely mentions the name is a failure.
        let other = json!({"content": [{"type": "text", "text": "File not found: write.txt"}], "isError": true});
        assert!(matches!(
            call_result(&other, "write"),
            Err(ToolError::Failed(_))
        ));

        let rpc = |code, message: &str| RpcError {
            code,
            message: message.into(),
        };
        assert!(matches!(
            call_error(&rpc(-32602, "no tool named `write`"), "write"),
            ToolError::NotFound(_)
        ));
        assert_eq!(
            call_error(&rpc(-32602, "Invalid arguments: a is required"), "write"),
            ToolError::InvalidArguments("Invalid arguments: a is required".into())
        );
        assert_eq!(
            call_error(&rpc(-32603, "boom"), "write"),
            ToolError::Failed("boom (JSON-RPC error -32603)".into())
        );
    }
}
