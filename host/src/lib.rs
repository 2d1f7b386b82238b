//! Hanzo Node: a minimal host whose LLM providers, tools and API handlers are
//! sandboxed WebAssembly components, loaded from a directory and hot-swapped
//! while the node serves.

pub mod auth;
pub mod bindings;
pub mod call_state;
pub mod caps;
pub mod coalesce;
pub mod config;
pub mod conns;
pub mod containers;
pub mod context;
pub mod engine;
pub mod error;
pub mod gpu;
pub mod grants;
pub mod guest_stderr;
pub mod hardware;
pub mod inspect;
pub mod jobs;
pub mod kv_table;
pub mod loader;
pub mod outbound;
pub mod plugins;
pub mod router;
pub mod runtime;
pub mod scaffold;
pub mod sched;
pub mod server;
pub mod signing;
pub mod tee;
pub mod tenant;
pub mod tenant_policy;
pub mod tool_settings;
pub mod vectors;
pub mod warm;
pub mod ws;

#[cfg(test)]
mod module_graph;

pub use config::NodeConfig;
pub use runtime::Runtime;

/// Locks `m`, carrying on past a poisoning panic: every critical section in
/// the node leaves its data whole, and one failed request must not take the
/// scheduler, the router or the upstream pool down with it.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The node's version, as reported by `/v2/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
