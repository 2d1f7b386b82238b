//! Test plugin `http-probe`: `fetch {"url"}` → `{"status": n}`, or a failed
//! call carrying the SDK's HTTP error text (which names the host's refusal
//! when the outbound policy blocks the request).

use hanzo_node_sdk::http::Request;
use hanzo_node_sdk::tool::{self, ToolError, ToolSpec, Toolbox};
use serde::Deserialize;

struct HttpProbe;

#[derive(Deserialize)]
struct FetchArgs {
    url: String,
}

impl Toolbox for HttpProbe {
    fn describe() -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "fetch".into(),
            description: "GETs a URL and returns its status".into(),
            parameters: r#"{"type":"object","properties":{"url":{"type":"string"}},"required":["url"]}"#
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
                let response = Request::get(&args.url)
                    .send()
                    .map_err(|e| tool::failed(e.to_string()))?;
                Ok(format!(r#"{{"status":{}}}"#, response.status()))
            }
            other => Err(tool::not_found(other)),
        }
    }
}

hanzo_node_sdk::export_tool!(HttpProbe);
