//! Test plugin `tool-v0-2`: a tool plugin built against `hanzo:node@0.2.0`
//! (`wit/since_v0.2.0`) with wit-bindgen alone, as one released before
//! 0.3.0 was. Its one tool, `old_counter`, adds 1 to a counter it keeps with
//! the 0.2.0 `kv` import and answers `{"<label>": n}`, the label read with the
//! 0.2.0 `config` import.

wit_bindgen::generate!({
    path: "../../../wit/since_v0.2.0",
    world: "hanzo:node/tool",
    generate_all,
});

use exports::hanzo::node::toolbox::Guest;
use hanzo::node::tool_types::{ToolError, ToolSpec};
use hanzo::node::{config, kv};

struct CounterV02;

impl Guest for CounterV02 {
    fn describe() -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "old_counter".into(),
            description: "Counts its calls".into(),
            parameters: r#"{"type":"object","additionalProperties":false}"#.into(),
            result: None,
        }]
    }

    fn invoke(name: String, _arguments: String) -> Result<String, ToolError> {
        if name != "old_counter" {
            return Err(ToolError::NotFound(name));
        }
        let stored = kv::get("count").map_err(|e| ToolError::Failed(format!("{e:?}")))?;
        let n = stored
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        kv::set("count", n.to_string().as_bytes())
            .map_err(|e| ToolError::Failed(format!("{e:?}")))?;
        let label = config::get("label").unwrap_or_else(|| "count".into());
        Ok(format!("{{\"{label}\":{n}}}"))
    }
}

export!(CounterV02);
