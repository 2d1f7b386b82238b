//! The operator's tool declarations (`config.tools`): node.toml's array of
//! tables, which reaches the plugin as JSON (or the list as a JSON string).

use hanzo_node_sdk::tool::{self, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// One declared tool.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declared {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `name:tag`, one of the images the operator granted the plugin.
    pub image: String,
    /// The command and its arguments; empty: the image's own.
    #[serde(default)]
    pub command: Vec<String>,
    /// JSON Schema of the arguments (what the command reads on stdin).
    #[serde(default = "any_object")]
    pub parameters: Value,
    /// JSON Schema of the result, when the command prints JSON.
    #[serde(default)]
    pub result: Option<Value>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    pub timeout_ms: Option<u32>,
    pub memory_mb: Option<u32>,
    pub cpu_millis: Option<u32>,
    pub pids: Option<u32>,
    #[serde(default)]
    pub network: bool,
}

fn any_object() -> Value {
    json!({"type": "object"})
}

impl Declared {
    pub fn spec(&self) -> ToolSpec {
        tool::spec(
            &self.name,
            &self.description,
            self.parameters.clone(),
            self.result.clone(),
        )
    }
}

/// The declarations in `text`; `Err` says what is wrong, naming the tool.
pub fn parse(text: &str) -> Result<Vec<Declared>, String> {
    let text = text.trim();
    let tools: Vec<Declared> = if text.is_empty() {
        Vec::new()
    } else {
        serde_json::from_str(text).map_err(|e| e.to_string())?
    };
    let mut seen = std::collections::BTreeSet::new();
    for t in &tools {
        if !seen.insert(&t.name) {
            return Err(format!("tool `{}` is declared twice", t.name));
        }
        if t.image.trim().is_empty() {
            return Err(format!("tool `{}`: `image` is empty", t.name));
        }
        if !t.parameters.is_object() {
            return Err(format!(
                "tool `{}`: `parameters` is not a JSON Schema object",
                t.name
            ));
        }
    }
    Ok(tools)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_as_the_host_passes_node_toml_on_reads() {
        let rendered = r#"[{"name":"wc","image":"tools:1","command":["sh","-c","wc -w"],"parameters":{"type":"object","properties":{"text":{"type":"string"}}},"timeout_ms":5000}]"#;
        let tools = parse(rendered).unwrap();
        assert_eq!(tools[0].name, "wc");
        assert_eq!(tools[0].command, ["sh", "-c", "wc -w"]);
        assert_eq!(tools[0].parameters["properties"]["text"]["type"], "string");
        assert_eq!(tools[0].timeout_ms, Some(5000));
        let json = r#"[{"name": "wc", "image": "tools:1"}]"#;
        assert_eq!(
            parse(json).unwrap()[0].parameters,
            json!({"type": "object"})
        );
        assert!(parse("").unwrap().is_empty());
        assert!(parse("[]").unwrap().is_empty());
    }

    #[test]
    fn mistakes_are_named() {
        let twice = r#"[{"name": "a", "image": "i:1"}, {"name": "a", "image": "i:1"}]"#;
        assert!(parse(twice).unwrap_err().contains("declared twice"));
        assert!(
            parse(r#"[{"name": "a", "image": ""}]"#)
                .unwrap_err()
                .contains("image")
        );
        assert!(parse(r#"[{"name": "a", "image": "i:1", "parameters": 5}]"#).is_err());
        assert!(parse(r#"[{"name": "a", "image": "i:1", "imgae": "x"}]"#).is_err());
        assert!(parse("not a list").is_err());
    }
}
