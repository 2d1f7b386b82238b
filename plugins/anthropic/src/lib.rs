//! `anthropic`: a provider for Anthropic's Claude models over the Messages
//! API. The wire format is [`hanzo_node_sdk::anthropic`]; this crate holds
//! the settings, the HTTP calls and the model table.
//!
//! Settings (`[config]`, overridable by the operator):
//! - `base_url`: the API root, default `https://api.anthropic.com` (requests
//!   go to `{base_url}/v1/messages` and `{base_url}/v1/models`); its host
//!   must be in `permissions.http`.
//! - `default_max_tokens` (default 4096): the `max_tokens` sent when a
//!   request sets none, since the API requires it.
//! - `anthropic_version` (default `2023-06-01`) and `anthropic_beta` (sent
//!   as `anthropic-beta` when set).
//! - `connect_timeout_ms` (default 10000) and `read_timeout_ms` (default
//!   110000: the wait for the first byte, and between bytes of a stream).
//!
//! Secret `ANTHROPIC_API_KEY`: sent as `x-api-key`.
//!
//! Anthropic has no embeddings API: `embed` is a bad-request error.

mod models;

use hanzo_node_sdk::anthropic;
use hanzo_node_sdk::config;
use hanzo_node_sdk::http::{Method, Request};
use hanzo_node_sdk::provider::{
    ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, ModelInfo, Provider,
    ProviderError,
};
use hanzo_node_sdk::upstream::{self, Timeouts};

const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
const API_KEY_SECRET: &str = "ANTHROPIC_API_KEY";
const DEFAULT_MAX_TOKENS: u32 = 4096;
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Just under the manifest's 120 s call limit, so a slow upstream is
/// reported as a timeout rather than the call being killed.
const DEFAULT_READ_TIMEOUT_MS: u64 = 110_000;
/// Largest chat or model-list response read into memory.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Model-list pages followed at most (1000 models each).
const MAX_MODEL_PAGES: usize = 10;

/// The provider.
pub struct Anthropic;

/// The settings of one call.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    base_url: String,
    api_key: Option<String>,
    version: String,
    beta: Option<String>,
    default_max_tokens: u32,
    timeouts: Timeouts,
}

impl Settings {
    /// Reads config and secrets, per call: the operator may change them.
    fn load() -> Result<Settings, ProviderError> {
        Ok(Settings {
            base_url: upstream::normalize_base_url(&config::get_or("base_url", DEFAULT_BASE_URL)),
            api_key: config::optional_secret(API_KEY_SECRET),
            version: config::get_or("anthropic_version", anthropic::API_VERSION),
            beta: config::get("anthropic_beta").filter(|b| !b.trim().is_empty()),
            default_max_tokens: upstream::setting("default_max_tokens", DEFAULT_MAX_TOKENS)?,
            timeouts: Timeouts::from_config(DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS)?,
        })
    }

    /// A request to `{base_url}{path}` with the API's headers, accepting
    /// JSON.
    fn request(&self, method: Method, path: &str) -> Request {
        self.request_accepting(method, path, "application/json")
    }

    /// A request to `{base_url}{path}` with the API's headers.
    fn request_accepting(&self, method: Method, path: &str, accept: &str) -> Request {
        let mut request = Request::new(method, format!("{}{path}", self.base_url))
            .header("accept", accept)
            .header("anthropic-version", &self.version);
        if let Some(key) = &self.api_key {
            request = request.header("x-api-key", key);
        }
        if let Some(beta) = &self.beta {
            request = request.header("anthropic-beta", beta);
        }
        self.timeouts.apply(request)
    }
}

impl Provider for Anthropic {
    fn models() -> Result<Vec<ModelInfo>, ProviderError> {
        let settings = Settings::load()?;
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_MODEL_PAGES {
            let path = match &after {
                None => "/v1/models?limit=1000".to_string(),
                Some(id) => format!(
                    "/v1/models?limit=1000&after_id={}",
                    upstream::encode_component(id)
                ),
            };
            let (page, next) = anthropic::parse_model_list(&upstream::fetch(
                settings.request(Method::Get, &path),
                MAX_RESPONSE_BYTES,
                anthropic::error_from_response,
            )?)?;
            out.extend(page.into_iter().map(|m| models::model_info(&m.id)));
            match next {
                Some(id) => after = Some(id),
                None => break,
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.dedup_by(|a, b| a.id == b.id);
        Ok(out)
    }

    fn chat(request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        let settings = Settings::load()?;
        let body = anthropic::messages_request_body(&request, settings.default_max_tokens, false)?;
        let answer = upstream::fetch(
            settings.request(Method::Post, "/v1/messages").json(&body),
            MAX_RESPONSE_BYTES,
            anthropic::error_from_response,
        )?;
        anthropic::parse_messages_response(&answer, &request.model)
    }

    fn stream_chat(request: ChatRequest) -> Result<Box<dyn ChatStream>, ProviderError> {
        let settings = Settings::load()?;
        let body = anthropic::messages_request_body(&request, settings.default_max_tokens, true)?;
        let response = upstream::send(
            settings
                .request_accepting(Method::Post, "/v1/messages", "text/event-stream")
                .json(&body),
            anthropic::error_from_response,
        )?;
        if !upstream::is_event_stream(&response) {
            // A proxy that ignores `stream` answers with one JSON document.
            let full = anthropic::parse_messages_response(
                &upstream::read_body(response, MAX_RESPONSE_BYTES)?,
                &request.model,
            )?;
            return Ok(Box::new(upstream::Once(Some(full.into()))));
        }
        Ok(Box::new(anthropic::SseMessageStream::new(
            response.into_body(),
            request.model,
        )))
    }

    fn count_tokens(request: ChatRequest) -> Result<u32, ProviderError> {
        let settings = Settings::load()?;
        let body = anthropic::count_tokens_request_body(&request)?;
        anthropic::parse_count_tokens_response(&upstream::fetch(
            settings
                .request(Method::Post, "/v1/messages/count_tokens")
                .json(&body),
            MAX_RESPONSE_BYTES,
            anthropic::error_from_response,
        )?)
    }

    fn embed(request: EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        Err(ProviderError::BadRequest(format!(
            "model `{}`: Anthropic has no embeddings API (it recommends Voyage AI); \
             route embeddings to another provider",
            request.model
        )))
    }
}

hanzo_node_sdk::export_provider!(Anthropic);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings() -> Settings {
        Settings {
            base_url: "https://api.anthropic.com".into(),
            api_key: Some("sk-ant-secret".into()),
            version: anthropic::API_VERSION.into(),
            beta: Some("prompt-caching-2024-07-31".into()),
            default_max_tokens: 4096,
            timeouts: Timeouts {
                connect: Duration::from_secs(1),
                read: Duration::from_secs(2),
            },
        }
    }

    #[test]
    fn requests_carry_the_api_headers() {
        let r = settings().request(Method::Post, "/v1/messages");
        assert_eq!(r.url(), "https://api.anthropic.com/v1/messages");
        let shown = format!("{r:?}");
        assert!(shown.contains("anthropic-version"));
        assert!(shown.contains("2023-06-01"));
        assert!(shown.contains("x-api-key"));
        assert!(shown.contains("anthropic-beta"));
        assert!(
            !shown.contains("sk-ant-secret"),
            "the key is redacted: {shown}"
        );
        let mut s = settings();
        s.api_key = None;
        assert!(!format!("{:?}", s.request(Method::Get, "/v1/models")).contains("x-api-key"));
    }

    #[test]
    fn settings_have_defaults_without_a_host() {
        let s = Settings::load().unwrap();
        assert_eq!(s.base_url, DEFAULT_BASE_URL);
        assert_eq!(s.version, "2023-06-01");
        assert_eq!(s.default_max_tokens, 4096);
        assert_eq!(s.api_key, None);
    }

    #[test]
    fn embeddings_are_refused() {
        let e = Anthropic::embed(EmbedRequest {
            model: "claude-sonnet-4-5".into(),
            inputs: vec!["x".into()],
            dimensions: None,
        })
        .unwrap_err();
        assert!(matches!(e, ProviderError::BadRequest(m) if m.contains("no embeddings")));
    }
}
