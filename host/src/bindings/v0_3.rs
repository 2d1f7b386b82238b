//! Providers built against `hanzo:node@0.3.0` to `0.3.3`
//! (`wit/since_v0.3.3/`): the same interfaces as the newest, less the
//! provider stream's `next-many`, so the host pulls their streams with
//! `next`. Only the `provider` world's exports differ: every import is the
//! newest host function (wasmtime resolves the semver-compatible names), and
//! the types are the newest's, shared through `with:`.

/// The 0.3.3 `provider` world.
pub mod provider {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.3.3",
        world: "hanzo:node/provider",
        imports: { default: async | trappable },
        exports: { default: async },
        require_store_data_send: true,
        with: {
            "hanzo:node/log": crate::bindings::log,
            "hanzo:node/config": crate::bindings::config,
            "hanzo:node/kv": crate::bindings::kv,
            "hanzo:node/fetch": crate::bindings::fetch,
            "hanzo:node/tee": crate::bindings::tee,
            "hanzo:node/gpu": crate::bindings::gpu,
            "hanzo:node/llm-types": crate::bindings::llm_types,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
        },
    });
}
