//! `api-openai`: the node's LLM router behind the two APIs that clients
//! speak, mounted at `/v1`.
//!
//! | Method | Path                   | API                                         |
//! |--------|------------------------|---------------------------------------------|
//! | POST   | `/v1/chat/completions` | OpenAI chat completions, JSON or SSE stream |
//! | GET    | `/v1/models`           | OpenAI model list (Anthropic's shape when the client sends `anthropic-version`) |
//! | GET    | `/v1/models/{id}`      | one model                                   |
//! | POST   | `/v1/embeddings`       | OpenAI embeddings (`float` or `base64`)     |
//! | POST   | `/v1/messages`         | Anthropic Messages, JSON or SSE stream      |
//! | POST   | `/v1/responses`        | OpenAI Responses, JSON or SSE stream; stored per tenant |
//! | GET, DELETE | `/v1/responses/{id}` | a stored response                        |
//! | POST   | `/v1/completions`      | legacy OpenAI completions, mapped onto chat |
//! | POST   | `/v1/messages/count_tokens` | Anthropic token count (a BPE estimate) |
//!
//! Every endpoint talks only to `hanzo:node/llm`, so any model alias the
//! router serves works through either API, whatever the upstream speaks.
//! Errors come in the API's own format (`{"error":{"message","type","param","code"}}`
//! or `{"type":"error","error":{"type","message"}}`).
//!
//! Request headers: `cache-control: no-cache` (or `no-store`) or
//! `x-hanzo-cache: bypass` skip the router's response cache. Response
//! headers: `x-hanzo-deployment`, `x-hanzo-provider`, `x-hanzo-model` (the
//! upstream model), `x-hanzo-cache: hit|miss`, `x-hanzo-attempts` and,
//! when known, `x-hanzo-cost-usd`.
//!
//! The wire formats are pure modules ([`openai`], [`anthropic`]) tested
//! natively; [`server`] routes over traits that the host bindings below
//! implement.

pub mod anthropic;
pub mod completions;
pub mod error;
pub mod openai;
pub mod parts;
pub mod plain_chat;
pub mod responses;
pub mod server;
pub mod tokens;
pub mod wire;

#[cfg(test)]
mod fuzz;

use hanzo_node_sdk::api::{self, Handler, IncomingRequest, ResponseOutparam};
use hanzo_node_sdk::llm::{
    self, CallOptions, Capabilities, ChatChunk, ChatRequest, ChatResult, EmbedRequest, EmbedResult,
    LlmError, Model, Route,
};
use server::{BodySink, ChunkStream, Node, RequestHeaders, Responder};

/// The names of a model's capabilities, as `/v1/models` lists them.
pub fn capability_names(capabilities: Capabilities) -> Vec<&'static str> {
    [
        (Capabilities::CHAT, "chat"),
        (Capabilities::STREAMING, "streaming"),
        (Capabilities::TOOLS, "tools"),
        (Capabilities::VISION, "vision"),
        (Capabilities::JSON_MODE, "json_mode"),
        (Capabilities::EMBEDDINGS, "embeddings"),
    ]
    .into_iter()
    .filter(|(flag, _)| capabilities.contains(*flag))
    .map(|(_, name)| name)
    .collect()
}

/// The HTTP handler.
pub struct ApiOpenAi;

impl Handler for ApiOpenAi {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = api::method_name(&request.method()).to_string();
        let (path, _query) = api::path_and_query(&request);
        let fields = api::Headers::of(&request);
        let headers = RequestHeaders {
            cache_control: fields.get("cache-control"),
            hanzo_cache: fields.get("x-hanzo-cache"),
            anthropic_version: fields.get("anthropic-version"),
        };
        server::handle(
            &HostNode,
            HostResponder(out),
            &method,
            &path,
            &headers,
            || api::read_body_with(&request, &fields, server::MAX_BODY_BYTES),
        );
    }
}

hanzo_node_sdk::export_api!(ApiOpenAi);

/// Where a stored response lives in this plugin's kv, which the host keeps
/// per tenant.
fn response_key(id: &str) -> String {
    format!("responses/{id}")
}

/// The router of the host (`hanzo:node/llm`).
struct HostNode;

impl Node for HostNode {
    type Stream = llm::ChatStream;

    fn models(&self) -> Result<Vec<Model>, LlmError> {
        llm::models()
    }

    fn chat(&self, request: &ChatRequest, options: &CallOptions) -> Result<ChatResult, LlmError> {
        llm::chat(request, options)
    }

    fn stream_chat(
        &self,
        request: &ChatRequest,
        options: &CallOptions,
    ) -> Result<llm::ChatStream, LlmError> {
        llm::stream_chat(request, options)
    }

    fn embed(
        &self,
        request: &EmbedRequest,
        options: &CallOptions,
    ) -> Result<EmbedResult, LlmError> {
        llm::embed(request, options)
    }

    fn count_tokens(&self, request: &ChatRequest) -> Result<u32, LlmError> {
        llm::count_tokens(request)
    }

    fn now(&self) -> u64 {
        #[cfg(target_arch = "wasm32")]
        return hanzo_node_sdk::wasip2::clocks::wall_clock::now().seconds;
        #[cfg(not(target_arch = "wasm32"))]
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }

    fn load_response(&self, id: &str) -> Result<Option<String>, String> {
        hanzo_node_sdk::kv::get_string(&response_key(id)).map_err(|e| e.message())
    }

    fn save_response(&self, id: &str, record: &str) -> Result<(), String> {
        hanzo_node_sdk::kv::set_string(&response_key(id), record).map_err(|e| e.message())
    }

    fn delete_response(&self, id: &str) -> Result<bool, String> {
        hanzo_node_sdk::kv::delete(&response_key(id)).map_err(|e| e.message())
    }

    fn stored_responses(&self, limit: u32) -> Result<Vec<String>, String> {
        let keys =
            hanzo_node_sdk::kv::list_keys(&response_key(""), limit).map_err(|e| e.message())?;
        Ok(keys
            .iter()
            .filter_map(|k| k.strip_prefix(&response_key("")).map(str::to_string))
            .collect())
    }

    fn random(&self) -> [u64; 3] {
        #[cfg(target_arch = "wasm32")]
        {
            // One host call for all 24 bytes.
            let bytes = hanzo_node_sdk::wasip2::random::random::get_random_bytes(24);
            let word = |i: usize| {
                bytes
                    .get(i * 8..i * 8 + 8)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u64::from_le_bytes)
            };
            [word(0), word(1), word(2)]
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            // Natively (tests only) ids need not be unpredictable.
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            [nanos, nanos.rotate_left(21), nanos.rotate_left(42)]
        }
    }
}

impl ChunkStream for llm::ChatStream {
    fn route(&self) -> Route {
        llm::ChatStream::route(self)
    }

    fn next(&mut self) -> Option<Result<ChatChunk, LlmError>> {
        llm::ChatStream::next(self)
    }

    fn ready(&self) -> bool {
        llm::ChatStream::ready(self)
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
    fn write(&mut self, bytes: &[u8]) -> bool {
        match api::BodyWriter::write(self, bytes) {
            Ok(()) => true,
            Err(e) => {
                hanzo_node_sdk::log::debug(&format!("client gone: {e}"));
                false
            }
        }
    }

    fn finish(self) {
        if let Err(e) = api::BodyWriter::finish(self) {
            hanzo_node_sdk::log::debug(&format!("finishing the stream failed: {e}"));
        }
    }
}
