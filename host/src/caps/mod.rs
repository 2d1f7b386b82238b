//! The host side of each `hanzo:node` interface, one file per interface. Each
//! checks the calling plugin's grant first, then does the work. `add_to_linker`
//! wires them (and WASI, wasi-http) into the one linker every plugin shares.

pub mod agents;
pub mod config;
pub mod containers;
pub mod fetch;
pub mod gpu;
pub mod jobs;
pub mod kv;
pub mod llm;
pub mod llm_v0_2;
pub mod log;
pub mod tee;
pub mod tools;
pub mod vectors;

use crate::call_state::CallState;
pub use crate::call_state::Services;
use wasmtime::component::{HasSelf, Linker};

/// Adds WASI 0.2, wasi:http and every node interface, in every version a
/// plugin may be built against, to `linker`.
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
    crate::bindings::containers::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
    crate::bindings::vectors::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
    crate::bindings::tee::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
    crate::bindings::gpu::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)?;
    add_v0_2_names(linker)
}

/// The node's interfaces under their `hanzo:node@0.2.0` names: those 0.3.0
/// left as they were are the same host functions (wasmtime checks a
/// component's imports structurally, so a drift fails at link time), and
/// `llm` is its 0.2.0 version, converting (`llm_v0_2`).
fn add_v0_2_names(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    use crate::bindings::v0_2;
    macro_rules! unchanged {
        ($($interface:ident),*) => {$(
            crate::bindings::$interface::add_to_linker_instance::<_, HasSelf<CallState>>(
                &mut linker.instance(&v0_2::name(stringify!($interface)))?,
                |s| s,
            )?;
        )*};
    }
    unchanged!(log, config, kv, fetch, tools, jobs, agents);
    v0_2::llm::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)
}
