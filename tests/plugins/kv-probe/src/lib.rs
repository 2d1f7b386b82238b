//! Test plugin `kv-probe`:
//! - `put {"key","value"}` → `{"ok":true}`
//! - `get {"key"}` → `{"value": string|null}`
//! - `list {"prefix"}` → `{"keys":[...]}` (at most `limit`, default 1000)
//!
//! kv errors come back as failed calls with the error in words.
//!
//! Setting `tool_prefix` names the tools `<prefix>put` and so on, so that
//! several copies can be loaded at once (tool names are unique in a node);
//! `invoke` takes either name.

use hanzo_node_sdk::kv::{self, KvError};
use hanzo_node_sdk::tool::{self, ToolError, ToolSpec, Toolbox};
use serde::Deserialize;
use serde_json::json;

struct KvProbe;

#[derive(Deserialize)]
struct PutArgs {
    key: String,
    value: String,
}

#[derive(Deserialize)]
struct GetArgs {
    key: String,
}

#[derive(Deserialize)]
struct ListArgs {
    #[serde(default)]
    prefix: String,
    limit: Option<u32>,
}

fn failed(e: KvError) -> ToolError {
    tool::failed(e.message())
}

/// The tool name without the configured prefix.
fn unprefixed(name: &str) -> &str {
    let prefix = hanzo_node_sdk::config::get("tool_prefix").unwrap_or_default();
    name.strip_prefix(prefix.as_str()).unwrap_or(name)
}

impl Toolbox for KvProbe {
    fn describe() -> Vec<ToolSpec> {
        let prefix = hanzo_node_sdk::config::get("tool_prefix").unwrap_or_default();
        let mut specs = vec![
            tool::spec(
                "put",
                "Stores a string value under a key",
                json!({"type": "object",
                       "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
                       "required": ["key", "value"]}),
                Some(json!({"type": "object"})),
            ),
            tool::spec(
                "get",
                "Reads the string value under a key",
                json!({"type": "object", "properties": {"key": {"type": "string"}},
                       "required": ["key"]}),
                Some(
                    json!({"type": "object", "properties": {"value": {"type": ["string", "null"]}}}),
                ),
            ),
            tool::spec(
                "list",
                "Lists keys starting with a prefix",
                json!({"type": "object",
                       "properties": {"prefix": {"type": "string"},
                                      "limit": {"type": "integer", "minimum": 0}}}),
                Some(json!({"type": "object", "properties": {"keys": {"type": "array"}}})),
            ),
        ];
        for spec in &mut specs {
            spec.name = format!("{prefix}{}", spec.name);
        }
        specs
    }

    fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
        let result = match unprefixed(name) {
            "put" => {
                let args: PutArgs = tool::parse_args(arguments)?;
                kv::set_string(&args.key, &args.value).map_err(failed)?;
                json!({"ok": true})
            }
            "get" => {
                let args: GetArgs = tool::parse_args(arguments)?;
                json!({"value": kv::get_string(&args.key).map_err(failed)?})
            }
            "list" => {
                let args: ListArgs = tool::parse_args(arguments)?;
                let keys =
                    kv::list_keys(&args.prefix, args.limit.unwrap_or(1000)).map_err(failed)?;
                json!({"keys": keys})
            }
            other => return Err(tool::not_found(other)),
        };
        tool::to_result(&result)
    }
}

hanzo_node_sdk::export_tool!(KvProbe);
