//! `/v2/tools`: list, describe and execute the node's tools.

use super::{HostNode, Reply, Request, read_json};
use hanzo_node_sdk::api::BodyError;
use hanzo_node_sdk::tools::{self, ToolError, ToolInfo};
use serde_json::{Value, json};

/// The node's tool catalog, as the handlers need it.
pub trait Catalog {
    fn list(&self) -> Result<Vec<ToolInfo>, ToolError>;
    fn get(&self, name: &str) -> Result<Option<ToolInfo>, ToolError>;
    fn invoke(&self, name: &str, arguments: &str) -> Result<String, ToolError>;
}

/// The catalog of the host (`hanzo:node/tools`).
impl Catalog for HostNode {
    fn list(&self) -> Result<Vec<ToolInfo>, ToolError> {
        tools::list()
    }

    fn get(&self, name: &str) -> Result<Option<ToolInfo>, ToolError> {
        tools::get(name)
    }

    fn invoke(&self, name: &str, arguments: &str) -> Result<String, ToolError> {
        tools::invoke(name, arguments)
    }
}

/// Answers a request under `/v2/tools`; `rest` holds the decoded path
/// segments after it.
pub fn route(
    catalog: &impl Catalog,
    request: &Request,
    rest: &[&str],
    read_body: impl FnOnce() -> Result<Vec<u8>, BodyError>,
) -> Reply {
    let method = request.method;
    match rest {
        ["list"] => match method {
            "GET" => list(catalog),
            _ => Reply::method_not_allowed(method, "GET"),
        },
        ["execute"] => match method {
            "POST" => match read_json(read_body) {
                Ok(body) => execute(catalog, body),
                Err(reply) => reply,
            },
            _ => Reply::method_not_allowed(method, "POST"),
        },
        [name] => match method {
            "GET" => describe(catalog, name),
            _ => Reply::method_not_allowed(method, "GET"),
        },
        _ => Reply::not_found(request.path),
    }
}

/// A tool as the API shows it.
pub fn tool_json(info: &ToolInfo) -> Value {
    // The host validated these schemas when it loaded the plugin; should one
    // still not parse, show the text rather than hide the tool.
    let schema = |text: &str| serde_json::from_str(text).unwrap_or_else(|_| json!(text));
    json!({
        "name": info.spec.name,
        "description": info.spec.description,
        "plugin": info.plugin,
        "parameters": schema(&info.spec.parameters),
        "result": info.spec.result.as_deref().map(schema),
    })
}

fn list(catalog: &impl Catalog) -> Reply {
    match catalog.list() {
        Ok(tools) => {
            let tools: Vec<Value> = tools.iter().map(tool_json).collect();
            Reply::ok(json!({ "tools": tools }))
        }
        Err(e) => error(e),
    }
}

fn describe(catalog: &impl Catalog, name: &str) -> Reply {
    match catalog.get(name) {
        Ok(Some(info)) => Reply::ok(tool_json(&info)),
        Ok(None) => Reply::error(404, "tool_not_found", format!("no tool named `{name}`")),
        Err(e) => error(e),
    }
}

/// The reply for a failed host call.
pub fn error(e: ToolError) -> Reply {
    match e {
        ToolError::InvalidArguments(m) => Reply::error(400, "invalid_arguments", m),
        ToolError::NotFound(m) => Reply::error(404, "tool_not_found", m),
        ToolError::Failed(m) => Reply::error(422, "tool_failed", m),
        ToolError::PluginFailed(m) => Reply::error(502, "tool_plugin_failed", m),
        ToolError::Denied(m) => Reply::error(403, "forbidden", m),
    }
}

fn execute(catalog: &impl Catalog, request: Value) -> Reply {
    let Value::Object(fields) = request else {
        return Reply::error(400, "invalid_request", "the body must be a JSON object");
    };
    let tool = match fields.get("tool") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        Some(_) => {
            return Reply::error(400, "invalid_request", "`tool` must be a non-empty string");
        }
        None => return Reply::error(400, "invalid_request", "missing field `tool`"),
    };
    // Tools without parameters may be called without `arguments`.
    let arguments = match fields.get("arguments") {
        None => json!({}),
        Some(value @ Value::Object(_)) => value.clone(),
        Some(_) => {
            return Reply::error(400, "invalid_request", "`arguments` must be a JSON object");
        }
    };
    match catalog.invoke(&tool, &arguments.to_string()) {
        Ok(text) => match serde_json::from_str::<Value>(&text) {
            Ok(result) => Reply::ok(json!({ "tool": tool, "result": result })),
            Err(e) => Reply::error(
                502,
                "tool_plugin_failed",
                format!("tool `{tool}` returned invalid JSON: {e}"),
            ),
        },
        Err(e) => error(e),
    }
}

/// Canned tools for tests.
#[cfg(test)]
pub mod fake {
    use super::*;
    use crate::routes::fake::FakeNode;
    use hanzo_node_sdk::tools::ToolSpec;

    fn info(name: &str, result: Option<&str>) -> ToolInfo {
        ToolInfo {
            plugin: "tools-basic".into(),
            spec: ToolSpec {
                name: name.into(),
                description: format!("The {name} tool"),
                parameters: r#"{"type":"object"}"#.into(),
                result: result.map(str::to_string),
            },
        }
    }

    impl Catalog for FakeNode {
        fn list(&self) -> Result<Vec<ToolInfo>, ToolError> {
            Ok(vec![
                info("calculator", Some(r#"{"type":"object"}"#)),
                info("noop", None),
            ])
        }

        fn get(&self, name: &str) -> Result<Option<ToolInfo>, ToolError> {
            Ok(Catalog::list(self)?
                .into_iter()
                .find(|t| t.spec.name == name))
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
                "noop" => Ok("{}".into()),
                "broken" => Ok("not json".into()),
                "trap" => Err(ToolError::PluginFailed("plugin trapped".into())),
                "ungranted" => Err(ToolError::Denied(
                    "plugin `api-v2` is not granted `permissions.tools`".into(),
                )),
                _ => Err(ToolError::NotFound(format!("no tool `{name}`"))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::routes::fake::{FakeNode, code, send};
    use crate::routes::{Reply, Request, route};
    use hanzo_node_sdk::api::BodyError;
    use serde_json::{Value, json};

    fn get(path: &str) -> Reply {
        send(&FakeNode::default(), "GET", path, None)
    }

    fn post(path: &str, body: &str) -> Reply {
        send(&FakeNode::default(), "POST", path, Some(body))
    }

    #[test]
    fn lists_tools() {
        let r = get("/v2/tools/list");
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body["tools"][0],
            json!({
                "name": "calculator",
                "description": "The calculator tool",
                "plugin": "tools-basic",
                "parameters": {"type": "object"},
                "result": {"type": "object"},
            })
        );
        assert_eq!(r.body["tools"][1]["result"], Value::Null);
        assert_eq!(get("/v2/tools/list/").status, 200);
    }

    #[test]
    fn describes_one_tool() {
        let r = get("/v2/tools/noop");
        assert_eq!(r.status, 200);
        assert_eq!(r.body["name"], "noop");
        let r = get("/v2/tools/missing");
        assert_eq!(r.status, 404);
        assert_eq!(code(&r), "tool_not_found");
        assert_eq!(get("/v2/tools/calcul%61tor").body["name"], "calculator");
    }

    #[test]
    fn executes_tools() {
        let r = post(
            "/v2/tools/execute",
            r#"{"tool":"calculator","arguments":{"expression":"2+2"}}"#,
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            r.body,
            json!({"tool": "calculator", "result": {"value": 4}})
        );
        let r = post("/v2/tools/execute", r#"{"tool":"noop"}"#);
        assert_eq!(r.body, json!({"tool": "noop", "result": {}}));
    }

    #[test]
    fn execute_errors() {
        let cases = [
            ("{not json", 400, "invalid_json"),
            ("[1,2]", 400, "invalid_request"),
            (r#"{"arguments":{}}"#, 400, "invalid_request"),
            (r#"{"tool":5}"#, 400, "invalid_request"),
            (r#"{"tool":""}"#, 400, "invalid_request"),
            (r#"{"tool":"noop","arguments":[1]}"#, 400, "invalid_request"),
            (
                r#"{"tool":"calculator","arguments":{}}"#,
                400,
                "invalid_arguments",
            ),
            (r#"{"tool":"nope","arguments":{}}"#, 404, "tool_not_found"),
            (
                r#"{"tool":"calculator","arguments":{"expression":"1/0"}}"#,
                422,
                "tool_failed",
            ),
            (
                r#"{"tool":"trap","arguments":{}}"#,
                502,
                "tool_plugin_failed",
            ),
            (r#"{"tool":"ungranted","arguments":{}}"#, 403, "forbidden"),
            (
                r#"{"tool":"broken","arguments":{}}"#,
                502,
                "tool_plugin_failed",
            ),
        ];
        for (body, status, expected) in cases {
            let r = post("/v2/tools/execute", body);
            assert_eq!((r.status, code(&r)), (status, expected), "{body}");
            assert!(
                r.body["error"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty())
            );
        }
        let r = post(
            "/v2/tools/execute",
            r#"{"tool":"calculator","arguments":{}}"#,
        );
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("expression")
        );
    }

    #[test]
    fn oversized_body() {
        let request = Request {
            method: "POST",
            path: "/v2/tools/execute",
            ..Request::default()
        };
        let r = route(&FakeNode::default(), &request, || {
            Err(BodyError::TooLarge(1 << 20))
        });
        assert_eq!((r.status, code(&r)), (413, "body_too_large"));
    }

    #[test]
    fn wrong_methods() {
        let r = post("/v2/tools/list", "");
        assert_eq!(
            (r.status, code(&r), r.allow),
            (405, "method_not_allowed", Some("GET"))
        );
        let r = get("/v2/tools/execute");
        assert_eq!((r.status, r.allow), (405, Some("POST")));
        let r = send(&FakeNode::default(), "DELETE", "/v2/tools/noop", None);
        assert_eq!((r.status, r.allow), (405, Some("GET")));
    }

    #[test]
    fn unknown_paths() {
        for path in [
            "/v2/tools",
            "/v2/tools/",
            "/v2/tools/a/b",
            "/v2/other",
            "/",
            "/v2/toolsx/list",
        ] {
            let r = get(path);
            assert_eq!((r.status, code(&r)), (404, "not_found"), "{path}");
        }
    }
}
