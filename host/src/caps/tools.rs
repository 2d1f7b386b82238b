//! `hanzo:node/tools`: the node's tool catalog for API plugins (and later
//! agents). An invocation runs the tool's own plugin in its own sandbox, with
//! its own limits, for the same tenant; arguments are checked against the
//! tool's schema before any tool code runs.

use crate::bindings::tool_types::ToolError;
use crate::bindings::tools::{Host, ToolInfo};
use crate::call_state::{CallState, Services};
use crate::grants::Capability;
use std::sync::Arc;

/// Tool calls nested through this interface (a tool that calls tools…) stop here.
pub const MAX_DEPTH: u32 = 4;

impl CallState {
    /// The node, when the plugin holds `permissions.tools`; else the
    /// `denied` error naming the grant.
    fn tools_node(&self) -> wasmtime::Result<Result<Arc<dyn Services>, ToolError>> {
        Ok(self
            .granted(Capability::Tools)?
            .map_err(|denied| ToolError::Denied(denied.to_string())))
    }
}

impl Host for CallState {
    async fn list(&mut self) -> wasmtime::Result<Result<Vec<ToolInfo>, ToolError>> {
        Ok(self.tools_node()?.map(|node| node.tools(&self.tenant)))
    }

    async fn get(&mut self, name: String) -> wasmtime::Result<Result<Option<ToolInfo>, ToolError>> {
        Ok(self
            .tools_node()?
            .map(|node| node.tool_info(&self.tenant, &name)))
    }

    async fn invoke(
        &mut self,
        name: String,
        arguments: String,
    ) -> wasmtime::Result<Result<String, ToolError>> {
        let node = match self.tools_node()? {
            Ok(node) => node,
            Err(e) => return Ok(Err(e)),
        };
        if self.depth >= MAX_DEPTH {
            return Ok(Err(ToolError::Failed(format!(
                "tool calls nested deeper than {MAX_DEPTH} are refused"
            ))));
        }
        Ok(node
            .invoke_tool(self.ctx().at_depth(self.depth + 1), &name, &arguments)
            .await)
    }
}
