//! `tools-containers`: a tool runtime. The operator declares tools in
//! node.toml, each a command in a container image, and this plugin offers
//! them as node tools: a call runs the command once (`hanzo:node/containers`)
//! with the call's arguments as JSON on its standard input, and its standard
//! output is the result (JSON when it is JSON, else `{"output": text}`). A
//! script in any language becomes a node tool without a plugin of its own.
//!
//! ```toml
//! [plugins.tools-containers]
//! containers = ["hanzo-tools:1"]        # the images it may run
//!
//! [[plugins.tools-containers.config.tools]]
//! name = "word_count"
//! description = "Counts the words of a text"
//! image = "hanzo-tools:1"
//! command = ["sh", "-c", "wc -w"]
//! parameters = { type = "object", properties = { text = { type = "string" } } }
//! timeout_ms = 5000
//! ```
//!
//! [`declared`] reads the declarations; [`outcome`] turns a run into the
//! tool's result.

pub mod declared;
pub mod outcome;

use hanzo_node_sdk::config;
use hanzo_node_sdk::containers::{self, RunSpec};
use hanzo_node_sdk::log;
use hanzo_node_sdk::tool::{ToolError, ToolSpec, Toolbox};

pub struct ContainerTools;

/// The operator's declarations; a list that does not parse is logged and
/// offers nothing (the node reports a plugin with no tools).
fn declarations() -> Result<Vec<declared::Declared>, String> {
    declared::parse(&config::get("tools").unwrap_or_default())
}

impl Toolbox for ContainerTools {
    fn describe() -> Vec<ToolSpec> {
        match declarations() {
            Ok(tools) => tools.iter().map(declared::Declared::spec).collect(),
            Err(e) => {
                log::error(&format!("config `tools`: {e}"));
                Vec::new()
            }
        }
    }

    fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
        let tools = declarations().map_err(ToolError::Failed)?;
        let Some(tool) = tools.into_iter().find(|t| t.name == name) else {
            return Err(ToolError::NotFound(format!("no tool named `{name}`")));
        };
        let mut stdin = arguments.as_bytes().to_vec();
        stdin.push(b'\n');
        let spec = RunSpec {
            command: tool.command.clone(),
            env: tool.env.clone().into_iter().collect(),
            stdin,
            memory_mb: tool.memory_mb,
            cpu_millis: tool.cpu_millis,
            pids: tool.pids,
            timeout_ms: tool.timeout_ms,
            network: tool.network,
            ..RunSpec::image(tool.image.clone())
        };
        let run = containers::run(&spec).map_err(|e| ToolError::Failed(e.message()))?;
        outcome::result(&run, tool.timeout_ms)
    }
}

hanzo_node_sdk::export_tool!(ContainerTools);
