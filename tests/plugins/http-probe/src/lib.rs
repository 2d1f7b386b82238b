//! Test plugin `http-probe`: `fetch {"url", "headers"?}` → `{"status": n}`, or a failed
//! call carrying the SDK's HTTP error text (which names the host's refusal
//! when the outbound policy blocks the request).

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
}

impl Toolbox for HttpProbe {
    fn describe() -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "fetch".into(),
            description: "GETs a URL and returns its status".into(),
            parameters: r#"{"type":"object","properties":{"url":{"type":"string"},"headers":{"type":"object","additionalProperties":{"type":"string"}}},"required":["url"]}"#
                .into(),
            result: Some(
                r#"{"type":"object","properties":{"status":{"type":"integer"}},"required":["status"]}"#
                    .into(),
            ),
        }]
    }

    fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
        match name {
            "fetch" => {
                let args: FetchArgs = tool::parse_args(arguments)?;
                let request = args
                    .headers
                    .iter()
                    .fold(Request::get(&args.url), |r, (name, value)| {
                        r.header(name, value)
                    });
                let response = request.send().map_err(|e| tool::failed(e.to_string()))?;
                Ok(format!(r#"{{"status":{}}}"#, response.status()))
            }
            other => Err(tool::not_found(other)),
        }
    }
}

hanzo_node_sdk::export_tool!(HttpProbe);
