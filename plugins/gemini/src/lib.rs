//! `gemini`: a provider for Google's Gemini models over the Gemini API
//! (`generativelanguage.googleapis.com`). The wire format is
//! [`hanzo_node_sdk::gemini`]; this crate holds the settings, the HTTP
//! calls and the price table.
//!
//! Settings (`[config]`, overridable by the operator):
//! - `base_url`: the API root, default
//!   `https://generativelanguage.googleapis.com`; its host must be in
//!   `permissions.http`.
//! - `api_version` (default `v1beta`): the path prefix of every call.
//! - `connect_timeout_ms` (default 10000) and `read_timeout_ms` (default
//!   110000: the wait for the first byte, and between bytes of a stream).
//!
//! Secrets `GEMINI_API_KEY`, else `GOOGLE_API_KEY`: sent as
//! `x-goog-api-key` (never in the URL, where it would be logged).

mod models;

use hanzo_node_sdk::config;
use hanzo_node_sdk::gemini;
use hanzo_node_sdk::http::{Method, Request};
use hanzo_node_sdk::provider::{
    ChatRequest, ChatResponse, ChatStream, EmbedRequest, EmbedResponse, ModelInfo, Provider,
    ProviderError,
};
use hanzo_node_sdk::upstream::{self, Timeouts};

const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
const DEFAULT_API_VERSION: &str = "v1beta";
const API_KEY_SECRETS: &[&str] = &["GEMINI_API_KEY", "GOOGLE_API_KEY"];
const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 10_000;
/// Just under the manifest's 120 s call limit, so a slow upstream is
/// reported as a timeout rather than the call being killed.
const DEFAULT_READ_TIMEOUT_MS: u64 = 110_000;
/// Largest chat or model-list response read into memory.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Embedding batches are large (floats as JSON text); the plugin's memory
/// limit is the real bound.
const MAX_EMBEDDINGS_BYTES: usize = 40 * 1024 * 1024;
/// Texts per `batchEmbedContents` call (the API's limit).
const EMBED_BATCH: usize = 100;
/// Model-list pages followed at most.
const MAX_MODEL_PAGES: usize = 10;

/// The provider.
pub struct Gemini;

/// The settings of one call.
#[derive(Debug, Clone, PartialEq)]
struct Settings {
    base_url: String,
    api_version: String,
    api_key: Option<String>,
    timeouts: Timeouts,
}

impl Settings {
    /// Reads config and secrets, per call: the operator may change them.
    fn load() -> Result<Settings, ProviderError> {
        let api_version = config::get_or("api_version", DEFAULT_API_VERSION)
            .trim()
            .trim_matches('/')
            .to_string();
        if !api_version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(ProviderError::Internal(format!(
                "config `api_version` = `{api_version}` is not an API version"
            )));
        }
        Ok(Settings {
            base_url: upstream::normalize_base_url(&config::get_or("base_url", DEFAULT_BASE_URL)),
            api_version,
            api_key: upstream::first_secret(API_KEY_SECRETS),
            timeouts: Timeouts::from_config(DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_READ_TIMEOUT_MS)?,
        })
    }

    /// A request to `{base_url}/{api_version}/{path}` with the key header,
    /// accepting JSON.
    fn request(&self, method: Method, path: &str) -> Request {
        self.request_accepting(method, path, "application/json")
    }

    /// A request to `{base_url}/{api_version}/{path}` with the key header.
    fn request_accepting(&self, method: Method, path: &str, accept: &str) -> Request {
        let mut request = Request::new(
            method,
            format!("{}/{}/{path}", self.base_url, self.api_version),
        )
        .header("accept", accept);
        if let Some(key) = &self.api_key {
            request = request.header("x-goog-api-key", key);
        }
        self.timeouts.apply(request)
    }
}

impl Provider for Gemini {
    fn models() -> Result<Vec<ModelInfo>, ProviderError> {
        let settings = Settings::load()?;
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_MODEL_PAGES {
            let path = match &token {
                None => "models?pageSize=1000".to_string(),
                Some(t) => format!(
                    "models?pageSize=1000&pageToken={}",
                    upstream::encode_component(t)
                ),
            };
            let (page, next) = gemini::parse_model_list(&upstream::fetch(
                settings.request(Method::Get, &path),
                MAX_RESPONSE_BYTES,
                gemini::error_from_response,
            )?)?;
            out.extend(page.iter().filter_map(models::model_info));
            match next {
                Some(t) => token = Some(t),
                None => break,
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out.dedup_by(|a, b| a.id == b.id);
        Ok(out)
    }

    fn chat(request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        let settings = Settings::load()?;
        let path = gemini::model_path(&request.model)?;
        let body = gemini::generate_content_body(&request)?;
        let answer = upstream::fetch(
            settings
                .request(Method::Post, &format!("{path}:generateContent"))
                .json(&body),
            MAX_RESPONSE_BYTES,
            gemini::error_from_response,
        )?;
        gemini::parse_generate_response(&answer, &request.model)
    }

    fn stream_chat(request: ChatRequest) -> Result<Box<dyn ChatStream>, ProviderError> {
        let settings = Settings::load()?;
        let path = gemini::model_path(&request.model)?;
        let body = gemini::generate_content_body(&request)?;
        let response = upstream::send(
            settings
                .request_accepting(
                    Method::Post,
                    &format!("{path}:streamGenerateContent?alt=sse"),
                    "text/event-stream",
                )
                .json(&body),
            gemini::error_from_response,
        )?;
        if !upstream::is_event_stream(&response) {
            // Without `alt=sse` honoured, the answer is one JSON document.
            let full = gemini::parse_generate_response(
                &upstream::read_body(response, MAX_RESPONSE_BYTES)?,
                &request.model,
            )?;
            return Ok(Box::new(upstream::Once(Some(full.into()))));
        }
        Ok(Box::new(gemini::SseGenerateStream::new(
            response.into_body(),
            request.model,
        )))
    }

    fn count_tokens(request: ChatRequest) -> Result<u32, ProviderError> {
        let settings = Settings::load()?;
        let path = gemini::model_path(&request.model)?;
        let body = gemini::count_tokens_body(&request)?;
        let answer = upstream::fetch(
            settings
                .request(Method::Post, &format!("{path}:countTokens"))
                .json(&body),
            MAX_RESPONSE_BYTES,
            gemini::error_from_response,
        )?;
        gemini::parse_count_tokens_response(&answer)
    }

    fn embed(request: EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        let settings = Settings::load()?;
        let path = gemini::model_path(&request.model)?;
        let mut embeddings = Vec::with_capacity(request.inputs.len());
        for batch in request.inputs.chunks(EMBED_BATCH) {
            let part = EmbedRequest {
                model: request.model.clone(),
                inputs: batch.to_vec(),
                dimensions: request.dimensions,
            };
            let answer = upstream::fetch(
                settings
                    .request(Method::Post, &format!("{path}:batchEmbedContents"))
                    .json(&gemini::batch_embed_body(&part, &path)),
                MAX_EMBEDDINGS_BYTES,
                gemini::error_from_response,
            )?;
            let parsed = gemini::parse_batch_embed_response(&answer, &request.model, batch.len())?;
            embeddings.extend(parsed.embeddings);
        }
        Ok(EmbedResponse {
            model: request.model,
            embeddings,
            usage: None,
        })
    }
}

hanzo_node_sdk::export_provider!(Gemini);

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn requests_put_the_key_in_a_header() {
        let s = Settings {
            base_url: DEFAULT_BASE_URL.into(),
            api_version: "v1beta".into(),
            api_key: Some("AIza-secret".into()),
            timeouts: Timeouts {
                connect: Duration::from_secs(1),
                read: Duration::from_secs(2),
            },
        };
        let r = s.request(
            Method::Post,
            "models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        );
        assert_eq!(
            r.url(),
            "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
        );
        let shown = format!("{r:?}");
        assert!(shown.contains("x-goog-api-key"));
        assert!(!shown.contains("AIza-secret"));
        assert!(!r.url().contains("key="));
    }

    #[test]
    fn settings_have_defaults_without_a_host() {
        let s = Settings::load().unwrap();
        assert_eq!(s.base_url, DEFAULT_BASE_URL);
        assert_eq!(s.api_version, "v1beta");
        assert_eq!(s.api_key, None);
    }
}
