//! The README's example: a tool plugin in a struct and one macro.

use hanzo_node_sdk::tool::{self, ToolError, ToolSpec, Toolbox};
use serde_json::json;

pub struct Greeter;

impl Toolbox for Greeter {
    fn describe() -> Vec<ToolSpec> {
        vec![tool::spec(
            "greet",
            "Greets someone",
            json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]}),
            Some(json!({"type": "object"})),
        )]
    }

    fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
        #[derive(serde::Deserialize)]
        struct Args {
            name: String,
        }
        match name {
            "greet" => {
                let a: Args = tool::parse_args(arguments)?; // a bad shape is invalid-arguments
                hanzo_node_sdk::log::info!("greeting {}", a.name);
                tool::to_result(&json!({"greeting": format!("Hello, {}!", a.name)}))
            }
            other => Err(tool::not_found(other)),
        }
    }
}

hanzo_node_sdk::export_tool!(Greeter);
