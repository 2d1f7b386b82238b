//! `api-mcp`: the node's tools for MCP clients, over MCP's streamable HTTP
//! transport (protocol revision 2025-06-18) at `/mcp`.
//!
//! | MCP method                  | Answer                                                  |
//! |-----------------------------|---------------------------------------------------------|
//! | `initialize`                | protocol 2025-06-18, the `tools` capability; a session (`Mcp-Session-Id`) |
//! | `notifications/initialized` | 202 (as every notification)                             |
//! | `ping`                      | `{}`                                                    |
//! | `tools/list`                | the tools the caller's tenant may use, with `inputSchema` and, for an object result, `outputSchema` |
//! | `tools/call`                | `content` (the result as text) and `structuredContent` (an object result); `isError` when the tool refused its arguments or failed; progress before the answer when asked for |
//!
//! Errors are JSON-RPC errors: -32700 (not JSON), -32600 (not a message,
//! a batch), -32601 (another method), -32602 (bad params, an unknown tool),
//! -32603 (the plugin lacks a grant, the store failed), -32000 (a header
//! missing or wrong), -32001 (no such session: 404).
//!
//! [`jsonrpc`] parses and encodes the messages, [`session`] keeps the
//! sessions in kv, [`tools`] shapes the node's tools and their results as
//! MCP's, and [`server`] is the transport, over traits that the host
//! bindings below implement.

pub mod jsonrpc;
pub mod server;
pub mod session;
pub mod tools;

#[cfg(test)]
mod fuzz;

use hanzo_node_sdk::api::{self, Handler, IncomingRequest, ResponseOutparam};
use hanzo_node_sdk::kv::{self, KvError};
use hanzo_node_sdk::tools::{ToolError, ToolInfo};
use server::{BodySink, Responder};

/// The HTTP handler.
pub struct ApiMcp;

impl Handler for ApiMcp {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = api::method_name(&request.method()).to_string();
        let (path, _query) = api::path_and_query(&request);
        let headers = api::Headers::of(&request);
        let accept = headers.get("accept");
        let content_type = headers.get("content-type");
        let session_id = headers.get("mcp-session-id");
        let protocol_version = headers.get("mcp-protocol-version");
        server::handle(
            &HostNode,
            HostResponder(out),
            &server::Request {
                method: &method,
                path: &path,
                accept: accept.as_deref(),
                content_type: content_type.as_deref(),
                session_id: session_id.as_deref(),
                protocol_version: protocol_version.as_deref(),
            },
            || api::read_body_with(&request, &headers, server::MAX_BODY_BYTES),
        );
    }
}

hanzo_node_sdk::export_api!(ApiMcp);

/// The node this plugin runs in: the host's `tools`, and its `kv` for the
/// sessions.
struct HostNode;

impl tools::Catalog for HostNode {
    fn list(&self) -> Result<Vec<ToolInfo>, ToolError> {
        hanzo_node_sdk::tools::list()
    }

    fn invoke(&self, name: &str, arguments: &str) -> Result<String, ToolError> {
        hanzo_node_sdk::tools::invoke(name, arguments)
    }
}

impl session::Store for HostNode {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        kv::get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        kv::set(key, value)
    }

    fn delete(&self, key: &str) -> Result<bool, KvError> {
        kv::delete(key)
    }

    fn list_keys(&self, prefix: &str, limit: u32) -> Result<Vec<String>, KvError> {
        kv::list_keys(prefix, limit)
    }

    fn now(&self) -> u64 {
        #[cfg(target_arch = "wasm32")]
        return hanzo_node_sdk::wasip2::clocks::wall_clock::now().seconds;
        #[cfg(not(target_arch = "wasm32"))]
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn random_bytes(&self) -> [u8; session::RANDOM_BYTES] {
        // wasi:random's `get-random-bytes` is the host's cryptographically
        // secure generator.
        #[cfg(target_arch = "wasm32")]
        {
            let random = hanzo_node_sdk::wasip2::random::random::get_random_bytes(
                session::RANDOM_BYTES as u64,
            );
            std::array::from_fn(|i| random.get(i).copied().unwrap_or_default())
        }
        // Natively there is no host, and no kv to keep a session in either.
        #[cfg(not(target_arch = "wasm32"))]
        [0; session::RANDOM_BYTES]
    }
}

/// The `wasi:http` response.
struct HostResponder(ResponseOutparam);

impl Responder for HostResponder {
    type Body = api::BodyWriter;

    fn respond(self, status: u16, headers: &[(String, String)], body: &[u8]) {
        api::respond(self.0, status, headers, body);
    }

    fn stream(self, status: u16, headers: &[(String, String)]) -> api::BodyWriter {
        api::respond_streaming(self.0, status, headers)
    }
}

impl BodySink for api::BodyWriter {
    fn write(&mut self, bytes: &[u8]) {
        if let Err(e) = api::BodyWriter::write(self, bytes) {
            hanzo_node_sdk::log::debug(&format!("client gone: {e}"));
        }
    }

    fn finish(self) {
        if let Err(e) = api::BodyWriter::finish(self) {
            hanzo_node_sdk::log::debug(&format!("finishing the stream failed: {e}"));
        }
    }
}
