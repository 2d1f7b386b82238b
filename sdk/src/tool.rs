//! Tool plugins (`hanzo:node/tool` world).
//!
//! Implement [`Toolbox`] on a type and export it with
//! [`export_tool!`](crate::export_tool). The host validates arguments
//! against each tool's `parameters` schema before [`Toolbox::invoke`] runs,
//! but a plugin should still decode them defensively ([`parse_args`]).

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::wit::hanzo::node::tool_types::{ToolError, ToolSpec};

/// A set of tools.
pub trait Toolbox {
    /// The tools this plugin offers.
    fn describe() -> Vec<ToolSpec>;

    /// Runs tool `name` with `arguments` (JSON text); returns JSON text.
    fn invoke(name: &str, arguments: &str) -> Result<String, ToolError>;
}

/// A [`ToolSpec`] from JSON Schema values.
pub fn spec(
    name: &str,
    description: &str,
    parameters: serde_json::Value,
    result: Option<serde_json::Value>,
) -> ToolSpec {
    ToolSpec {
        name: name.to_string(),
        description: description.to_string(),
        parameters: parameters.to_string(),
        result: result.map(|r| r.to_string()),
    }
}

/// Decodes the arguments; a mismatch is [`ToolError::InvalidArguments`] with
/// serde's message, which names the offending field.
pub fn parse_args<T: DeserializeOwned>(arguments: &str) -> Result<T, ToolError> {
    serde_json::from_str(arguments).map_err(|e| ToolError::InvalidArguments(e.to_string()))
}

/// Encodes a result value as the JSON text `invoke` returns.
pub fn to_result<T: Serialize + ?Sized>(value: &T) -> Result<String, ToolError> {
    serde_json::to_string(value)
        .map_err(|e| ToolError::Failed(format!("cannot encode the result: {e}")))
}

/// The error for a tool name this plugin does not have.
pub fn not_found(name: &str) -> ToolError {
    ToolError::NotFound(format!("no tool named `{name}` in this plugin"))
}

/// The error for a tool that ran and failed.
pub fn failed(message: impl Into<String>) -> ToolError {
    ToolError::Failed(message.into())
}

impl ToolError {
    /// The error's message, whatever its kind.
    pub fn message(&self) -> &str {
        match self {
            ToolError::NotFound(m)
            | ToolError::InvalidArguments(m)
            | ToolError::Failed(m)
            | ToolError::PluginFailed(m)
            | ToolError::Denied(m) => m,
        }
    }
}

/// Generated bindings of the `tool` world; used by the export macro.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit/since_v0.3.4",
        world: "hanzo:node/tool",
        with: {
            "hanzo:node/log@0.3.4": crate::wit::hanzo::node::log,
            "hanzo:node/config@0.3.4": crate::wit::hanzo::node::config,
            "hanzo:node/kv@0.3.4": crate::wit::hanzo::node::kv,
            "hanzo:node/fetch@0.3.4": crate::wit::hanzo::node::fetch,
            "hanzo:node/containers@0.3.4": crate::wit::hanzo::node::containers,
            "hanzo:node/vectors@0.3.4": crate::wit::hanzo::node::vectors,
            "hanzo:node/tee@0.3.4": crate::wit::hanzo::node::tee,
            "hanzo:node/gpu@0.3.4": crate::wit::hanzo::node::gpu,
            "hanzo:node/tool-types@0.3.4": crate::wit::hanzo::node::tool_types,
            "wasi:http/types@0.2.12": wasip2::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasip2::http::outgoing_handler,
            "wasi:io/poll@0.2.12": wasip2::io::poll,
            "wasi:io/error@0.2.12": wasip2::io::error,
            "wasi:io/streams@0.2.12": wasip2::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasip2::clocks::monotonic_clock,
        },
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "hanzo_node_sdk::tool::bindings",
    });
}

impl<T: Toolbox> bindings::exports::hanzo::node::toolbox::Guest for T {
    fn describe() -> Vec<ToolSpec> {
        T::describe()
    }

    fn invoke(name: String, arguments: String) -> Result<String, ToolError> {
        T::invoke(&name, &arguments)
    }
}

/// Exports a [`Toolbox`] implementation as the component's
/// `hanzo:node/toolbox` interface: `export_tool!(MyTools);` at the crate
/// root of a `cdylib` built for `wasm32-wasip2`.
///
/// On other targets it expands to nothing, so the crate's logic can be
/// unit-tested natively.
#[macro_export]
macro_rules! export_tool {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::tool::bindings::export!($ty with_types_in $crate::tool::bindings);
        // Natively nothing is exported; naming the impl keeps the plugin's
        // code from being reported as dead in native builds and tests.
        #[cfg(not(target_arch = "wasm32"))]
        const _: () = {
            let _ = <$ty as $crate::tool::Toolbox>::invoke;
        };
    };
}
