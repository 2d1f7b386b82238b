//! Guest SDK for Hanzo Node plugins.
//!
//! A plugin is a WebAssembly component that implements one of the node's
//! worlds (`hanzo:node/provider`, `hanzo:node/tool`, `hanzo:node/api`). With
//! this crate a plugin is a type implementing one trait plus one export macro:
//!
//! ```no_run
//! use hanzo_node_sdk::tool::{self, Toolbox, ToolError, ToolSpec};
//! use serde_json::json;
//!
//! struct Greeter;
//!
//! impl Toolbox for Greeter {
//!     fn describe() -> Vec<ToolSpec> {
//!         vec![tool::spec("greet", "Greets someone",
//!             json!({"type": "object", "properties": {"name": {"type": "string"}},
//!                    "required": ["name"]}),
//!             Some(json!({"type": "object"})))]
//!     }
//!     fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
//!         #[derive(serde::Deserialize)]
//!         struct Args { name: String }
//!         match name {
//!             "greet" => {
//!                 let args: Args = tool::parse_args(arguments)?;
//!                 hanzo_node_sdk::log::info!("greeting {}", args.name);
//!                 tool::to_result(&json!({"greeting": format!("Hello, {}!", args.name)}))
//!             }
//!             other => Err(tool::not_found(other)),
//!         }
//!     }
//! }
//!
//! hanzo_node_sdk::export_tool!(Greeter);
//! ```
//!
//! Modules:
//! - [`provider`], [`tool`], [`api`]: the three plugin kinds (trait + export macro).
//! - [`log`], [`config`], [`kv`], [`tools`], [`llm`], [`jobs`], [`agents`]: the
//!   node's host interfaces.
//! - [`http`]: outbound HTTP over `wasi:http/outgoing-handler`, policed by the host.
//! - [`sse`], [`ndjson`]: incremental stream decoders for streamed HTTP bodies.
//! - [`openai`]: the OpenAI-compatible wire format shared by OpenAI-style providers.
//! - [`anthropic`], [`gemini`], [`ollama`]: the Anthropic Messages, Gemini
//!   `generateContent` and Ollama `/api/chat` wire formats.
//! - [`upstream`]: settings, sending and error mapping (HTTP statuses, transport
//!   failures, `retry-after`) shared by HTTP provider plugins.
//!
//! Host calls only work inside a component run by the node. The crate still
//! builds for native targets so that plugins can unit-test their pure logic
//! with `cargo test`; there, [`log`] writes to stderr and the other host
//! interfaces report that no host is present instead of calling it.

pub mod agents;
pub mod anthropic;
pub mod api;
pub mod config;
pub mod containers;
pub mod content;
pub mod gemini;
pub mod gpu;
pub mod http;
pub mod jobs;
pub mod kv;
pub mod llm;
pub mod log;
pub mod ndjson;
pub mod ollama;
pub mod openai;
pub mod provider;
pub mod sse;
pub mod tee;
pub mod tool;
pub mod tools;
pub mod upstream;
pub mod vectors;
mod wire;

/// The WIT package that holds the node's worlds and interfaces.
pub const WIT_PACKAGE: &str = "hanzo:node";

/// The version of the [`WIT_PACKAGE`] this SDK is built against (the
/// `package` line of `wit/since_v0.3.4/types.wit`). The bindings below spell it out
/// because `wit_bindgen::generate!` takes only literals; a test keeps them
/// in step with this constant.
pub const WIT_VERSION: &str = "0.3.4";

/// The full name of a world or interface of the node's package, as a
/// component names it: `wit_name("tool")` is `hanzo:node/tool@0.3.4`.
pub fn wit_name(item: &str) -> String {
    format!("{WIT_PACKAGE}/{item}@{WIT_VERSION}")
}

/// The `wasi` 0.2.12 bindings the SDK is built on, for direct use of
/// `wasi:http` or `wasi:io` where the SDK's wrappers are not enough.
pub use wasip2;

/// Bindings for the node's host interfaces, generated once and shared by the
/// provider, tool and api worlds (through `with:`), so every plugin kind sees
/// the same `log`, `config`, `kv`, `tools`, `llm`, `jobs`, `agents` and type definitions.
#[doc(hidden)]
pub mod wit {
    wit_bindgen::generate!({
        path: "../wit/since_v0.3.4",
        inline: "
            package hanzo:sdk;

            world imports {
                import hanzo:node/log@0.3.4;
                import hanzo:node/config@0.3.4;
                import hanzo:node/kv@0.3.4;
                import hanzo:node/fetch@0.3.4;
                import hanzo:node/tools@0.3.4;
                import hanzo:node/llm@0.3.4;
                import hanzo:node/jobs@0.3.4;
                import hanzo:node/agents@0.3.4;
                import hanzo:node/containers@0.3.4;
                import hanzo:node/vectors@0.3.4;
                import hanzo:node/tee@0.3.4;
                import hanzo:node/gpu@0.3.4;
                import hanzo:node/llm-types@0.3.4;
                import hanzo:node/tool-types@0.3.4;
            }
        ",
        world: "hanzo:sdk/imports",
        // The llm and tool types are only used by the worlds' exports, which
        // are generated elsewhere; generate them here anyway so they exist once.
        generate_unused_types: true,
        generate_all,
        additional_derives: [PartialEq],
    });
}

/// Message shown when a host interface is used outside a component.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) const NO_HOST: &str =
    "no Hanzo Node host: host interfaces are only available inside a WebAssembly component";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wit_names() {
        assert_eq!(wit_name("tool"), "hanzo:node/tool@0.3.4");
    }

    /// The version in the WIT files, and in every `hanzo:node/...@` name the
    /// bindings spell out, is [`WIT_VERSION`].
    #[test]
    fn wit_version_is_the_packages() {
        let package = include_str!("../../wit/since_v0.3.4/types.wit")
            .lines()
            .find_map(|l| l.trim().strip_prefix("package "))
            .expect("types.wit declares its package");
        assert_eq!(package, format!("{WIT_PACKAGE}@{WIT_VERSION};"));
        let prefix = format!("{WIT_PACKAGE}/");
        for (file, source) in [
            ("lib.rs", include_str!("lib.rs")),
            ("api.rs", include_str!("api.rs")),
            ("provider.rs", include_str!("provider.rs")),
            ("tool.rs", include_str!("tool.rs")),
        ] {
            let mut named = 0;
            for (at, _) in source.match_indices(&prefix) {
                // `hanzo:node/<item>@<version>`; a name without a version is
                // not this test's business.
                let rest = &source[at + prefix.len()..];
                let tail = rest.trim_start_matches(|c: char| c.is_ascii_lowercase() || c == '-');
                let item = &rest[..rest.len() - tail.len()];
                if let Some(versioned) = tail.strip_prefix('@') {
                    let version: String = versioned
                        .chars()
                        .take_while(|c| c.is_ascii_digit() || *c == '.')
                        .collect();
                    assert_eq!(version, WIT_VERSION, "{file}: {prefix}{item}");
                    named += 1;
                }
            }
            assert!(named > 0, "{file} names no versioned interface");
        }
    }
}
