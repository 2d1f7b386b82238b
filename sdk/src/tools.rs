//! The node's tool catalog (`hanzo:node/tools`), for API plugins and agents.
//!
//! Needs `permissions.tools = true`; without the grant every call fails with
//! [`ToolError::Denied`], naming it. Invocations run the tool's own plugin in
//! its own sandbox; the host validates arguments against the tool's schema
//! before the call.

pub use crate::wit::hanzo::node::tool_types::{ToolError, ToolSpec};
pub use crate::wit::hanzo::node::tools::ToolInfo;

/// Every tool of every loaded tool plugin ([`ToolError::Denied`] without
/// the grant).
pub fn list() -> Result<Vec<ToolInfo>, ToolError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::tools::list();
    #[cfg(not(target_arch = "wasm32"))]
    Ok(Vec::new())
}

/// The tool called `name`, if one is loaded.
pub fn get(name: &str) -> Result<Option<ToolInfo>, ToolError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::tools::get(name);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = name;
        Ok(None)
    }
}

/// Runs the tool `name` with `arguments` (JSON text); the result is JSON text.
pub fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::tools::invoke(name, arguments);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = (name, arguments);
        Err(ToolError::PluginFailed(crate::NO_HOST.to_string()))
    }
}

/// [`invoke`] with JSON values. A result that is not valid JSON is reported
/// as [`ToolError::PluginFailed`], since the tool broke its own contract.
pub fn invoke_json(
    name: &str,
    arguments: &serde_json::Value,
) -> Result<serde_json::Value, ToolError> {
    let text = invoke(name, &arguments.to_string())?;
    serde_json::from_str(&text)
        .map_err(|e| ToolError::PluginFailed(format!("tool `{name}` returned invalid JSON: {e}")))
}
