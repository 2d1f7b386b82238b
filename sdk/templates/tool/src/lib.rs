//! `{{name}}`: a tool plugin for Hanzo Node. `describe` lists the tools with
//! a JSON Schema for their arguments (the node checks arguments against it
//! before calling `invoke`); `invoke` runs one and returns JSON text.

use hanzo_node_sdk::tool::{self, ToolError, ToolSpec, Toolbox};
use hanzo_node_sdk::{config, log};
use serde_json::json;

pub struct Plugin;

impl Toolbox for Plugin {
    fn describe() -> Vec<ToolSpec> {
        vec![tool::spec(
            "greet",
            "Greets someone by name",
            json!({
                "type": "object",
                "properties": {"name": {"type": "string"}},
                "required": ["name"]
            }),
            Some(json!({"type": "object"})),
        )]
    }

    fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
        #[derive(serde::Deserialize)]
        struct Greet {
            name: String,
        }
        match name {
            "greet" => {
                let args: Greet = tool::parse_args(arguments)?;
                let greeting = config::get_or("greeting", "Hello");
                log::info!("greeting {}", args.name);
                tool::to_result(&json!({"greeting": format!("{greeting}, {}!", args.name)}))
            }
            other => Err(tool::not_found(other)),
        }
    }
}

hanzo_node_sdk::export_tool!(Plugin);
