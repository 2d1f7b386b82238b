//! `openai`: a provider for any OpenAI-compatible service.
//!
//! Settings (`[config]`, overridable by the operator):
//! - `base_url`: the API root, default `https://api.openai.com/v1`; its host
//!   must be in `permissions.http`.
//! - `organization`: sent as `OpenAI-Organization` when set.
//! - `connect_timeout_ms` (default 10000) and `read_timeout_ms` (default
//!   110000: the wait for the first byte, and between bytes of a stream).
//!
//! Secret `OPENAI_API_KEY`: sent as a bearer token when set. Local servers
//! (vLLM, llama.cpp, Ollama) need none, so an unset key sends no
//! `Authorization` header at all.

mod models;

use hanzo_node_sdk::http::{self, Method, Request, Response};
use hanzo_node_sdk::openai;
use hanzo_node_sdk::provider::{
    ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, ModelInfo, Provider,
    ProviderError,
};
use hanzo_node_sdk::{config, log};
use serde_json::Value;
use std::time::Duration;

const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
const API_KEY_SECRET: &str = "OPENAI_API_KEY";
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Just under the manifest's 120 s call limit, so a slow upstream is
/// reported as a timeout rather than the call being killed.
const DEFAULT_READ_TIMEOUT_MS: u64 = 110_000;

/// Largest chat or model-list response read into memory.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Embedding batches are large (floats as JSON text); the plugin's memory
/// limit is the real bound.
const MAX_EMBEDDINGS_BYTES: usize = 40 * 1024 * 1024;
/// How much of an error body is read to explain the error.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// The provider.
pub struct OpenAi;

/// The settings of one call.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    base_url: String,
    api_key: Option<String>,
    organization: Option<String>,
    connect_timeout: Duration,
    read_timeout: Duration,
}

impl Settings {
    /// Reads config and secrets. Read per call, not cached: the operator
    /// may change them and instances may be reused.
    fn load() -> Result<Settings, ProviderError> {
        let timeout = |key: &str, default: u64| {
            config::get_parsed::<u64>(key)
                .map(|v| Duration::from_millis(v.unwrap_or(default)))
                .map_err(ProviderError::Internal)
        };
        Ok(Settings {
            base_url: normalize_base_url(&config::get_or("base_url", DEFAULT_BASE_URL)),
            api_key: config::optional_secret(API_KEY_SECRET),
            organization: config::get("organization").filter(|o| !o.trim().is_empty()),
            connect_timeout: timeout("connect_timeout_ms", DEFAULT_CONNECT_TIMEOUT_MS)?,
            read_timeout: timeout("read_timeout_ms", DEFAULT_READ_TIMEOUT_MS)?,
        })
    }

    /// A request to `{base_url}{path}` with auth and timeouts.
    fn request(&self, method: Method, path: &str) -> Request {
        let mut request = Request::new(method, format!("{}{path}", self.base_url))
            .header("accept", "application/json")
            .connect_timeout(self.connect_timeout)
            .first_byte_timeout(self.read_timeout)
            .between_bytes_timeout(self.read_timeout);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        if let Some(org) = &self.organization {
            request = request.header("openai-organization", org);
        }
        request
    }

    /// Sends `request` and turns a non-2xx status into the matching error.
    fn send(&self, request: Request) -> Result<Response, ProviderError> {
        let what = format!("{} {}", http::method_name(request.method()), request.url());
        let response = request.send().map_err(|e| {
            log::warn!("{what}: {e}");
            openai::error_from_http(&e)
        })?;
        if response.is_success() {
            return Ok(response);
        }
        let status = response.status();
        let headers = response.headers().to_vec();
        // A body we cannot read still leaves the status to go by.
        let body = response
            .into_body()
            .read_up_to(MAX_ERROR_BYTES)
            .map(|(bytes, _)| bytes)
            .unwrap_or_default();
        let error = openai::error_from_response(status, &headers, &body);
        log::warn!("{what}: HTTP {status}: {}", error.message());
        Err(error)
    }

    fn post_json(&self, path: &str, body: &Value) -> Result<Response, ProviderError> {
        self.send(self.request(Method::Post, path).json(body))
    }
}

/// Trims trailing slashes so paths can be appended with their own `/`.
fn normalize_base_url(url: &str) -> String {
    url.trim().trim_end_matches('/').to_string()
}

/// The chat body for `request`, adjusted for the model family.
fn chat_body(request: &ChatRequest, stream: bool) -> Result<Value, ProviderError> {
    let mut body = openai::chat_request_body(request, stream)?;
    if models::wants_max_completion_tokens(&request.model)
        && let Some(map) = body.as_object_mut()
        && let Some(max) = map.remove("max_tokens")
    {
        // An explicit `max_completion_tokens` in `extra` wins.
        map.entry("max_completion_tokens").or_insert(max);
    }
    Ok(body)
}

fn read_body(response: Response, limit: usize) -> Result<Vec<u8>, ProviderError> {
    response
        .bytes(limit)
        .map_err(|e| openai::error_from_http(&e))
}

impl Provider for OpenAi {
    fn models() -> Result<Vec<ModelInfo>, ProviderError> {
        let settings = Settings::load()?;
        let response = settings.send(settings.request(Method::Get, "/models"))?;
        let entries = openai::parse_model_list(&read_body(response, MAX_RESPONSE_BYTES)?)?;
        let mut models: Vec<ModelInfo> = entries
            .into_iter()
            .filter(|entry| models::is_servable(&entry.id))
            .map(|entry| models::model_info(&entry.id, entry.context_length))
            .collect();
        models.sort_by(|a, b| a.id.cmp(&b.id));
        models.dedup_by(|a, b| a.id == b.id);
        Ok(models)
    }

    fn chat(request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        let settings = Settings::load()?;
        let body = chat_body(&request, false)?;
        let response = settings.post_json("/chat/completions", &body)?;
        openai::parse_chat_response(&read_body(response, MAX_RESPONSE_BYTES)?, &request.model)
    }

    fn stream_chat(request: ChatRequest) -> Result<Box<dyn ChatStream>, ProviderError> {
        let settings = Settings::load()?;
        let body = chat_body(&request, true)?;
        let response = settings.send(
            settings
                .request(Method::Post, "/chat/completions")
                .header("accept", "text/event-stream")
                .json(&body),
        )?;
        let is_sse = response
            .header("content-type")
            .is_some_and(|ct| ct.to_ascii_lowercase().starts_with("text/event-stream"));
        if !is_sse {
            // A server that ignores `stream` answers with one JSON document.
            let full = openai::parse_chat_response(
                &read_body(response, MAX_RESPONSE_BYTES)?,
                &request.model,
            )?;
            return Ok(Box::new(Once(Some(full.into()))));
        }
        Ok(Box::new(openai::SseChatStream::new(
            response.into_body(),
            request.model,
        )))
    }

    fn embed(request: EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        if request.inputs.is_empty() {
            return Ok(EmbedResponse {
                model: request.model,
                embeddings: Vec::new(),
                usage: None,
            });
        }
        let settings = Settings::load()?;
        let response =
            settings.post_json("/embeddings", &openai::embeddings_request_body(&request))?;
        openai::parse_embeddings_response(
            &read_body(response, MAX_EMBEDDINGS_BYTES)?,
            &request.model,
            request.inputs.len(),
        )
    }
}

/// A stream of one chunk, for servers that answer a stream request whole.
struct Once(Option<hanzo_node_sdk::provider::ChatChunk>);

impl ChatStream for Once {
    fn next(&mut self) -> Option<Result<hanzo_node_sdk::provider::ChatChunk, ProviderError>> {
        self.0.take().map(Ok)
    }
}

hanzo_node_sdk::export_provider!(OpenAi);

#[cfg(test)]
mod tests {
    use super::*;
    use hanzo_node_sdk::provider::Message;

    fn request(model: &str) -> ChatRequest {
        ChatRequest {
            model: model.into(),
            messages: vec![Message::user("hi")],
            tools: Vec::new(),
            tool_choice: None,
            temperature: None,
            top_p: None,
            max_tokens: Some(100),
            stop: Vec::new(),
            json_mode: false,
            extra: None,
        }
    }

    #[test]
    fn base_url_is_normalized() {
        assert_eq!(
            normalize_base_url(" http://localhost:8000/v1/ "),
            "http://localhost:8000/v1"
        );
        assert_eq!(normalize_base_url(DEFAULT_BASE_URL), DEFAULT_BASE_URL);
    }

    #[test]
    fn max_tokens_per_model_family() {
        let body = chat_body(&request("gpt-4o-mini"), false).unwrap();
        assert_eq!(body["max_tokens"], 100);
        assert!(body.get("max_completion_tokens").is_none());

        let body = chat_body(&request("o3-mini"), true).unwrap();
        assert!(body.get("max_tokens").is_none());
        assert_eq!(body["max_completion_tokens"], 100);
        assert_eq!(body["stream"], true);

        let mut r = request("gpt-5");
        r.extra = Some(r#"{"max_completion_tokens": 5}"#.into());
        assert_eq!(chat_body(&r, false).unwrap()["max_completion_tokens"], 5);
    }

    #[test]
    fn requests_carry_auth_only_with_a_key() {
        let mut settings = Settings {
            base_url: "http://127.0.0.1:8000/v1".into(),
            api_key: None,
            organization: None,
            connect_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(2),
        };
        let r = settings.request(Method::Get, "/models");
        assert_eq!(r.url(), "http://127.0.0.1:8000/v1/models");
        assert!(!format!("{r:?}").contains("authorization"));

        settings.api_key = Some("sk-test".into());
        settings.organization = Some("org-1".into());
        let debug = format!("{:?}", settings.request(Method::Get, "/models"));
        assert!(debug.contains("authorization"));
        assert!(debug.contains("openai-organization"));
    }
}
