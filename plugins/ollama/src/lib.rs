//! `ollama`: a provider for an Ollama server over its native API
//! (`/api/chat` with NDJSON streaming, `/api/embed`, `/api/tags`,
//! `/api/show`). The wire format is [`hanzo_node_sdk::ollama`]; this crate
//! holds the settings and the HTTP calls.
//!
//! Settings (`[config]`, overridable by the operator):
//! - `base_url`: the server, default `http://127.0.0.1:11434`. The host
//!   refuses loopback and private addresses unless the address itself is
//!   granted, so the manifest grants `127.0.0.1:11434`; a server elsewhere
//!   needs its `host:port` in `allow_hosts`.
//! - `num_ctx`: the context window to load models with (`options.num_ctx`);
//!   also what `models` reports as the context length when set.
//! - `keep_alive`: how long a model stays loaded after a call (`"5m"`, `-1`).
//! - `truncate`: `false` makes Ollama refuse a conversation longer than the
//!   context window (a context-too-long error the router can act on)
//!   instead of silently dropping its oldest messages.
//! - `show_details` (default true): ask `/api/show` for each model's
//!   capabilities and context window when listing models.
//! - `connect_timeout_ms` (default 5000) and `read_timeout_ms` (default
//!   110000: the wait for the first byte, which includes loading the model,
//!   and between bytes of a stream).
//!
//! Secret `OLLAMA_API_KEY`: sent as a bearer token when set (ollama.com);
//! a local server needs none.

use hanzo_node_sdk::http::{Method, Request};
use hanzo_node_sdk::ollama::{self, ChatDefaults};
use hanzo_node_sdk::provider::{
    ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, ModelInfo, Provider,
    ProviderError,
};
use hanzo_node_sdk::upstream::{self, Timeouts};
use hanzo_node_sdk::{config, log};

const DEFAULT_BASE_URL: &str = "http://127.0.0.1:11434";
const API_KEY_SECRET: &str = "OLLAMA_API_KEY";
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Just under the manifest's 120 s call limit, so a slow upstream is
/// reported as a timeout rather than the call being killed.
const DEFAULT_READ_TIMEOUT_MS: u64 = 110_000;
/// Largest chat or model-list response read into memory.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Embedding batches are large (floats as JSON text); the plugin's memory
/// limit is the real bound.
const MAX_EMBEDDINGS_BYTES: usize = 40 * 1024 * 1024;
/// Models asked about with `/api/show` at most, per listing.
const MAX_SHOW: usize = 64;

/// The provider.
pub struct Ollama;

/// The settings of one call.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    base_url: String,
    api_key: Option<String>,
    defaults: ChatDefaults,
    show_details: bool,
    timeouts: Timeouts,
}

impl Settings {
    /// Reads config and secrets, per call: the operator may change them.
    fn load() -> Result<Settings, ProviderError> {
        Ok(Settings {
            base_url: upstream::normalize_base_url(&config::get_or("base_url", DEFAULT_BASE_URL)),
            api_key: config::optional_secret(API_KEY_SECRET),
            defaults: ChatDefaults {
                num_ctx: upstream::optional_setting("num_ctx")?,
                keep_alive: config::get("keep_alive")
                    .map(|k| k.trim().to_string())
                    .filter(|k| !k.is_empty()),
                truncate: upstream::optional_setting("truncate")?,
            },
            show_details: upstream::setting("show_details", true)?,
            timeouts: Timeouts::from_config(DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS)?,
        })
    }

    /// A request to `{base_url}{path}`, accepting JSON.
    fn request(&self, method: Method, path: &str) -> Request {
        self.request_accepting(method, path, "application/json")
    }

    /// A request to `{base_url}{path}`.
    fn request_accepting(&self, method: Method, path: &str, accept: &str) -> Request {
        let mut request =
            Request::new(method, format!("{}{path}", self.base_url)).header("accept", accept);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        self.timeouts.apply(request)
    }

    fn details(&self, model: &str) -> Option<ollama::ModelDetails> {
        let details = upstream::fetch(
            self.request(Method::Post, "/api/show")
                .json(&ollama::show_request_body(model)),
            MAX_RESPONSE_BYTES,
            ollama::error_from_response,
        )
        .and_then(|body| ollama::parse_show(&body));
        match details {
            Ok(d) => Some(d),
            Err(e) => {
                log::debug!("/api/show {model}: {}", e.message());
                None
            }
        }
    }
}

impl Provider for Ollama {
    fn models() -> Result<Vec<ModelInfo>, ProviderError> {
        let settings = Settings::load()?;
        let entries = ollama::parse_tags(&upstream::fetch(
            settings.request(Method::Get, "/api/tags"),
            MAX_RESPONSE_BYTES,
            ollama::error_from_response,
        )?)?;
        let mut models: Vec<ModelInfo> = entries
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                let details = (settings.show_details && i < MAX_SHOW)
                    .then(|| settings.details(&entry.name))
                    .flatten();
                let trained = details.as_ref().and_then(|d| d.context_length);
                ModelInfo {
                    id: entry.name.clone(),
                    capabilities: ollama::capabilities(entry, details.as_ref()),
                    // The window the model is loaded with, when configured.
                    context_length: settings.defaults.num_ctx.or(trained).unwrap_or(0),
                    max_output_tokens: None,
                    // Local inference has no list price.
                    input_price_per_mtok: None,
                    output_price_per_mtok: None,
                }
            })
            .collect();
        models.sort_by(|a, b| a.id.cmp(&b.id));
        models.dedup_by(|a, b| a.id == b.id);
        Ok(models)
    }

    fn chat(request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        let settings = Settings::load()?;
        let body = ollama::chat_request_body(&request, false, &settings.defaults)?;
        let answer = upstream::fetch(
            settings.request(Method::Post, "/api/chat").json(&body),
            MAX_RESPONSE_BYTES,
            ollama::error_from_response,
        )?;
        ollama::parse_chat_response(&answer, &request.model)
    }

    fn stream_chat(request: ChatRequest) -> Result<Box<dyn ChatStream>, ProviderError> {
        let settings = Settings::load()?;
        let body = ollama::chat_request_body(&request, true, &settings.defaults)?;
        let response = upstream::send(
            settings
                .request_accepting(Method::Post, "/api/chat", "application/x-ndjson")
                .json(&body),
            ollama::error_from_response,
        )?;
        Ok(Box::new(ollama::NdjsonChatStream::new(
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
        let answer = upstream::fetch(
            settings
                .request(Method::Post, "/api/embed")
                .json(&ollama::embed_request_body(
                    &request,
                    settings.defaults.truncate,
                )),
            MAX_EMBEDDINGS_BYTES,
            ollama::error_from_response,
        )?;
        ollama::parse_embed_response(&answer, &request.model, request.inputs.len())
    }
}

hanzo_node_sdk::export_provider!(Ollama);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn settings_have_defaults_without_a_host() {
        let s = Settings::load().unwrap();
        assert_eq!(s.base_url, "http://127.0.0.1:11434");
        assert_eq!(s.defaults, ChatDefaults::default());
        assert!(s.show_details);
        assert_eq!(s.api_key, None);
        assert_eq!(s.timeouts.connect, Duration::from_millis(5_000));
    }

    #[test]
    fn requests_carry_a_key_only_when_set() {
        let mut s = Settings::load().unwrap();
        let r = s.request(Method::Post, "/api/chat");
        assert_eq!(r.url(), "http://127.0.0.1:11434/api/chat");
        assert!(!format!("{r:?}").contains("authorization"));
        s.api_key = Some("ollama-secret".into());
        let shown = format!("{:?}", s.request(Method::Get, "/api/tags"));
        assert!(shown.contains("authorization") && !shown.contains("ollama-secret"));
    }
}
