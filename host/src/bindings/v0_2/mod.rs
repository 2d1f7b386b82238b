//! `hanzo:node@0.2.0` (`wit/since_v0.2.0/`): the package before content
//! parts, still loaded unchanged. Of its interfaces, 0.3.0 changed only
//! `llm-types`, `llm` and `model-provider`: the others are served by the
//! newest host functions under their 0.2.0 names (`caps::add_to_linker`;
//! wasmtime checks a component's imports structurally, so a drift between
//! the two versions of an interface fails at link time). The changed ones
//! are generated here and converted by [`convert`].

pub mod convert;

/// This version's number.
pub const WIT_VERSION: &str = "0.2.0";

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.2.0",
        world: "hanzo:node/host",
        imports: { default: async | trappable },
        require_store_data_send: true,
        with: {
            "hanzo:node/log": crate::bindings::log,
            "hanzo:node/config": crate::bindings::config,
            "hanzo:node/kv": crate::bindings::kv,
            "hanzo:node/fetch": crate::bindings::fetch,
            "hanzo:node/tools": crate::bindings::tools,
            "hanzo:node/tool-types": crate::bindings::tool_types,
            "hanzo:node/jobs": crate::bindings::jobs,
            "hanzo:node/agents": crate::bindings::agents,
            "hanzo:node/llm.chat-stream": crate::bindings::resources::LlmStream,
        },
    });
}

pub use generated::hanzo::node::{llm, llm_types};

/// The 0.2.0 `provider` world.
pub mod provider {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.2.0",
        world: "hanzo:node/provider",
        imports: { default: async | trappable },
        exports: { default: async },
        require_store_data_send: true,
        with: {
            "hanzo:node/log": crate::bindings::log,
            "hanzo:node/config": crate::bindings::config,
            "hanzo:node/kv": crate::bindings::kv,
            "hanzo:node/fetch": crate::bindings::fetch,
            "hanzo:node/llm-types": super::llm_types,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
        },
    });
}

/// The 0.2.0 `tool` world: the same as 0.3.0's but for the version.
pub mod tool {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.2.0",
        world: "hanzo:node/tool",
        imports: { default: async | trappable },
        exports: { default: async },
        require_store_data_send: true,
        with: {
            "hanzo:node/log": crate::bindings::log,
            "hanzo:node/config": crate::bindings::config,
            "hanzo:node/kv": crate::bindings::kv,
            "hanzo:node/fetch": crate::bindings::fetch,
            "hanzo:node/tool-types": crate::bindings::tool_types,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
        },
    });
}

/// `name("log")` is `hanzo:node/log@0.2.0`.
pub fn name(item: &str) -> String {
    format!("hanzo:node/{item}@{WIT_VERSION}")
}
