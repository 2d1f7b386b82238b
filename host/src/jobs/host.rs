//! What jobs need from the node: the LLM router, and the tool catalog with
//! a way to run its tools. The runtime implements it.

use crate::bindings::llm_types::ToolDefinition;
use crate::bindings::tool_types::ToolError;
use crate::context::CallCtx;
use crate::router::Router;
use crate::tenant::Tenant;
use futures_util::future::BoxFuture;
use std::sync::Arc;

pub trait JobHost: Send + Sync {
    fn router(&self) -> &Arc<Router>;

    /// Whether `mb` MiB of GPU memory are free on some GPU now, later, or
    /// never on this node.
    fn gpu_admission(&self, mb: u64) -> crate::gpu::GpuAdmission;

    /// The vector store (an agent's memory).
    fn vectors(&self) -> &Arc<crate::vectors::Vectors>;

    /// Tool `name` as a model sees it, with the name of the plugin serving
    /// it; none when no plugin provides it or `tenant` may not use it.
    fn tool(&self, tenant: &Tenant, name: &str) -> Option<(String, ToolDefinition)>;

    /// Runs tool `name` of the catalog (arguments checked against its schema).
    fn invoke_tool<'a>(
        &'a self,
        ctx: CallCtx,
        name: &'a str,
        arguments: &'a str,
    ) -> BoxFuture<'a, Result<String, ToolError>>;
}
