//! Host bindings for every world and interface of `wit/`, generated once.
//! The node's own interfaces are generated from the `host` world; the plugin
//! worlds reuse those types (and wasi's) through `with:` so a type exists once.

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "hanzo:node/host",
        imports: { default: async | trappable },
        require_store_data_send: true,
        with: {
            "hanzo:node/llm.chat-stream": crate::router::RouterStream,
            "hanzo:node/fetch.body": crate::caps::fetch::FetchBody,
        },
    });
}

pub use generated::hanzo::node::{
    agents, config, fetch, jobs, kv, llm, llm_types, log, tool_types, tools,
};

/// The `provider` world: LLM providers.
pub mod provider {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "hanzo:node/provider",
        imports: { default: async | trappable },
        exports: { default: async },
        require_store_data_send: true,
        with: {
            "hanzo:node/log": crate::bindings::log,
            "hanzo:node/config": crate::bindings::config,
            "hanzo:node/kv": crate::bindings::kv,
            "hanzo:node/fetch": crate::bindings::fetch,
            "hanzo:node/llm-types": crate::bindings::llm_types,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
        },
    });
}

/// The `tool` world: tool plugins and runtime adapters.
pub mod tool {
    wasmtime::component::bindgen!({
        path: "../wit",
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
