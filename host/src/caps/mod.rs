//! The host side of each `hanzo:node` interface, one file per interface. Each
//! checks the calling plugin's grant first, then does the work. `add_to_linker`
//! wires them (and WASI, wasi-http) into the one linker every plugin shares.

pub mod agents;
pub mod config;
pub mod fetch;
pub mod jobs;
pub mod kv;
pub mod llm;
pub mod log;
pub mod tools;

use crate::bindings::tool_types::ToolError;
use crate::bindings::tools::ToolInfo;
use crate::context::CallCtx;
use crate::jobs::Jobs;
use crate::router::Router;
use crate::state::CallState;
use crate::store::Store as KvStore;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use wasmtime::component::{HasSelf, Linker};

/// What the host side of the interfaces reaches beyond the call itself: the
/// node's services. The runtime implements it; a call's state holds it
/// weakly ([`CallState::node`]).
pub trait Services: Send + Sync {
    /// The kv table.
    fn kv(&self) -> &Arc<KvStore>;
    fn router(&self) -> &Arc<Router>;
    fn jobs(&self) -> &Arc<Jobs>;
    /// Each plugin's log budget.
    fn logs(&self) -> &log::PluginLogs;
    /// The tool catalog.
    fn tools(&self) -> Vec<ToolInfo>;
    fn tool(&self, name: &str) -> Option<ToolInfo>;
    /// Runs tool `name` of the catalog (arguments checked against its schema).
    fn invoke_tool<'a>(
        &'a self,
        ctx: CallCtx,
        name: &'a str,
        arguments: &'a str,
    ) -> BoxFuture<'a, Result<String, ToolError>>;
}

/// Adds WASI 0.2, wasi:http and every node interface to `linker`.
pub fn add_to_linker(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    crate::bindings::log::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
    crate::bindings::config::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
    crate::bindings::kv::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
    crate::bindings::fetch::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
    crate::bindings::tools::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
    crate::bindings::llm::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
    crate::bindings::jobs::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
    crate::bindings::agents::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
    Ok(())
}
