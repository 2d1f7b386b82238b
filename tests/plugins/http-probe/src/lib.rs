//! Test plugin `http-probe`: `fetch {"url", "headers"?, "via"?, "max_bytes"?}` →
//! `{"status": n, "bytes": n}`, or a failed call carrying the SDK's HTTP error
//! kind and text (which names the host's refusal when the outbound policy
//! blocks the request). `via` picks the way out: `wasi` (wasi:http, the
//! default), `fetch` (`hanzo:node/fetch`, the body read whole by the host) or
//! `open` (`hanzo:node/fetch`, the body read as it arrives).
//! `secret {"name"}` → `{"value": "..."}`, or a failed call naming why there
//! is none (`NotDeclared`, `NotSet`): what the operator granted of a secret.

use hanzo_node_sdk::http::Request;
use hanzo_node_sdk::tool::{self, ToolError, ToolSpec, Toolbox};
use serde::Deserialize;

struct HttpProbe;

#[derive(Deserialize)]
struct FetchArgs {
    url: String,
    /// Request headers to send, by name.
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    #[serde(default)]
    via: Via,
    #[serde(default = "default_max_bytes")]
    max_bytes: usize,
}

fn default_max_bytes() -> usize {
    1 << 20
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum Via {
    #[default]
    Wasi,
    Fetch,
    Open,
}

#[derive(Deserialize)]
struct SecretArgs {
    name: String,
}

fn secret_tool() -> String {
    let prefix = hanzo_node_sdk::config::get("tool_prefix").unwrap_or_default();
    format!("{prefix}secret")
}

/// Setting `tool_prefix` names the tool `<prefix>fetch`, so that several
/// copies can be loaded at once (tool names are unique in a node).
fn tool_name() -> String {
    let prefix = hanzo_node_sdk::config::get("tool_prefix").unwrap_or_default();
    format!("{prefix}fetch")
}

impl Toolbox for HttpProbe {
    fn describe() -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: tool_name(),
            description: "GETs a URL and returns its status and body size".into(),
            parameters: r#"{"type":"object","properties":{"url":{"type":"string"},"headers":{"type":"object","additionalProperties":{"type":"string"}},"via":{"enum":["wasi","fetch","open"]},"max_bytes":{"type":"integer","minimum":0}},"required":["url"]}"#
                .into(),
            result: Some(
                r#"{"type":"object","properties":{"status":{"type":"integer"},"bytes":{"type":"integer"}},"required":["status","bytes"]}"#
                    .into(),
            ),
        }, ToolSpec {
            name: secret_tool(),
            description: "Reads a secret through hanzo:node/config".into(),
            parameters: r#"{"type":"object","properties":{"name":{"type":"string"}},"required":["name"]}"#
                .into(),
            result: None,
        }]
    }

    fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
        match name {
            _ if name == "fetch" || name == tool_name() => {
                let args: FetchArgs = tool::parse_args(arguments)?;
                let request = args
                    .headers
                    .iter()
                    .fold(Request::get(&args.url), |r, (name, value)| {
                        r.header(name, value)
                    });
                let failed = |e: hanzo_node_sdk::http::HttpError| {
                    tool::failed(format!("{:?}: {e}", e.kind()))
                };
                let response = match args.via {
                    Via::Wasi => request.send(),
                    Via::Fetch => request.fetch(args.max_bytes),
                    Via::Open => request.open(args.max_bytes),
                }
                .map_err(failed)?;
                let status = response.status();
                let bytes = response.bytes(args.max_bytes).map_err(failed)?;
                Ok(format!(r#"{{"status":{status},"bytes":{}}}"#, bytes.len()))
            }
            _ if name == secret_tool() => {
                let args: SecretArgs = tool::parse_args(arguments)?;
                let value = hanzo_node_sdk::config::secret(&args.name)
                    .map_err(|e| tool::failed(format!("{e:?}: {}", e.message())))?;
                Ok(serde_json::json!({ "value": value }).to_string())
            }
            other => Err(tool::not_found(other)),
        }
    }
}

hanzo_node_sdk::export_tool!(HttpProbe);
