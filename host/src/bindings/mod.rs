//! Host bindings for every world and interface of the node's WIT package,
//! generated once. The node's own interfaces are generated from the `host`
//! world; the plugin worlds reuse those types (and wasi's) through `with:` so
//! a type exists once.
//!
//! The package has a folder per version (`wit/since_v0.3.4/`, …). The host
//! is written against the newest; [`v0_2`] keeps plugins built against
//! `hanzo:node@0.2.0` loading unchanged, [`v0_3`] providers built against
//! 0.3.0 to 0.3.3 (no `next-many`), and [`versioned`] calls a plugin's
//! exports whichever version it was built against.

pub mod v0_2;
pub mod v0_3;
pub mod versioned;

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.3.4",
        world: "hanzo:node/host",
        imports: { default: async | trappable },
        require_store_data_send: true,
        with: {
            "hanzo:node/llm.chat-stream": crate::bindings::resources::LlmStream,
            "hanzo:node/fetch.body": crate::bindings::resources::FetchBody,
            "hanzo:node/containers.process": crate::bindings::resources::ContainerProcess,
        },
    });
}

pub use generated::hanzo::node::{
    agents, config, containers, fetch, gpu, jobs, kv, llm, llm_types, log, tee, tool_types, tools,
    vectors,
};

/// The newest version of the `hanzo:node` package, the one the host is
/// written against (the `package` line of `wit/since_v0.3.4/types.wit`; the
/// SDK's `WIT_VERSION` is the same, a test checks both).
pub const WIT_VERSION: &str = "0.3.4";

/// Every version a plugin may be built against, oldest first. 0.3.0 is
/// 0.3.1 less `containers.process`, 0.3.1 is 0.3.2 less `vectors`, 0.3.2
/// is 0.3.3 less `tee` and `gpu`, and 0.3.3 is 0.3.4 less the streams'
/// `next-many`: wasmtime resolves a semver-compatible name (`log@0.3.0`)
/// to the one the host defines (`log@0.3.4`), imports and exports alike,
/// and checks the types. A provider that exports no `next-many` is called
/// through [`v0_3`]'s bindings.
pub const WIT_VERSIONS: &[&str] = &[
    v0_2::WIT_VERSION,
    "0.3.0",
    "0.3.1",
    "0.3.2",
    "0.3.3",
    WIT_VERSION,
];

/// The full name of a world or interface of the node's package:
/// `wit_name("tool")` is `hanzo:node/tool@0.3.4`.
pub fn wit_name(item: &str) -> String {
    format!("hanzo:node/{item}@{WIT_VERSION}")
}

impl llm_types::Message {
    /// A message of `role` holding `text` (no part when it is empty).
    pub fn text_message(role: llm_types::Role, text: &str) -> llm_types::Message {
        llm_types::Message {
            role,
            content: llm_types::ContentPart::text(text),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            reasoning: Vec::new(),
        }
    }

    /// Its text parts, joined.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|p| match p {
                llm_types::ContentPart::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect()
    }
}

impl llm_types::ContentPart {
    /// `text` as content: no part when it is empty.
    pub fn text(text: impl Into<String>) -> Vec<llm_types::ContentPart> {
        let text = text.into();
        if text.is_empty() {
            Vec::new()
        } else {
            vec![llm_types::ContentPart::Text(text)]
        }
    }
}

#[cfg(test)]
impl llm_types::ChatChunk {
    /// A chunk holding only `text` (id `c`, model `m`), for tests.
    pub fn text_only(text: &str) -> llm_types::ChatChunk {
        llm_types::ChatChunk {
            id: "c".into(),
            model: "m".into(),
            content: Some(text.into()),
            tool_calls: Vec::new(),
            reasoning: Vec::new(),
            finish_reason: None,
            stop_sequence: None,
            usage: None,
        }
    }
}

/// The host values behind the node's WIT resources. The generated code
/// names these; what serves them (the router's streams, outbound answer
/// bodies) implements their traits, so the bindings depend on nothing above
/// them.
pub mod resources {
    use super::fetch::FetchError;
    use super::llm::{ChunkBatch, LlmError, Route};
    use super::llm_types::ChatChunk;
    use futures_util::future::BoxFuture;

    /// A `hanzo:node/llm` `chat-stream`.
    pub struct LlmStream(pub Box<dyn ChunkStream>);

    pub trait ChunkStream: Send {
        /// The deployment serving the stream.
        fn route(&self) -> &Route;
        /// The next chunk; `None` once the stream ended.
        fn next(&mut self) -> BoxFuture<'_, Option<Result<ChatChunk, LlmError>>>;
        /// Up to `max` chunks: the next, then those already here, and
        /// whether the stream ended with them.
        fn next_many(&mut self, max: usize) -> BoxFuture<'_, ChunkBatch>;
    }

    /// A `hanzo:node/containers` process, held by the call.
    pub struct ContainerProcess(pub crate::containers::process::Held);

    /// A `hanzo:node/fetch` answer `body`.
    pub struct FetchBody(pub Box<dyn BodyReader>);

    pub trait BodyReader: Send {
        /// What arrived since the last read, at most `max` bytes; `None`
        /// once the body ended.
        fn read(&mut self, max: usize) -> BoxFuture<'_, Result<Option<Vec<u8>>, FetchError>>;
    }
}

/// The `provider` world: LLM providers.
pub mod provider {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.3.4",
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

/// The `tool` world: tool plugins and runtime adapters.
pub mod tool {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.3.4",
        world: "hanzo:node/tool",
        imports: { default: async | trappable },
        exports: { default: async },
        require_store_data_send: true,
        with: {
            "hanzo:node/log": crate::bindings::log,
            "hanzo:node/config": crate::bindings::config,
            "hanzo:node/kv": crate::bindings::kv,
            "hanzo:node/fetch": crate::bindings::fetch,
            "hanzo:node/containers": crate::bindings::containers,
            "hanzo:node/vectors": crate::bindings::vectors,
            "hanzo:node/tee": crate::bindings::tee,
            "hanzo:node/gpu": crate::bindings::gpu,
            "hanzo:node/tool-types": crate::bindings::tool_types,
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
        },
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_wit_version_is_the_packages_and_the_sdks() {
        let wit = include_str!("../../../wit/since_v0.3.4/types.wit");
        let package = format!("package hanzo:node@{};", super::WIT_VERSION);
        assert!(wit.lines().any(|l| l.trim() == package), "{package}");
        assert_eq!(super::WIT_VERSION, hanzo_node_sdk::WIT_VERSION);
        assert_eq!(super::wit_name("tool"), hanzo_node_sdk::wit_name("tool"));
    }
}
