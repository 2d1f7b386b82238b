//! Routing and the endpoints, over a [`Node`] (the router) and a
//! [`Responder`] (the HTTP response) so that whole requests, streamed ones
//! included, can be tested without a host.

use crate::anthropic::{self, EventEncoder};
use crate::error::{ApiError, Kind};
use crate::openai::{self, ChunkEncoder};
use crate::{completions, responses, wire};
use hanzo_node_sdk::api::{BodyError, JsonResponse, percent_decode};
use hanzo_node_sdk::llm::{
    CallOptions, ChatChunk, ChatRequest, ChatResult, EmbedRequest, EmbedResult, LlmError, Model,
    Route,
};
use serde_json::Value;

/// The node's LLM router, as the endpoints need it.
pub trait Node {
    type Stream: ChunkStream;
    fn models(&self) -> Result<Vec<Model>, LlmError>;
    fn chat(&self, request: &ChatRequest, options: &CallOptions) -> Result<ChatResult, LlmError>;
    fn stream_chat(
        &self,
        request: &ChatRequest,
        options: &CallOptions,
    ) -> Result<Self::Stream, LlmError>;
    fn embed(&self, request: &EmbedRequest, options: &CallOptions)
    -> Result<EmbedResult, LlmError>;
    /// The input tokens as the model's upstream counts them.
    fn count_tokens(&self, request: &ChatRequest) -> Result<u32, LlmError>;
    /// Seconds since the Unix epoch.
    fn now(&self) -> u64;
    /// The caller's tenant's stored response `id` (`/v1/responses`), as
    /// stored; errors are the storage's.
    fn load_response(&self, id: &str) -> Result<Option<String>, String>;
    fn save_response(&self, id: &str, record: &str) -> Result<(), String>;
    /// Whether there was one to delete.
    fn delete_response(&self, id: &str) -> Result<bool, String>;
    /// The ids of the tenant's stored responses, in order (oldest first:
    /// see [`response_id`]), at most `limit`.
    fn stored_responses(&self, limit: u32) -> Result<Vec<String>, String>;
    /// Random bits for ids.
    fn random(&self) -> [u64; 3];
}

/// A streamed answer of the router.
pub trait ChunkStream {
    fn route(&self) -> Route;
    fn next(&mut self) -> Option<Result<ChatChunk, LlmError>>;
    /// Whether `next` answers without waiting (the next chunk, or the
    /// end, came with the previous chunk).
    fn ready(&self) -> bool;
}

/// Where the response goes.
pub trait Responder {
    type Body: BodySink;
    /// A complete response.
    fn respond(self, status: u16, headers: &[(String, String)], body: &[u8]);
    /// Sends the head now; the body follows through the sink.
    fn stream(self, status: u16, headers: &[(String, String)]) -> Self::Body;
}

/// The body of a streamed response.
pub trait BodySink {
    /// Writes and flushes; false when the client is gone.
    fn write(&mut self, bytes: &[u8]) -> bool;
    fn finish(self);
}

/// The request headers the endpoints look at.
#[derive(Debug, Default, Clone)]
pub struct RequestHeaders {
    pub cache_control: Option<String>,
    pub hanzo_cache: Option<String>,
    pub anthropic_version: Option<String>,
}

impl RequestHeaders {
    /// `cache-control: no-cache` (or `no-store`) or `x-hanzo-cache: bypass`
    /// keep the request away from the response cache.
    pub fn call_options(&self) -> CallOptions {
        let no_cache = self.cache_control.as_deref().is_some_and(|v| {
            v.split(',').any(|d| {
                let d = d.trim();
                d.eq_ignore_ascii_case("no-cache") || d.eq_ignore_ascii_case("no-store")
            })
        });
        let bypass = self
            .hanzo_cache
            .as_deref()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("bypass"));
        CallOptions {
            bypass_cache: no_cache || bypass,
        }
    }
}

/// Which API's conventions a response follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenAi,
    Anthropic,
}

/// A POST endpoint: serves a request's body.
type Endpoint<N, R> = fn(&N, R, &RequestHeaders, &[u8]);

/// Largest accepted request body (the host has its own cap too).
pub const MAX_BODY_BYTES: usize = 32 * 1024 * 1024;

/// Answers one request.
pub fn handle<N: Node, R: Responder>(
    node: &N,
    out: R,
    method: &str,
    path: &str,
    headers: &RequestHeaders,
    read_body: impl FnOnce() -> Result<Vec<u8>, BodyError>,
) {
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    let anthropic_client = headers.anthropic_version.is_some();
    let body = |format: Format, out: R| -> Option<(Vec<u8>, R)> {
        match read_body() {
            Ok(bytes) => Some((bytes, out)),
            Err(BodyError::TooLarge(limit)) => {
                let e = ApiError::new(
                    413,
                    Kind::TooLarge,
                    format!("The request body is larger than {limit} bytes."),
                );
                send_error(out, format, &e);
                None
            }
            Err(e @ BodyError::Read(_)) => {
                send_error(out, format, &ApiError::invalid_body(e.to_string()));
                None
            }
        }
    };
    // The POST endpoints: the format of their errors, and what serves them.
    let endpoint: Option<(Format, Endpoint<N, R>)> = match path {
        "/v1/chat/completions" => Some((Format::OpenAi, chat_completions)),
        "/v1/completions" => Some((Format::OpenAi, legacy_completions)),
        "/v1/responses" => Some((Format::OpenAi, create_response)),
        "/v1/embeddings" => Some((Format::OpenAi, embeddings)),
        "/v1/messages" => Some((Format::Anthropic, messages)),
        "/v1/messages/count_tokens" => Some((Format::Anthropic, count_tokens)),
        _ => None,
    };
    if let Some((format, serve)) = endpoint {
        if method != "POST" {
            return send_error(out, format, &ApiError::method_not_allowed(method, "POST"));
        }
        if let Some((bytes, out)) = body(format, out) {
            serve(node, out, headers, &bytes);
        }
        return;
    }
    match path {
        _ if path.starts_with("/v1/responses/") => {
            let id = percent_decode(&path["/v1/responses/".len()..]);
            match method {
                "GET" => get_response(node, out, &id),
                "DELETE" => delete_response(node, out, &id),
                _ => send_error(
                    out,
                    Format::OpenAi,
                    &ApiError::method_not_allowed(method, "GET, DELETE"),
                ),
            }
        }
        _ => {
            let format = if anthropic_client || path.starts_with("/v1/messages/") {
                Format::Anthropic
            } else {
                Format::OpenAi
            };
            let model_id = path.strip_prefix("/v1/models").and_then(|rest| match rest {
                "" => Some(None),
                _ => rest.strip_prefix('/').map(Some),
            });
            match model_id {
                Some(_) if method != "GET" => {
                    send_error(out, format, &ApiError::method_not_allowed(method, "GET"))
                }
                Some(None) => list_models(node, out, format),
                Some(Some(id)) => get_model(node, out, format, &percent_decode(id)),
                None => send_error(
                    out,
                    format,
                    &ApiError::not_found(format!("Invalid URL ({method} {path})"))
                        .with_code("unknown_url"),
                ),
            }
        }
    }
}

// ---------------------------------------------------------------- responses

fn error_body(format: Format, error: &ApiError) -> Value {
    match format {
        Format::OpenAi => openai::error_json(error),
        Format::Anthropic => anthropic::error_json(error),
    }
}

/// Sends `error` in `format`, with its headers.
pub fn send_error<R: Responder>(out: R, format: Format, error: &ApiError) {
    if error.status >= 500 {
        hanzo_node_sdk::log::warn(&format!("{} {}", error.status, error.message));
    }
    send(
        out,
        JsonResponse::new(error.status, &error_body(format, error)).headers(error.headers()),
    );
}

/// A 200 with `value` as JSON.
fn send_json<R: Responder>(out: R, headers: Vec<(String, String)>, value: &Value) {
    send(out, JsonResponse::new(200, value).headers(headers));
}

fn send<R: Responder>(out: R, response: JsonResponse) {
    out.respond(response.status, &response.headers, &response.body);
}

/// The response headers telling how the router served a request.
pub fn route_headers(route: &Route) -> Vec<(String, String)> {
    let mut headers = vec![
        ("x-hanzo-deployment".to_string(), route.deployment.clone()),
        ("x-hanzo-provider".to_string(), route.provider.clone()),
        ("x-hanzo-model".to_string(), route.model.clone()),
        (
            "x-hanzo-cache".to_string(),
            if route.cached { "hit" } else { "miss" }.to_string(),
        ),
        ("x-hanzo-attempts".to_string(), route.attempts.to_string()),
    ];
    if let Some(cost) = route.cost_usd.filter(|c| c.is_finite()) {
        headers.push(("x-hanzo-cost-usd".to_string(), format!("{cost}")));
    }
    headers
}

fn fresh_id<N: Node>(node: &N) -> String {
    wire::id_from_random(node.random())
}

// ---------------------------------------------------------------- endpoints

fn chat_completions<N: Node, R: Responder>(
    node: &N,
    out: R,
    headers: &RequestHeaders,
    body: &[u8],
) {
    let call = match openai::parse_chat_request(body) {
        Ok(call) => call,
        Err(e) => return send_error(out, Format::OpenAi, &e),
    };
    let options = headers.call_options();
    let model = call.request.model.clone();
    let seed = fresh_id(node);
    let created = node.now();
    if call.stream {
        let include_usage = call.include_usage;
        stream(
            node,
            out,
            Format::OpenAi,
            &call.request,
            &options,
            |first_id| {
                let id = openai::completion_id(first_id, || format!("chatcmpl-{}", fresh_id(node)));
                ChunkEncoder::new(id, created, model, include_usage, seed)
            },
            |_| {},
        );
        return;
    }
    match node.chat(&call.request, &options) {
        Ok(result) => {
            let id = openai::completion_id(&result.response.id, || {
                format!("chatcmpl-{}", fresh_id(node))
            });
            let body = openai::chat_completion_body(&result.response, &id, created, &model, &seed);
            send(
                out,
                JsonResponse::raw(200, body).headers(route_headers(&result.route)),
            );
        }
        Err(e) => send_error(out, Format::OpenAi, &ApiError::from_llm(&e)),
    }
}

fn messages<N: Node, R: Responder>(node: &N, out: R, headers: &RequestHeaders, body: &[u8]) {
    let call = match anthropic::parse_messages_request(body) {
        Ok(call) => call,
        Err(e) => return send_error(out, Format::Anthropic, &e),
    };
    let options = headers.call_options();
    let model = call.request.model.clone();
    let seed = fresh_id(node);
    if call.stream {
        stream(
            node,
            out,
            Format::Anthropic,
            &call.request,
            &options,
            |first_id| {
                let id = anthropic::message_id(first_id, || format!("msg_{}", fresh_id(node)));
                EventEncoder::new(id, model, seed)
            },
            |_| {},
        );
        return;
    }
    match node.chat(&call.request, &options) {
        Ok(result) => {
            let id =
                anthropic::message_id(&result.response.id, || format!("msg_{}", fresh_id(node)));
            let value = anthropic::message_json(&result.response, &id, &model, &seed);
            send_json(out, route_headers(&result.route), &value);
        }
        Err(e) => send_error(out, Format::Anthropic, &ApiError::from_llm(&e)),
    }
}

/// The upstream's own count where the model's provider has one (Anthropic,
/// Gemini); else, or when the router cannot ask (an unknown alias, a
/// limit), the tokenizer estimate. `x-hanzo-token-count` says which.
fn count_tokens<N: Node, R: Responder>(node: &N, out: R, _headers: &RequestHeaders, body: &[u8]) {
    match anthropic::parse_count_tokens_request(body) {
        Ok(request) => {
            let (tokens, source) = match node.count_tokens(&request) {
                Ok(n) => (n, "upstream"),
                Err(_) => (crate::tokens::count(&request), "estimate"),
            };
            send_json(
                out,
                vec![("x-hanzo-token-count".into(), source.into())],
                &serde_json::json!({"input_tokens": tokens}),
            )
        }
        Err(e) => send_error(out, Format::Anthropic, &e),
    }
}

fn legacy_completions<N: Node, R: Responder>(
    node: &N,
    out: R,
    headers: &RequestHeaders,
    body: &[u8],
) {
    let call = match completions::parse_request(body) {
        Ok(call) => call,
        Err(e) => return send_error(out, Format::OpenAi, &e),
    };
    let options = headers.call_options();
    let model = call.request.model.clone();
    let created = node.now();
    let id = format!("cmpl-{}", fresh_id(node));
    if call.stream {
        let include_usage = call.include_usage;
        stream(
            node,
            out,
            Format::OpenAi,
            &call.request,
            &options,
            |_| completions::ChunkEncoder::new(id, created, model, include_usage),
            |_| {},
        );
        return;
    }
    match node.chat(&call.request, &options) {
        Ok(result) => {
            let value = completions::completion_json(&result.response, &id, created, &model);
            send_json(out, route_headers(&result.route), &value);
        }
        Err(e) => send_error(out, Format::OpenAi, &ApiError::from_llm(&e)),
    }
}

/// 404 for a response id this tenant has not stored.
fn response_not_found(id: &str) -> ApiError {
    ApiError {
        param: Some("response_id".into()),
        ..ApiError::not_found(format!("Response with id '{id}' not found."))
    }
    .with_code("response_not_found")
}

fn storage_failed(message: String) -> ApiError {
    ApiError::new(
        500,
        Kind::Internal,
        format!("The node could not read its stored responses: {message}"),
    )
    .with_code("storage_error")
}

/// How long a stored response is kept, as OpenAI keeps them: 30 days.
pub const STORED_FOR_S: u64 = 30 * 24 * 3600;

/// Expired responses looked at after each one stored.
const SWEEP: u32 = 8;

/// A response's id: its creation time (seconds, 10 hex digits) then random
/// characters, so that ids sort oldest first and the expired ones are found
/// at the front of the store.
fn response_id<N: Node>(node: &N, created: u64) -> String {
    format!("resp_{created:010x}{}", fresh_id(node))
}

/// When response `id` was created, from the id.
fn created_of(id: &str) -> Option<u64> {
    let hex = id.strip_prefix("resp_")?.get(..10)?;
    u64::from_str_radix(hex, 16).ok()
}

/// Deletes the oldest stored responses that have expired (at most
/// [`SWEEP`] each time one is stored, so the store stays within 30 days'
/// worth without a background task).
fn sweep_expired<N: Node>(node: &N) {
    let now = node.now();
    let Ok(ids) = node.stored_responses(SWEEP) else {
        return;
    };
    for id in ids {
        match created_of(&id) {
            Some(created) if now.saturating_sub(created) > STORED_FOR_S => {
                let _ = node.delete_response(&id);
            }
            _ => break,
        }
    }
}

/// The stored record of response `id`: `{response, items}`. One older than
/// [`STORED_FOR_S`] is deleted and not found.
fn load_record<N: Node>(node: &N, id: &str) -> Result<Value, ApiError> {
    let record: Value = match node.load_response(id) {
        Ok(Some(text)) => serde_json::from_str(&text).map_err(|e| storage_failed(e.to_string()))?,
        Ok(None) => return Err(response_not_found(id)),
        Err(e) => return Err(storage_failed(e)),
    };
    let created = record["response"]["created_at"].as_u64().unwrap_or(0);
    if node.now().saturating_sub(created) > STORED_FOR_S {
        let _ = node.delete_response(id);
        return Err(response_not_found(id));
    }
    Ok(record)
}

/// Stores a finished response for `previous_response_id` and `GET`. A
/// failure (kv not granted, the tenant's quota) is logged: the answer
/// itself is still good.
fn save_record<N: Node>(node: &N, response: &Value, history: &[Value], input: &[Value]) {
    let id = response["id"].as_str().unwrap_or_default();
    let record = responses::stored_record(response, history, input);
    if let Err(e) = node.save_response(id, &record.to_string()) {
        hanzo_node_sdk::log::warn(&format!("response {id} not stored: {e}"));
    }
    sweep_expired(node);
}

fn create_response<N: Node, R: Responder>(node: &N, out: R, headers: &RequestHeaders, body: &[u8]) {
    let call = match responses::parse_request(body) {
        Ok(call) => call,
        Err(e) => return send_error(out, Format::OpenAi, &e),
    };
    let history = match &call.previous_response_id {
        None => Vec::new(),
        Some(id) => match load_record(node, id) {
            Ok(record) => record["items"].as_array().cloned().unwrap_or_default(),
            Err(e) => {
                return send_error(
                    out,
                    Format::OpenAi,
                    &ApiError {
                        param: Some("previous_response_id".into()),
                        ..e
                    },
                );
            }
        },
    };
    let request = match call.chat_request(&history) {
        Ok(request) => request,
        Err(e) => return send_error(out, Format::OpenAi, &e),
    };
    let options = headers.call_options();
    let created = node.now();
    let ids = responses::Ids {
        response: response_id(node, created),
        seed: fresh_id(node),
    };
    let store = call.store;
    if call.stream {
        let input = call.input.clone();
        stream(
            node,
            out,
            Format::OpenAi,
            &request,
            &options,
            |_| responses::EventEncoder::new(call, ids, created),
            // Stored before the last event is written: a client may send
            // its next turn as soon as it reads `response.completed`.
            |encoder| {
                if let (true, Some(done)) = (store, &encoder.finished) {
                    save_record(node, done, &history, &input);
                }
            },
        );
        return;
    }
    match node.chat(&request, &options) {
        Ok(result) => {
            let value = responses::completed_json(&call, &ids, created, &result.response);
            if store {
                save_record(node, &value, &history, &call.input);
            }
            send_json(out, route_headers(&result.route), &value);
        }
        Err(e) => send_error(out, Format::OpenAi, &ApiError::from_llm(&e)),
    }
}

fn get_response<N: Node, R: Responder>(node: &N, out: R, id: &str) {
    match load_record(node, id) {
        Ok(record) => send_json(out, Vec::new(), &record["response"]),
        Err(e) => send_error(out, Format::OpenAi, &e),
    }
}

fn delete_response<N: Node, R: Responder>(node: &N, out: R, id: &str) {
    match node.delete_response(id) {
        Ok(true) => send_json(
            out,
            Vec::new(),
            &serde_json::json!({"id": id, "object": "response.deleted", "deleted": true}),
        ),
        Ok(false) => send_error(out, Format::OpenAi, &response_not_found(id)),
        Err(e) => send_error(out, Format::OpenAi, &storage_failed(e)),
    }
}

/// What every stream encoder does.
trait Encoder {
    fn chunk(&mut self, chunk: &ChatChunk) -> String;
    fn finish(&mut self) -> String;
    fn error(&mut self, error: &ApiError) -> String;
}

impl Encoder for ChunkEncoder {
    fn chunk(&mut self, chunk: &ChatChunk) -> String {
        ChunkEncoder::chunk(self, chunk)
    }
    fn finish(&mut self) -> String {
        ChunkEncoder::finish(self)
    }
    fn error(&mut self, error: &ApiError) -> String {
        ChunkEncoder::error(self, error)
    }
}

impl Encoder for completions::ChunkEncoder {
    fn chunk(&mut self, chunk: &ChatChunk) -> String {
        completions::ChunkEncoder::chunk(self, chunk)
    }
    fn finish(&mut self) -> String {
        completions::ChunkEncoder::finish(self)
    }
    fn error(&mut self, error: &ApiError) -> String {
        completions::ChunkEncoder::error(self, error)
    }
}

impl Encoder for responses::EventEncoder {
    fn chunk(&mut self, chunk: &ChatChunk) -> String {
        responses::EventEncoder::chunk(self, chunk)
    }
    fn finish(&mut self) -> String {
        responses::EventEncoder::finish(self)
    }
    fn error(&mut self, error: &ApiError) -> String {
        responses::EventEncoder::error(self, error)
    }
}

impl Encoder for EventEncoder {
    fn chunk(&mut self, chunk: &ChatChunk) -> String {
        EventEncoder::chunk(self, chunk)
    }
    fn finish(&mut self) -> String {
        EventEncoder::finish(self)
    }
    fn error(&mut self, error: &ApiError) -> String {
        EventEncoder::error(self, error)
    }
}

/// Serves a streamed chat: the first chunk is awaited before the head is
/// sent, so that a request failing outright (after the router's failover)
/// still gets a proper HTTP error status. From then on every chunk is
/// written and flushed as it arrives, those that arrived together in one
/// write; an error becomes an error event in `format`. A client that goes away ends the stream (dropping it stops
/// the upstream call). `on_finish` sees the encoder of a stream that
/// completed, before its last events are written.
fn stream<N: Node, R: Responder, E: Encoder>(
    node: &N,
    out: R,
    format: Format,
    request: &ChatRequest,
    options: &CallOptions,
    make_encoder: impl FnOnce(&str) -> E,
    on_finish: impl FnOnce(&E),
) {
    let mut chunks = match node.stream_chat(request, options) {
        Ok(stream) => stream,
        Err(e) => return send_error(out, format, &ApiError::from_llm(&e)),
    };
    let mut item = match chunks.next() {
        Some(Err(e)) => return send_error(out, format, &ApiError::from_llm(&e)),
        first => first,
    };
    let mut headers = vec![
        (
            "content-type".to_string(),
            "text/event-stream; charset=utf-8".to_string(),
        ),
        ("cache-control".to_string(), "no-cache".to_string()),
        // Reverse proxies (nginx) must not hold events back.
        ("x-accel-buffering".to_string(), "no".to_string()),
    ];
    headers.extend(route_headers(&chunks.route()));
    let mut body = out.stream(200, &headers);
    let first_id = match &item {
        Some(Ok(chunk)) => chunk.id.clone(),
        _ => String::new(),
    };
    let mut encoder = make_encoder(&first_id);
    // Events of chunks that are here together, written at once.
    let mut events = String::new();
    loop {
        match item {
            Some(Ok(chunk)) => {
                events.push_str(&encoder.chunk(&chunk));
                if !chunks.ready() && !events.is_empty() {
                    if !body.write(events.as_bytes()) {
                        // The client went away.
                        return;
                    }
                    events.clear();
                }
            }
            Some(Err(e)) => {
                let error = ApiError::from_llm(&e);
                hanzo_node_sdk::log::warn(&format!(
                    "stream of `{}` failed: {}",
                    request.model, error.message
                ));
                events.push_str(&encoder.error(&error));
                body.write(events.as_bytes());
                return body.finish();
            }
            None => {
                let last = encoder.finish();
                on_finish(&encoder);
                events.push_str(&last);
                body.write(events.as_bytes());
                return body.finish();
            }
        }
        item = chunks.next();
    }
}

fn embeddings<N: Node, R: Responder>(node: &N, out: R, headers: &RequestHeaders, body: &[u8]) {
    let call = match openai::parse_embed_request(body) {
        Ok(call) => call,
        Err(e) => return send_error(out, Format::OpenAi, &e),
    };
    match node.embed(&call.request, &headers.call_options()) {
        Ok(result) if result.response.embeddings.len() != call.request.inputs.len() => send_error(
            out,
            Format::OpenAi,
            &ApiError::new(
                502,
                Kind::BadGateway,
                format!(
                    "the provider returned {} embeddings for {} inputs",
                    result.response.embeddings.len(),
                    call.request.inputs.len()
                ),
            ),
        ),
        Ok(result) => {
            let value =
                openai::embeddings_json(&result.response, &call.request.model, call.encoding);
            send_json(out, route_headers(&result.route), &value);
        }
        Err(e) => send_error(out, Format::OpenAi, &ApiError::from_llm(&e)),
    }
}

fn list_models<N: Node, R: Responder>(node: &N, out: R, format: Format) {
    let models = match node.models() {
        Ok(models) => models,
        Err(e) => return send_error(out, format, &ApiError::from_llm(&e)),
    };
    let value = match format {
        Format::OpenAi => openai::model_list_json(&models),
        Format::Anthropic => anthropic::model_list_json(&models),
    };
    send_json(out, Vec::new(), &value);
}

fn get_model<N: Node, R: Responder>(node: &N, out: R, format: Format, id: &str) {
    let models = match node.models() {
        Ok(models) => models,
        Err(e) => return send_error(out, format, &ApiError::from_llm(&e)),
    };
    match models.iter().find(|m| m.id == id) {
        Some(model) => {
            let value = match format {
                Format::OpenAi => openai::model_json(model),
                Format::Anthropic => anthropic::model_json(model),
            };
            send_json(out, Vec::new(), &value);
        }
        None => send_error(
            out,
            format,
            &ApiError {
                param: Some("model".into()),
                ..ApiError::not_found(format!(
                    "The model `{id}` does not exist or you do not have access to it."
                ))
            }
            .with_code("model_not_found"),
        ),
    }
}

#[cfg(test)]
mod tests;
