//! Test plugin `echo-version`.
//!
//! - `noop`: `{}` → `{}`, doing nothing at all; the benchmark's trivial call.
//! - `answer`: `{"answer": config("answer")}` (`"unset"` when unset), which
//!   tells the tests which manifest version or override is live.

use hanzo_node_sdk::tool::{self, ToolError, ToolSpec, Toolbox};
use serde_json::json;

struct EchoVersion;

const EMPTY_OBJECT: &str = r#"{"type":"object","additionalProperties":false}"#;

impl Toolbox for EchoVersion {
    fn describe() -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "noop".into(),
                description: "Does nothing and returns {}".into(),
                parameters: EMPTY_OBJECT.into(),
                result: Some(EMPTY_OBJECT.into()),
            },
            ToolSpec {
                name: "answer".into(),
                description: "Returns the `answer` config setting".into(),
                parameters: EMPTY_OBJECT.into(),
                result: Some(
                    r#"{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}"#
                        .into(),
                ),
            },
        ]
    }

    fn invoke(name: &str, _arguments: &str) -> Result<String, ToolError> {
        match name {
            // No parsing, no allocation beyond the result: this is the
            // floor of a plugin call.
            "noop" => Ok("{}".to_string()),
            "answer" => {
                let answer =
                    hanzo_node_sdk::config::get("answer").unwrap_or_else(|| "unset".into());
                tool::to_result(&json!({ "answer": answer }))
            }
            other => Err(tool::not_found(other)),
        }
    }
}

hanzo_node_sdk::export_tool!(EchoVersion);
