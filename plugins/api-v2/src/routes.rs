//! Routing and the handlers themselves, over a [`Catalog`] so that they can
//! be tested without a host.

use hanzo_node_sdk::api::{BodyError, error_body};
use hanzo_node_sdk::tools::{self, ToolError, ToolInfo};
use serde_json::{Value, json};

/// The path prefix this plugin serves (the manifest's `routes`).
pub const PREFIX: &str = "/v2/tools";

/// The node's tool catalog, as the handlers need it.
pub trait Catalog {
    fn list(&self) -> Vec<ToolInfo>;
    fn get(&self, name: &str) -> Option<ToolInfo>;
    fn invoke(&self, name: &str, arguments: &str) -> Result<String, ToolError>;
}

/// The catalog of the host (`hanzo:node/tools`).
pub struct HostCatalog;

impl Catalog for HostCatalog {
    fn list(&self) -> Vec<ToolInfo> {
        tools::list()
    }

    fn get(&self, name: &str) -> Option<ToolInfo> {
        tools::get(name)
    }

    fn invoke(&self, name: &str, arguments: &str) -> Result<String, ToolError> {
        tools::invoke(name, arguments)
    }
}

/// A response to send.
#[derive(Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    /// The `allow` header of a 405.
    pub allow: Option<&'static str>,
    pub body: Value,
}

impl Reply {
    fn ok(body: Value) -> Reply {
        Reply {
            status: 200,
            allow: None,
            body,
        }
    }

    fn error(status: u16, code: &str, message: impl AsRef<str>) -> Reply {
        Reply {
            status,
            allow: None,
            body: error_body(code, message.as_ref()),
        }
    }

    fn method_not_allowed(method: &str, allow: &'static str) -> Reply {
        Reply {
            status: 405,
            allow: Some(allow),
            body: error_body(
                "method_not_allowed",
                &format!("{method} is not allowed here; use {allow}"),
            ),
        }
    }
}

/// Answers one request. `read_body` is only called for requests that take
/// a body.
pub fn route(
    catalog: &impl Catalog,
    method: &str,
    path: &str,
    read_body: impl FnOnce() -> Result<Vec<u8>, BodyError>,
) -> Reply {
    let not_found = || Reply::error(404, "not_found", format!("no such endpoint: {path}"));
    let Some(rest) = path.strip_prefix(PREFIX).and_then(|r| r.strip_prefix('/')) else {
        return not_found();
    };
    // One segment only; a trailing slash is tolerated.
    let segment = rest.strip_suffix('/').unwrap_or(rest);
    if segment.is_empty() || segment.contains('/') {
        return not_found();
    }
    match segment {
        "list" => match method {
            "GET" => list(catalog),
            _ => Reply::method_not_allowed(method, "GET"),
        },
        "execute" => match method {
            "POST" => match read_body() {
                Ok(body) => execute(catalog, &body),
                Err(BodyError::TooLarge(limit)) => Reply::error(
                    413,
                    "body_too_large",
                    format!("the request body is larger than {limit} bytes"),
                ),
                Err(e @ BodyError::Read(_)) => Reply::error(400, "invalid_request", e.to_string()),
            },
            _ => Reply::method_not_allowed(method, "POST"),
        },
        name => match method {
            "GET" => describe(catalog, &percent_decode(name)),
            _ => Reply::method_not_allowed(method, "GET"),
        },
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
    let tools: Vec<Value> = catalog.list().iter().map(tool_json).collect();
    Reply::ok(json!({ "tools": tools }))
}

fn describe(catalog: &impl Catalog, name: &str) -> Reply {
    match catalog.get(name) {
        Some(info) => Reply::ok(tool_json(&info)),
        None => Reply::error(404, "tool_not_found", format!("no tool named `{name}`")),
    }
}

fn execute(catalog: &impl Catalog, body: &[u8]) -> Reply {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Reply::error(
                400,
                "invalid_json",
                format!("the body is not valid JSON: {e}"),
            );
        }
    };
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
        Err(ToolError::InvalidArguments(m)) => Reply::error(400, "invalid_arguments", m),
        Err(ToolError::NotFound(m)) => Reply::error(404, "tool_not_found", m),
        Err(ToolError::Failed(m)) => Reply::error(422, "tool_failed", m),
        Err(ToolError::PluginFailed(m)) => Reply::error(502, "tool_plugin_failed", m),
    }
}

/// Decodes `%XX` escapes of a path segment; a malformed escape or a result
/// that is not UTF-8 leaves the segment as it was.
pub fn percent_decode(segment: &str) -> String {
    if !segment.contains('%') {
        return segment.to_string();
    }
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = segment
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => return segment.to_string(),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| segment.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanzo_node_sdk::tools::ToolSpec;

    struct Fake;

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

    impl Catalog for Fake {
        fn list(&self) -> Vec<ToolInfo> {
            vec![
                info("calculator", Some(r#"{"type":"object"}"#)),
                info("noop", None),
            ]
        }

        fn get(&self, name: &str) -> Option<ToolInfo> {
            self.list().into_iter().find(|t| t.spec.name == name)
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
                _ => Err(ToolError::NotFound(format!("no tool `{name}`"))),
            }
        }
    }

    fn get(path: &str) -> Reply {
        route(&Fake, "GET", path, || panic!("GET reads no body"))
    }

    fn post(path: &str, body: &str) -> Reply {
        let body = body.as_bytes().to_vec();
        route(&Fake, "POST", path, move || Ok(body))
    }

    fn code(reply: &Reply) -> &str {
        reply.body["error"]["code"].as_str().unwrap_or("")
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
        let r = route(&Fake, "POST", "/v2/tools/execute", || {
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
        let r = route(&Fake, "DELETE", "/v2/tools/noop", || unreachable!());
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

    #[test]
    fn decodes_percent_escapes() {
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("plain"), "plain");
        assert_eq!(percent_decode("bad%2"), "bad%2");
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
        assert_eq!(percent_decode("%ff"), "%ff");
    }
}
