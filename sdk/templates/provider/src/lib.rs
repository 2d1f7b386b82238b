//! `{{name}}`: an LLM provider for Hanzo Node speaking the OpenAI chat
//! completions API to `base_url` (any OpenAI-compatible server). The wire
//! format (request bodies, responses, SSE streams, errors) comes from
//! `hanzo_node_sdk::openai`; this file holds the settings and the calls.

use hanzo_node_sdk::config;
use hanzo_node_sdk::http::{Method, Request, Response};
use hanzo_node_sdk::openai;
use hanzo_node_sdk::provider::{
    Capabilities, ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, ModelInfo, Provider,
    ProviderError,
};
use hanzo_node_sdk::upstream::{self, Timeouts};

/// Largest response read into memory.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;

pub struct Plugin;

/// The settings of one call, read per call: the key is asked for each time
/// (the operator may rotate it); `config::get` answers settings from memory
/// after an instance's first call (they are fixed for its life).
struct Settings {
    base_url: String,
    api_key: Option<String>,
    timeouts: Timeouts,
}

impl Settings {
    fn load() -> Result<Settings, ProviderError> {
        Ok(Settings {
            base_url: upstream::normalize_base_url(&config::get_or(
                "base_url",
                "https://api.openai.com/v1",
            )),
            api_key: config::optional_secret("API_KEY"),
            timeouts: Timeouts::from_config(5_000, 110_000)?,
        })
    }

    fn request(&self, method: Method, path: &str) -> Request {
        let mut r = Request::new(method, format!("{}/{path}", self.base_url));
        if let Some(key) = &self.api_key {
            r = r.header("authorization", format!("Bearer {key}"));
        }
        self.timeouts.apply(r)
    }

    /// Sends `request`; an upstream error status becomes the provider error
    /// the router acts on (rate limit, unavailable, bad request, ...).
    fn send(&self, request: Request) -> Result<Response, ProviderError> {
        upstream::send(request, openai::error_from_response)
    }
}

impl Provider for Plugin {
    fn models() -> Result<Vec<ModelInfo>, ProviderError> {
        let s = Settings::load()?;
        let response = s.send(s.request(Method::Get, "models"))?;
        let body = upstream::read_body(response, MAX_RESPONSE_BYTES)?;
        Ok(openai::parse_model_list(&body)?
            .into_iter()
            .map(|m| ModelInfo {
                id: m.id,
                capabilities: Capabilities::CHAT | Capabilities::STREAMING,
                context_length: m.context_length.unwrap_or(0),
                max_output_tokens: None,
                // Known prices let the router account spend and budgets.
                input_price_per_mtok: None,
                output_price_per_mtok: None,
            })
            .collect())
    }

    fn chat(request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        let s = Settings::load()?;
        let body = openai::chat_request_body(&request, false)?;
        let response = s.send(s.request(Method::Post, "chat/completions").json(&body))?;
        let answer = upstream::read_body(response, MAX_RESPONSE_BYTES)?;
        openai::parse_chat_response(&answer, &request.model)
    }

    fn stream_chat(request: ChatRequest) -> Result<Box<dyn ChatStream>, ProviderError> {
        let s = Settings::load()?;
        let body = openai::chat_request_body(&request, true)?;
        let response = s.send(
            s.request(Method::Post, "chat/completions")
                .header("accept", "text/event-stream")
                .json(&body),
        )?;
        if !upstream::is_event_stream(&response) {
            // A server that ignores `stream` answers with one JSON document.
            let full = openai::parse_chat_response(
                &upstream::read_body(response, MAX_RESPONSE_BYTES)?,
                &request.model,
            )?;
            return Ok(Box::new(upstream::Once(Some(full.into()))));
        }
        Ok(Box::new(openai::SseChatStream::new(
            response.into_body(),
            request.model,
        )))
    }

    fn embed(request: EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let s = Settings::load()?;
        let body = openai::embeddings_request_body(&request);
        let response = s.send(s.request(Method::Post, "embeddings").json(&body))?;
        let answer = upstream::read_body(response, MAX_RESPONSE_BYTES)?;
        openai::parse_embeddings_response(&answer, &request.model, request.inputs.len())
    }
}

hanzo_node_sdk::export_provider!(Plugin);
