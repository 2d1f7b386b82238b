//! The node's tools as MCP shows them: the entries of `tools/list` and the
//! results of `tools/call`.

use crate::jsonrpc::{Error, Params};
use hanzo_node_sdk::tools::{ToolError, ToolInfo};
use serde_json::{Value, json};

/// The node's tool catalog, as the server needs it. The host's lists only
/// the tools of the caller's tenant, and runs no other.
pub trait Catalog {
    fn list(&self) -> Result<Vec<ToolInfo>, ToolError>;
    /// Runs tool `name` with `arguments` (JSON text); the result is JSON text.
    fn invoke(&self, name: &str, arguments: &str) -> Result<String, ToolError>;
}

/// The result of `tools/list`: every tool an MCP client can call.
pub fn list(catalog: &impl Catalog) -> Result<Value, Error> {
    let tools = catalog.list().map_err(|e| Error::internal(message(&e)))?;
    let tools: Vec<Value> = tools.iter().filter_map(describe).collect();
    Ok(json!({ "tools": tools }))
}

/// A tool as MCP lists it: name, description, `inputSchema` and, when the
/// tool declares an object result, `outputSchema`. MCP's arguments are
/// always an object, so a tool whose parameters are something else cannot
/// be called over MCP and is not listed.
pub fn describe(info: &ToolInfo) -> Option<Value> {
    let mut tool = json!({
        "name": info.spec.name,
        "description": info.spec.description,
        "inputSchema": input_schema(&info.spec.parameters)?,
    });
    if let Some(output) = info.spec.result.as_deref().and_then(output_schema) {
        tool["outputSchema"] = output;
    }
    Some(tool)
}

/// The parameter schema with `"type": "object"` at its root, as MCP requires:
/// added where the schema leaves the type open (arguments are an object
/// anyway), kept where it allows objects among other types. None when the
/// schema allows no object.
fn input_schema(text: &str) -> Option<Value> {
    match serde_json::from_str(text).ok()? {
        Value::Bool(true) => Some(json!({ "type": "object" })),
        Value::Object(mut schema) => {
            let allows_object = match schema.get("type") {
                None => true,
                Some(Value::String(t)) => t == "object",
                Some(Value::Array(types)) => types.iter().any(|t| t == "object"),
                Some(_) => false,
            };
            allows_object.then(|| {
                schema.insert("type".into(), json!("object"));
                Value::Object(schema)
            })
        }
        _ => None,
    }
}

/// The result schema, when its root is an object: MCP's `outputSchema`
/// describes `structuredContent`, which is always an object.
fn output_schema(text: &str) -> Option<Value> {
    let schema: Value = serde_json::from_str(text).ok()?;
    (schema["type"] == "object").then_some(schema)
}

/// The params of `tools/call`.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: String,
    /// A JSON object.
    pub arguments: Value,
}

impl Call {
    pub fn parse(params: &Params) -> Result<Call, Error> {
        let name = match params.get("name") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            _ => return Err(Error::invalid_params("`name` must be a tool's name")),
        };
        // A tool without parameters may be called without arguments.
        let arguments = match params.get("arguments") {
            None | Some(Value::Null) => json!({}),
            Some(arguments @ Value::Object(_)) => arguments.clone(),
            Some(_) => return Err(Error::invalid_params("`arguments` must be an object")),
        };
        Ok(Call { name, arguments })
    }
}

/// Runs `call`: the `tools/call` result, an error result (`isError`) when
/// the tool refused its arguments or failed, so that the model sees what
/// went wrong; a protocol error for an unknown tool (-32602, as the
/// specification's example) or a plugin not granted the tools.
pub fn call(catalog: &impl Catalog, call: &Call) -> Result<Value, Error> {
    match catalog.invoke(&call.name, &call.arguments.to_string()) {
        Ok(text) => Ok(success(&call.name, &text)),
        Err(ToolError::NotFound(m)) => Err(Error::invalid_params(m)),
        Err(e @ ToolError::Denied(_)) => Err(Error::internal(message(&e))),
        Err(e) => Ok(failure(&message(&e))),
    }
}

/// A tool's result: as text, and as `structuredContent` when it is an object.
fn success(name: &str, text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => json!({
            "content": [text_content(&value.to_string())],
            "structuredContent": value,
        }),
        Ok(Value::String(s)) => json!({ "content": [text_content(&s)] }),
        Ok(other) => json!({ "content": [text_content(&other.to_string())] }),
        Err(e) => failure(&format!("tool `{name}` returned invalid JSON: {e}")),
    }
}

fn failure(message: &str) -> Value {
    json!({ "content": [text_content(message)], "isError": true })
}

fn text_content(text: &str) -> Value {
    json!({ "type": "text", "text": text })
}

/// A tool error in words.
fn message(e: &ToolError) -> String {
    match e {
        ToolError::NotFound(m) | ToolError::Failed(m) | ToolError::Denied(m) => m.clone(),
        ToolError::InvalidArguments(m) => format!("invalid arguments: {m}"),
        ToolError::PluginFailed(m) => format!("the tool's plugin failed: {m}"),
    }
}

/// Canned tools for tests.
#[cfg(test)]
pub mod fake {
    use super::*;
    use hanzo_node_sdk::tools::ToolSpec;

    pub fn info(name: &str, parameters: &str, result: Option<&str>) -> ToolInfo {
        ToolInfo {
            plugin: "tools-basic".into(),
            spec: ToolSpec {
                name: name.into(),
                description: format!("The {name} tool"),
                parameters: parameters.into(),
                result: result.map(str::to_string),
            },
        }
    }

    /// `calculator` (4 for anything but "1/0"), `echo` (its arguments'
    /// `text`, a string result), and tools that break in each way.
    pub struct FakeTools;

    pub const CALCULATOR_PARAMS: &str = r#"{"type":"object","properties":{"expression":{"type":"string"}},"required":["expression"]}"#;

    impl Catalog for FakeTools {
        fn list(&self) -> Result<Vec<ToolInfo>, ToolError> {
            Ok(vec![
                info(
                    "calculator",
                    CALCULATOR_PARAMS,
                    Some(r#"{"type":"object","properties":{"value":{"type":"number"}}}"#),
                ),
                info("echo", "{}", Some(r#"{"type":"string"}"#)),
                info("scalar", r#"{"type":"string"}"#, None),
            ])
        }

        fn invoke(&self, name: &str, arguments: &str) -> Result<String, ToolError> {
            let args: Value = serde_json::from_str(arguments).unwrap();
            match name {
                "calculator" if args.get("expression").is_none() => Err(
                    ToolError::InvalidArguments("missing property `expression`".into()),
                ),
                "calculator" if args["expression"] == "1/0" => {
                    Err(ToolError::Failed("division by zero".into()))
                }
                "calculator" => Ok(r#"{"value":4}"#.into()),
                "echo" => Ok(json!(args["text"]).to_string()),
                "broken" => Ok("not json".into()),
                "trap" => Err(ToolError::PluginFailed("plugin trapped".into())),
                "ungranted" => Err(ToolError::Denied(
                    "plugin `api-mcp` is not granted `permissions.tools`".into(),
                )),
                _ => Err(ToolError::NotFound(format!("no tool named `{name}`"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{CALCULATOR_PARAMS, FakeTools, info};
    use super::*;
    use crate::jsonrpc::INVALID_PARAMS;

    fn params(value: Value) -> Params {
        value.as_object().unwrap().clone()
    }

    fn run(name: &str, arguments: Value) -> Result<Value, Error> {
        call(
            &FakeTools,
            &Call {
                name: name.into(),
                arguments,
            },
        )
    }

    #[test]
    fn lists_the_tools_mcp_can_call() {
        let listed = list(&FakeTools).unwrap();
        let tools = listed["tools"].as_array().unwrap();
        // `scalar` takes a string: no MCP call can give it one.
        assert_eq!(tools.len(), 2, "{listed}");
        assert_eq!(
            tools[0],
            json!({
                "name": "calculator",
                "description": "The calculator tool",
                "inputSchema": serde_json::from_str::<Value>(CALCULATOR_PARAMS).unwrap(),
                "outputSchema": {"type": "object", "properties": {"value": {"type": "number"}}},
            })
        );
        // An open schema gets its object type; a string result has no outputSchema.
        assert_eq!(
            tools[1],
            json!({"name": "echo", "description": "The echo tool", "inputSchema": {"type": "object"}})
        );
    }

    #[test]
    fn input_schemas_become_object_schemas() {
        let cases = [
            ("true", Some(json!({"type": "object"}))),
            (
                r#"{"properties":{"a":{}}}"#,
                Some(json!({"type": "object", "properties": {"a": {}}})),
            ),
            (
                r#"{"type":["object","null"]}"#,
                Some(json!({"type": "object"})),
            ),
            (r#"{"type":"array"}"#, None),
            (r#"{"type":["string","null"]}"#, None),
            (r#"{"type":5}"#, None),
            ("false", None),
            ("[]", None),
            ("not json", None),
        ];
        for (schema, expected) in cases {
            assert_eq!(input_schema(schema), expected, "{schema}");
        }
        let listed = describe(&info("t", "{}", Some("not json"))).unwrap();
        assert!(listed.get("outputSchema").is_none(), "{listed}");
    }

    #[test]
    fn call_params() {
        assert_eq!(
            Call::parse(&params(
                json!({"name": "calculator", "arguments": {"expression": "1"}})
            )),
            Ok(Call {
                name: "calculator".into(),
                arguments: json!({"expression": "1"})
            })
        );
        for missing in [
            json!({"name": "noop"}),
            json!({"name": "noop", "arguments": null}),
        ] {
            assert_eq!(Call::parse(&params(missing)).unwrap().arguments, json!({}));
        }
        for bad in [
            json!({}),
            json!({"name": ""}),
            json!({"name": 5}),
            json!({"name": "x", "arguments": [1]}),
            json!({"name": "x", "arguments": "{}"}),
        ] {
            let e = Call::parse(&params(bad.clone())).unwrap_err();
            assert_eq!(e.code, INVALID_PARAMS, "{bad}");
        }
    }

    #[test]
    fn results_as_text_and_structured_content() {
        assert_eq!(
            run("calculator", json!({"expression": "2+2"})).unwrap(),
            json!({
                "content": [{"type": "text", "text": "{\"value\":4}"}],
                "structuredContent": {"value": 4},
            })
        );
        // Not an object: text only, a string as itself.
        assert_eq!(
            run("echo", json!({"text": "hi"})).unwrap(),
            json!({"content": [{"type": "text", "text": "hi"}]})
        );
        assert_eq!(
            run("echo", json!({})).unwrap(),
            json!({"content": [{"type": "text", "text": "null"}]})
        );
    }

    #[test]
    fn tool_failures_are_error_results() {
        let cases = [
            (
                "calculator",
                json!({}),
                "invalid arguments: missing property `expression`",
            ),
            (
                "calculator",
                json!({"expression": "1/0"}),
                "division by zero",
            ),
            (
                "trap",
                json!({}),
                "the tool's plugin failed: plugin trapped",
            ),
            ("broken", json!({}), "tool `broken` returned invalid JSON"),
        ];
        for (name, arguments, text) in cases {
            let r = run(name, arguments).unwrap();
            assert_eq!(r["isError"], true, "{r}");
            let got = r["content"][0]["text"].as_str().unwrap();
            assert!(got.starts_with(text), "{name}: {got}");
            assert!(r.get("structuredContent").is_none());
        }
    }

    #[test]
    fn unknown_tools_and_missing_grants_are_protocol_errors() {
        let e = run("nope", json!({})).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            (INVALID_PARAMS, "no tool named `nope`")
        );
        let e = run("ungranted", json!({})).unwrap_err();
        assert_eq!(e.code, crate::jsonrpc::INTERNAL_ERROR);
        assert!(e.message.contains("permissions.tools"), "{}", e.message);
    }
}
