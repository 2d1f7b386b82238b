//! `hanzo:node/tools`: the node's tool catalog for API plugins (and later
//! agents). An invocation runs the tool's own plugin in its own sandbox, with
//! its own limits, for the same tenant; arguments are checked against the
//! tool's schema before any tool code runs.

use crate::bindings::tool_types::ToolError;
use crate::bindings::tools::{Host, ToolInfo};
use crate::call_state::CallState;
use crate::grants::Capability;

/// Tool calls nested through this interface (a tool that calls tools…) stop here.
pub const MAX_DEPTH: u32 = 4;

impl CallState {
    fn require_tools_grant(&self) -> wasmtime::Result<()> {
        // This interface's WIT has no `denied` case (yet): a trap names the grant.
        Ok(self.grants.require(Capability::Tools)?)
    }
}

impl Host for CallState {
    async fn list(&mut self) -> wasmtime::Result<Vec<ToolInfo>> {
        self.require_tools_grant()?;
        Ok(self.node()?.tools())
    }

    async fn get(&mut self, name: String) -> wasmtime::Result<Option<ToolInfo>> {
        self.require_tools_grant()?;
        Ok(self.node()?.tool(&name))
    }

    async fn invoke(
        &mut self,
        name: String,
        arguments: String,
    ) -> wasmtime::Result<Result<String, ToolError>> {
        self.require_tools_grant()?;
        if self.depth >= MAX_DEPTH {
            return Ok(Err(ToolError::Failed(format!(
                "tool calls nested deeper than {MAX_DEPTH} are refused"
            ))));
        }
        Ok(self
            .node()?
            .invoke_tool(self.ctx().at_depth(self.depth + 1), &name, &arguments)
            .await)
    }
}
