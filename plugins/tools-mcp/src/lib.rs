//! `tools-mcp`: the tools of the MCP servers the operator lists, as the
//! node's tools. An MCP client over the streamable HTTP transport
//! (revision 2025-06-18), reaching each server through the node's policed
//! outbound path: only hosts the operator granted (`allow_hosts`); and over
//! stdio ([`stdio`]), running each such server as a container process of an
//! image the operator granted (`containers`), kept between calls.
//!
//! A server `files`'s tool `read` is the node's `files__read` ([`names`]);
//! its description and schemas are carried over ([`results`]); a call is
//! `tools/call` in the server's session kept in kv ([`sessions`]), its
//! structured content the result. [`settings`] reads the server list,
//! [`jsonrpc`] and [`answer`] are the wire format, [`client`] a session,
//! [`bridge`] the plugin's exports over traits the host bindings below
//! implement.

pub mod answer;
pub mod bridge;
pub mod client;
pub mod jsonrpc;
pub mod names;
pub mod results;
pub mod sessions;
pub mod settings;
pub mod stdio;

use client::{Exchange, Reply, Transport, Verb};
use hanzo_node_sdk::config;
use hanzo_node_sdk::containers::{self, RunSpec};
use hanzo_node_sdk::http::{self, HttpError, Method, Request};
use hanzo_node_sdk::kv::{self, KvError};
use hanzo_node_sdk::tool::{ToolError, ToolSpec, Toolbox};
use std::time::Duration;

/// The plugin.
pub struct McpTools;

impl Toolbox for McpTools {
    fn describe() -> Vec<ToolSpec> {
        bridge::describe(&Host)
    }

    fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
        bridge::invoke(&Host, name, arguments)
    }
}

hanzo_node_sdk::export_tool!(McpTools);

/// The node this plugin runs in.
struct Host;

impl Transport for Host {
    type Body = http::Body;

    fn send(&self, exchange: Exchange) -> Result<Reply<http::Body>, HttpError> {
        let method = match exchange.verb {
            Verb::Post => Method::Post,
            Verb::Delete => Method::Delete,
        };
        let mut request = Request::new(method, exchange.url)
            .connect_timeout(exchange.connect_timeout)
            .first_byte_timeout(exchange.read_timeout)
            .between_bytes_timeout(exchange.read_timeout)
            .body(exchange.body);
        for (name, value) in exchange.headers {
            request = request.header(name, value);
        }
        // Opened, not fetched: an event stream is read only up to the answer.
        let response = request.open(client::MAX_ANSWER_BYTES)?;
        Ok(Reply {
            status: response.status(),
            headers: response.headers().to_vec(),
            body: response.into_body(),
        })
    }

    fn nonce(&self) -> u64 {
        #[cfg(target_arch = "wasm32")]
        return hanzo_node_sdk::wasip2::random::random::get_random_u64();
        // Natively there is no host, and no session to share.
        #[cfg(not(target_arch = "wasm32"))]
        0
    }
}

impl sessions::Store for Host {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        kv::get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), KvError> {
        kv::set(key, value)
    }
}

/// A stdio server's process, held for this call.
struct ContainerPipe(containers::Process);

impl stdio::Pipe for ContainerPipe {
    fn fresh(&self) -> bool {
        self.0.fresh()
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.0.write(bytes).map_err(|e| e.message())
    }

    fn read(&mut self, max: u32, wait: Duration) -> Result<Option<Vec<u8>>, String> {
        let wait = u32::try_from(wait.as_millis()).unwrap_or(u32::MAX);
        self.0.read(max, wait).map_err(|e| e.message())
    }

    fn ended(&self) -> String {
        let stderr = self.0.stderr_tail();
        let stderr = String::from_utf8_lossy(&stderr);
        let last = stderr.trim_end().lines().rev().take(5).collect::<Vec<_>>();
        let code = match self.0.exit_code() {
            Some(code) => format!("exit code {code}"),
            None => "still running".into(),
        };
        match last.is_empty() {
            true => code,
            false => format!(
                "{code}; stderr: {}",
                last.into_iter().rev().collect::<Vec<_>>().join(" / ")
            ),
        }
    }

    fn stop(self: Box<Self>) {
        self.0.stop();
    }
}

impl bridge::Node for Host {
    fn open_process(
        &self,
        key: &str,
        server: &settings::Stdio,
        env: Vec<(String, String)>,
    ) -> Result<Box<dyn stdio::Pipe>, client::ClientError> {
        let spec = RunSpec {
            command: server.command.clone(),
            env,
            memory_mb: server.memory_mb,
            cpu_millis: server.cpu_millis,
            pids: server.pids,
            network: server.network,
            ..RunSpec::image(server.image.clone())
        };
        let process = containers::Process::open(key, &spec, server.idle_ms)
            .map_err(|e| client::ClientError::Process(e.message()))?;
        Ok(Box::new(ContainerPipe(process)))
    }

    fn setting(&self, key: &str) -> Option<String> {
        config::get(key)
    }

    fn secret(&self, name: &str) -> Result<String, String> {
        match config::secret(name) {
            Ok(value) if !value.is_empty() => Ok(value),
            Ok(_) => Err(format!("secret `{name}` is empty")),
            Err(e) => Err(e.message()),
        }
    }
}
