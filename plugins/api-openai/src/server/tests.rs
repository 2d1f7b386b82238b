//! Whole requests against a fake router: routing, headers, statuses, error
//! formats, and streams written chunk by chunk.

use super::*;
use hanzo_node_sdk::llm::{
    Capabilities, ChatResponse, EmbedResponse, FinishReason, Message, ProviderError, RateLimit,
    Role, ToolCall, ToolCallDelta, Usage,
};
use hanzo_node_sdk::sse;
use serde_json::json;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

// ---------------------------------------------------------------- fakes

#[derive(Default)]
struct FakeNode {
    /// Every chat request the router got, with its options.
    calls: RefCell<Vec<(ChatRequest, CallOptions)>>,
    /// Chunks pulled from streams, across all streams.
    pulled: Rc<RefCell<usize>>,
    /// The operator has not granted `permissions.llm`: every call is denied.
    denied: bool,
    /// Stored responses, as kv would hold them (in key order).
    stored: RefCell<std::collections::BTreeMap<String, String>>,
    /// Streams' chunks arrive this many together (0 and 1: one by one).
    burst: usize,
}

fn route(cached: bool) -> Route {
    Route {
        deployment: "gpt-main".into(),
        provider: "openai".into(),
        model: "gpt-4o-mini-2024-07-18".into(),
        cached,
        attempts: 2,
        cost_usd: Some(0.00042),
    }
}

fn usage() -> Usage {
    Usage {
        prompt_tokens: 12,
        completion_tokens: 3,
        total_tokens: 15,
    }
}

fn text_chunk(text: &str) -> ChatChunk {
    ChatChunk {
        id: "chatcmpl-up".into(),
        model: "gpt-4o-mini-2024-07-18".into(),
        content: Some(text.into()),
        tool_calls: Vec::new(),
        finish_reason: None,
        usage: None,
        reasoning: Vec::new(),
        stop_sequence: None,
    }
}

fn denied() -> LlmError {
    LlmError::Denied("plugin `api-openai` is not granted `permissions.llm`".into())
}

fn error_for(model: &str) -> Option<LlmError> {
    Some(match model {
        "denied" => denied(),
        "spent" => LlmError::OverBudget("tenant `t` has spent $1.0000 of its $1.00 budget".into()),
        "nope" => LlmError::UnknownModel(format!("no deployment serves `{model}`")),
        "vision-only" => {
            LlmError::Unsupported("no deployment of `vision-only` supports tools".into())
        }
        "limited" => LlmError::RateLimited(RateLimit {
            retry_after_ms: Some(2000),
            message: "tenant rpm limit reached".into(),
        }),
        "bad-key" => LlmError::Provider(ProviderError::Auth(
            "upstream returned HTTP 401: Incorrect API key provided".into(),
        )),
        "too-long" => LlmError::Provider(ProviderError::ContextTooLong(
            "maximum context length is 8192 tokens".into(),
        )),
        "broken" => LlmError::Provider(ProviderError::UpstreamUnavailable("HTTP 500".into())),
        "slow" => LlmError::Provider(ProviderError::Timeout("no answer in 60 s".into())),
        "bad-request" => {
            LlmError::Provider(ProviderError::BadRequest("invalid temperature".into()))
        }
        _ => return None,
    })
}

struct FakeStream {
    items: VecDeque<Result<ChatChunk, LlmError>>,
    pulled: Rc<RefCell<usize>>,
    burst: usize,
    /// Chunks handed out by this stream.
    delivered: usize,
}

impl ChunkStream for FakeStream {
    fn route(&self) -> Route {
        route(false)
    }

    fn next(&mut self) -> Option<Result<ChatChunk, LlmError>> {
        *self.pulled.borrow_mut() += 1;
        self.delivered += 1;
        self.items.pop_front()
    }

    /// Bursts of `burst` items, the end counting as one.
    fn ready(&self) -> bool {
        !self.delivered.is_multiple_of(self.burst.max(1))
    }
}

impl Node for FakeNode {
    type Stream = FakeStream;

    fn models(&self) -> Result<Vec<Model>, LlmError> {
        if self.denied {
            return Err(denied());
        }
        Ok(["gpt-4o-mini", "openai/gpt-4o"]
            .into_iter()
            .map(|id| Model {
                id: id.into(),
                owned_by: "openai".into(),
                capabilities: Capabilities::CHAT | Capabilities::STREAMING,
                context_length: 128000,
                input_price_per_mtok: None,
                output_price_per_mtok: None,
            })
            .collect())
    }

    fn chat(&self, request: &ChatRequest, options: &CallOptions) -> Result<ChatResult, LlmError> {
        self.calls.borrow_mut().push((request.clone(), *options));
        if let Some(e) = error_for(&request.model) {
            return Err(e);
        }
        let last = request
            .messages
            .last()
            .map(|m| m.text())
            .unwrap_or_default();
        let message = if !request.tools.is_empty() {
            Message {
                tool_calls: vec![ToolCall {
                    id: "call_abc123".into(),
                    name: "calculator".into(),
                    arguments: r#"{"expression":"2+2"}"#.into(),
                    signature: None,
                }],
                ..Message::assistant("")
            }
        } else {
            Message::assistant(format!("echo: {last}"))
        };
        let finish_reason = if message.tool_calls.is_empty() {
            FinishReason::Stop
        } else {
            FinishReason::ToolCalls
        };
        Ok(ChatResult {
            response: ChatResponse {
                id: "chatcmpl-mock1".into(),
                model: "gpt-4o-mini-2024-07-18".into(),
                message,
                finish_reason,
                usage: Some(usage()),
                stop_sequence: None,
            },
            route: route(!options.bypass_cache && last == "cached"),
        })
    }

    fn stream_chat(
        &self,
        request: &ChatRequest,
        options: &CallOptions,
    ) -> Result<FakeStream, LlmError> {
        self.calls.borrow_mut().push((request.clone(), *options));
        let mut items: VecDeque<Result<ChatChunk, LlmError>> = VecDeque::new();
        match request.model.as_str() {
            "fail-first" => items.push_back(Err(LlmError::Provider(ProviderError::RateLimited(
                RateLimit {
                    retry_after_ms: None,
                    message: "upstream 429".into(),
                },
            )))),
            "cut" => {
                items.push_back(Ok(text_chunk("Hel")));
                items.push_back(Err(LlmError::Provider(ProviderError::UpstreamUnavailable(
                    "the upstream stream ended early".into(),
                ))));
            }
            "endless" => {
                for _ in 0..100 {
                    items.push_back(Ok(text_chunk("la ")));
                }
            }
            model => {
                if let Some(e) = error_for(model) {
                    return Err(e);
                }
                if request.tools.is_empty() {
                    for part in ["Hel", "lo", " world"] {
                        items.push_back(Ok(text_chunk(part)));
                    }
                } else {
                    items.push_back(Ok(ChatChunk {
                        content: None,
                        tool_calls: vec![ToolCallDelta {
                            index: 0,
                            id: Some("call_abc123".into()),
                            name: Some("calculator".into()),
                            arguments: String::new(),
                            signature: None,
                        }],
                        ..text_chunk("")
                    }));
                    for part in ["{\"expres", "sion\":\"2", "+2\"}"] {
                        items.push_back(Ok(ChatChunk {
                            content: None,
                            tool_calls: vec![ToolCallDelta {
                                index: 0,
                                id: None,
                                name: None,
                                arguments: part.into(),
                                signature: None,
                            }],
                            ..text_chunk("")
                        }));
                    }
                }
                items.push_back(Ok(ChatChunk {
                    content: None,
                    finish_reason: Some(if request.tools.is_empty() {
                        FinishReason::Stop
                    } else {
                        FinishReason::ToolCalls
                    }),
                    ..text_chunk("")
                }));
                items.push_back(Ok(ChatChunk {
                    content: None,
                    usage: Some(usage()),
                    ..text_chunk("")
                }));
            }
        }
        Ok(FakeStream {
            items,
            pulled: self.pulled.clone(),
            burst: self.burst,
            delivered: 0,
        })
    }

    fn count_tokens(&self, request: &ChatRequest) -> Result<u32, LlmError> {
        // A model whose upstream counts, and the rest, which cannot.
        match request.model.as_str() {
            "counted" => Ok(42),
            _ => Err(LlmError::Unsupported("no count".into())),
        }
    }

    fn embed(&self, request: &EmbedRequest, _: &CallOptions) -> Result<EmbedResult, LlmError> {
        if let Some(e) = error_for(&request.model) {
            return Err(e);
        }
        let dims = request.dimensions.unwrap_or(4) as usize;
        let count = if request.model == "short" {
            1
        } else {
            request.inputs.len()
        };
        Ok(EmbedResult {
            response: EmbedResponse {
                model: request.model.clone(),
                embeddings: request.inputs[..count]
                    .iter()
                    .map(|t| (0..dims).map(|d| (t.len() + d) as f32 / 10.0).collect())
                    .collect(),
                usage: Some(Usage {
                    prompt_tokens: 5,
                    completion_tokens: 0,
                    total_tokens: 5,
                }),
            },
            route: route(false),
        })
    }

    fn now(&self) -> u64 {
        1_700_000_000
    }

    fn load_response(&self, id: &str) -> Result<Option<String>, String> {
        Ok(self.stored.borrow().get(id).cloned())
    }

    fn save_response(&self, id: &str, record: &str) -> Result<(), String> {
        self.stored
            .borrow_mut()
            .insert(id.to_string(), record.to_string());
        Ok(())
    }

    fn delete_response(&self, id: &str) -> Result<bool, String> {
        Ok(self.stored.borrow_mut().remove(id).is_some())
    }

    fn stored_responses(&self, limit: u32) -> Result<Vec<String>, String> {
        Ok(self
            .stored
            .borrow()
            .keys()
            .take(limit as usize)
            .cloned()
            .collect())
    }

    fn random(&self) -> [u64; 3] {
        [1, 2, 3]
    }
}

/// What the handler sent.
#[derive(Debug, Default)]
struct Sent {
    status: u16,
    headers: Vec<(String, String)>,
    /// The whole body, or each write of a streamed one.
    writes: Vec<Vec<u8>>,
    streamed: bool,
    finished: bool,
}

impl Sent {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn body(&self) -> Vec<u8> {
        self.writes.concat()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body()).unwrap()
    }

    /// `(event name, data)` of a streamed body.
    fn events(&self) -> Vec<(String, String)> {
        let mut d = sse::Decoder::new();
        d.feed(&self.body()).unwrap();
        assert!(!d.has_partial_event());
        std::iter::from_fn(|| d.next_event())
            .map(|e| (e.event, e.data))
            .collect()
    }
}

struct Recorder {
    sent: Rc<RefCell<Sent>>,
    /// Writes that succeed before the client "goes away".
    write_budget: usize,
}

struct RecordingSink {
    sent: Rc<RefCell<Sent>>,
    write_budget: usize,
}

impl Responder for Recorder {
    type Body = RecordingSink;

    fn respond(self, status: u16, headers: &[(String, String)], body: &[u8]) {
        let mut sent = self.sent.borrow_mut();
        sent.status = status;
        sent.headers = headers.to_vec();
        sent.writes = vec![body.to_vec()];
        sent.finished = true;
    }

    fn stream(self, status: u16, headers: &[(String, String)]) -> RecordingSink {
        let mut sent = self.sent.borrow_mut();
        sent.status = status;
        sent.headers = headers.to_vec();
        sent.streamed = true;
        RecordingSink {
            sent: self.sent.clone(),
            write_budget: self.write_budget,
        }
    }
}

impl BodySink for RecordingSink {
    fn write(&mut self, bytes: &[u8]) -> bool {
        if self.write_budget == 0 {
            return false;
        }
        self.write_budget -= 1;
        self.sent.borrow_mut().writes.push(bytes.to_vec());
        true
    }

    fn finish(self) {
        self.sent.borrow_mut().finished = true;
    }
}

fn send_with(
    node: &FakeNode,
    method: &str,
    path: &str,
    headers: &RequestHeaders,
    body: Value,
    write_budget: usize,
) -> Sent {
    let sent = Rc::new(RefCell::new(Sent::default()));
    let out = Recorder {
        sent: sent.clone(),
        write_budget,
    };
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    handle(node, out, method, path, headers, move || Ok(bytes));
    Rc::try_unwrap(sent).unwrap().into_inner()
}

fn post(node: &FakeNode, path: &str, body: Value) -> Sent {
    send_with(
        node,
        "POST",
        path,
        &RequestHeaders::default(),
        body,
        usize::MAX,
    )
}

fn get(node: &FakeNode, path: &str) -> Sent {
    send_with(
        node,
        "GET",
        path,
        &RequestHeaders::default(),
        Value::Null,
        usize::MAX,
    )
}

fn chat_body(model: &str, extra: Value) -> Value {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn messages_body(model: &str, extra: Value) -> Value {
    let mut body =
        json!({"model": model, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

// ---------------------------------------------------------------- tests

#[test]
fn chat_completion_with_route_headers() {
    let node = FakeNode::default();
    let sent = post(
        &node,
        "/v1/chat/completions",
        chat_body("gpt-4o-mini", json!({})),
    );
    assert_eq!(sent.status, 200);
    assert!(!sent.streamed);
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("x-hanzo-deployment"), Some("gpt-main"));
    assert_eq!(sent.header("x-hanzo-provider"), Some("openai"));
    assert_eq!(sent.header("x-hanzo-model"), Some("gpt-4o-mini-2024-07-18"));
    assert_eq!(sent.header("x-hanzo-cache"), Some("miss"));
    assert_eq!(sent.header("x-hanzo-attempts"), Some("2"));
    assert_eq!(sent.header("x-hanzo-cost-usd"), Some("0.00042"));
    let v = sent.json();
    assert_eq!(v["id"], "chatcmpl-mock1");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["created"], 1_700_000_000);
    assert_eq!(v["model"], "gpt-4o-mini", "the name the client asked for");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: hi");
    assert_eq!(v["usage"]["total_tokens"], 15);
    let calls = node.calls.borrow();
    assert_eq!(calls[0].0.model, "gpt-4o-mini");
    assert!(!calls[0].1.bypass_cache);
}

#[test]
fn cache_hits_and_bypass() {
    let node = FakeNode::default();
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "cached"}]});
    let sent = post(&node, "/v1/chat/completions", body.clone());
    assert_eq!(sent.header("x-hanzo-cache"), Some("hit"));
    for headers in [
        RequestHeaders {
            cache_control: Some("max-age=0, No-Cache".into()),
            ..RequestHeaders::default()
        },
        RequestHeaders {
            cache_control: Some("no-store".into()),
            ..RequestHeaders::default()
        },
        RequestHeaders {
            hanzo_cache: Some("bypass".into()),
            ..RequestHeaders::default()
        },
    ] {
        let sent = send_with(
            &node,
            "POST",
            "/v1/chat/completions",
            &headers,
            body.clone(),
            usize::MAX,
        );
        assert_eq!(sent.header("x-hanzo-cache"), Some("miss"));
        assert!(node.calls.borrow().last().unwrap().1.bypass_cache);
    }
    let sent = send_with(
        &node,
        "POST",
        "/v1/messages",
        &RequestHeaders {
            hanzo_cache: Some("bypass".into()),
            ..RequestHeaders::default()
        },
        messages_body("m", json!({})),
        usize::MAX,
    );
    assert_eq!(sent.status, 200);
    assert!(node.calls.borrow().last().unwrap().1.bypass_cache);
    let headers = RequestHeaders {
        cache_control: Some("max-age=60".into()),
        ..RequestHeaders::default()
    };
    assert!(!headers.call_options().bypass_cache);
}

#[test]
fn streamed_chat_is_written_chunk_by_chunk() {
    let node = FakeNode::default();
    let sent = post(
        &node,
        "/v1/chat/completions",
        chat_body(
            "gpt-4o-mini",
            json!({"stream": true, "stream_options": {"include_usage": true}}),
        ),
    );
    assert_eq!(sent.status, 200);
    assert!(sent.streamed && sent.finished);
    assert_eq!(
        sent.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    assert_eq!(sent.header("cache-control"), Some("no-cache"));
    assert_eq!(sent.header("x-hanzo-deployment"), Some("gpt-main"));
    // One write per router chunk (the first also carries the role chunk),
    // then the end: nothing is buffered until the stream ends.
    assert_eq!(sent.writes.len(), 5, "{:?}", sent.writes.len());
    let events = sent.events();
    let data: Vec<Value> = events
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap_or(json!(d)))
        .collect();
    let ids: Vec<&Value> = data[..data.len() - 1].iter().map(|d| &d["id"]).collect();
    assert!(ids.iter().all(|id| *id == "chatcmpl-up"), "one id: {ids:?}");
    let text: String = data
        .iter()
        .filter_map(|d| d["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "Hello world");
    assert_eq!(data[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(data[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(data[5]["choices"], json!([]));
    assert_eq!(data[5]["usage"]["total_tokens"], 15);
    assert_eq!(data[6], json!("[DONE]"));
    assert!(
        data.iter()
            .all(|d| d.get("model").is_none_or(|m| m == "gpt-4o-mini"))
    );
}

#[test]
fn streamed_tool_call() {
    let node = FakeNode::default();
    let tools = json!([{"type": "function", "function": {"name": "calculator", "parameters": {"type": "object"}}}]);
    let sent = post(
        &node,
        "/v1/chat/completions",
        chat_body("m", json!({"stream": true, "tools": tools})),
    );
    let data: Vec<Value> = sent
        .events()
        .iter()
        .map(|(_, d)| serde_json::from_str(d).unwrap_or(json!(d)))
        .collect();
    let first = &data[1]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(first["id"], "call_abc123");
    assert_eq!(first["function"]["name"], "calculator");
    let args: String = data
        .iter()
        .filter_map(|d| d["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, r#"{"expression":"2+2"}"#);
    assert_eq!(
        data[data.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert!(
        data.iter().all(|d| d.get("usage").is_none()),
        "no usage fields without include_usage"
    );
}

#[test]
fn a_stream_failing_before_its_first_chunk_is_an_http_error() {
    let node = FakeNode::default();
    let sent = post(
        &node,
        "/v1/chat/completions",
        chat_body("fail-first", json!({"stream": true})),
    );
    assert!(!sent.streamed);
    assert_eq!(sent.status, 429);
    assert_eq!(sent.header("retry-after"), Some("1"));
    assert_eq!(sent.json()["error"]["code"], "rate_limit_exceeded");
    let sent = post(
        &node,
        "/v1/messages",
        messages_body("nope", json!({"stream": true})),
    );
    assert_eq!(sent.status, 404);
    assert_eq!(sent.json()["error"]["type"], "not_found_error");
}

#[test]
fn mid_stream_errors_are_events() {
    let node = FakeNode::default();
    let sent = post(
        &node,
        "/v1/chat/completions",
        chat_body("cut", json!({"stream": true})),
    );
    assert_eq!(sent.status, 200);
    assert!(sent.finished);
    let events = sent.events();
    let last: Value = serde_json::from_str(&events.last().unwrap().1).unwrap();
    assert_eq!(last["error"]["code"], "upstream_unavailable");
    assert!(
        events.iter().all(|(_, d)| d != "[DONE]"),
        "no [DONE] after an error"
    );

    let sent = post(
        &node,
        "/v1/messages",
        messages_body("cut", json!({"stream": true})),
    );
    let events = sent.events();
    let (name, data) = events.last().unwrap();
    assert_eq!(name, "error");
    let data: Value = serde_json::from_str(data).unwrap();
    assert_eq!(data["error"]["type"], "overloaded_error");
    assert!(events.iter().all(|(n, _)| n != "message_stop"));
}

/// Chunks that arrive together (one `next-many` from the host) go out in
/// one write, the same bytes as when they arrive one by one; a chunk that
/// is not here yet is never waited for while others are held back.
#[test]
fn chunks_that_arrive_together_are_written_together() {
    let body = || {
        chat_body(
            "gpt-4o-mini",
            json!({"stream": true, "stream_options": {"include_usage": true}}),
        )
    };
    let one_by_one = post(&FakeNode::default(), "/v1/chat/completions", body());
    let all_at_once = FakeNode {
        burst: usize::MAX,
        ..FakeNode::default()
    };
    let together = post(&all_at_once, "/v1/chat/completions", body());
    assert_eq!(together.status, 200);
    assert!(together.finished);
    assert_eq!(one_by_one.writes.len(), 5);
    // Every chunk and the end in one write.
    assert_eq!(together.writes.len(), 1, "{:?}", together.writes);
    let ids = |sent: &Sent| {
        sent.events()
            .into_iter()
            .map(|(name, data)| {
                let mut value: Value = serde_json::from_str(&data).unwrap_or(json!(data));
                // Ids and times are made per response.
                if let Some(o) = value.as_object_mut() {
                    o.remove("id");
                    o.remove("created");
                }
                (name, value)
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&together), ids(&one_by_one));

    // Two at a time: a write per pair.
    let pairs = FakeNode {
        burst: 2,
        ..FakeNode::default()
    };
    let sent = post(&pairs, "/v1/chat/completions", body());
    assert_eq!(ids(&sent), ids(&one_by_one));
    assert_eq!(sent.writes.len(), 3, "{:?}", sent.writes);
}

#[test]
fn a_client_that_leaves_stops_the_stream() {
    let node = FakeNode::default();
    let sent = send_with(
        &node,
        "POST",
        "/v1/chat/completions",
        &RequestHeaders::default(),
        chat_body("endless", json!({"stream": true})),
        3,
    );
    assert_eq!(sent.writes.len(), 3);
    assert_eq!(
        *node.pulled.borrow(),
        4,
        "no chunk pulled after the failed write"
    );
}

#[test]
fn openai_errors() {
    let node = FakeNode::default();
    let cases = [
        (
            "nope",
            404,
            "invalid_request_error",
            Some("model_not_found"),
        ),
        (
            "vision-only",
            400,
            "invalid_request_error",
            Some("unsupported_request"),
        ),
        (
            "limited",
            429,
            "rate_limit_error",
            Some("rate_limit_exceeded"),
        ),
        ("bad-key", 502, "server_error", Some("upstream_auth_failed")),
        ("denied", 403, "permission_error", Some("forbidden")),
        ("spent", 402, "insufficient_quota", Some("budget_exhausted")),
        (
            "too-long",
            400,
            "invalid_request_error",
            Some("context_length_exceeded"),
        ),
        ("broken", 503, "server_error", Some("upstream_unavailable")),
        ("slow", 504, "server_error", Some("upstream_timeout")),
        ("bad-request", 400, "invalid_request_error", None),
    ];
    for (model, status, kind, code) in cases {
        for stream in [false, true] {
            let sent = post(
                &node,
                "/v1/chat/completions",
                chat_body(model, json!({"stream": stream})),
            );
            assert_eq!(sent.status, status, "{model}");
            let v = sent.json();
            assert_eq!(v["error"]["type"], kind, "{model}");
            assert_eq!(v["error"]["code"].as_str(), code, "{model}");
            assert!(v["error"].as_object().unwrap().contains_key("param"));
            assert!(!v["error"]["message"].as_str().unwrap().is_empty());
        }
    }
    let sent = post(
        &node,
        "/v1/chat/completions",
        chat_body("limited", json!({})),
    );
    assert_eq!(sent.header("retry-after"), Some("2"));
    assert_eq!(sent.header("retry-after-ms"), Some("2000"));
    let sent = post(&node, "/v1/chat/completions", json!({"messages": []}));
    assert_eq!(
        (sent.status, sent.json()["error"]["param"].as_str()),
        (400, Some("model"))
    );
}

#[test]
fn anthropic_messages() {
    let node = FakeNode::default();
    let sent = post(
        &node,
        "/v1/messages",
        messages_body("gpt-4o-mini", json!({})),
    );
    assert_eq!(sent.status, 200);
    assert_eq!(sent.header("x-hanzo-deployment"), Some("gpt-main"));
    let v = sent.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["id"], "msg_100000002000000030000000", "a fresh msg_ id");
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["content"], json!([{"type": "text", "text": "echo: hi"}]));
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"], json!({"input_tokens": 12, "output_tokens": 3}));

    let tools =
        json!([{"name": "calculator", "description": "math", "input_schema": {"type": "object"}}]);
    let v = post(
        &node,
        "/v1/messages",
        messages_body("m", json!({"tools": tools})),
    )
    .json();
    assert_eq!(
        v["content"],
        json!([{"type": "tool_use", "id": "call_abc123", "name": "calculator", "input": {"expression": "2+2"}}])
    );
    assert_eq!(v["stop_reason"], "tool_use");
}

#[test]
fn anthropic_stream() {
    let node = FakeNode::default();
    let tools = json!([{"name": "calculator", "input_schema": {"type": "object"}}]);
    for (body, expected_blocks) in [
        (messages_body("m", json!({"stream": true})), "text"),
        (
            messages_body("m", json!({"stream": true, "tools": tools})),
            "tool_use",
        ),
    ] {
        let sent = post(&node, "/v1/messages", body);
        assert_eq!(sent.status, 200);
        assert_eq!(
            sent.header("content-type"),
            Some("text/event-stream; charset=utf-8")
        );
        let events = sent.events();
        let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names[0], "message_start");
        assert_eq!(names[1], "content_block_start");
        assert_eq!(
            &names[names.len() - 3..],
            ["content_block_stop", "message_delta", "message_stop"]
        );
        let start: Value = serde_json::from_str(&events[1].1).unwrap();
        assert_eq!(start["content_block"]["type"], expected_blocks);
        let delta: Value = serde_json::from_str(&events[events.len() - 2].1).unwrap();
        assert_eq!(delta["usage"]["output_tokens"], 3);
        let message: Value = serde_json::from_str(&events[0].1).unwrap();
        assert!(
            message["message"]["id"]
                .as_str()
                .unwrap()
                .starts_with("msg_")
        );
    }
}

#[test]
fn anthropic_errors() {
    let node = FakeNode::default();
    let cases = [
        ("nope", 404, "not_found_error"),
        ("limited", 429, "rate_limit_error"),
        ("bad-key", 502, "api_error"),
        ("denied", 403, "permission_error"),
        ("spent", 402, "billing_error"),
        ("too-long", 400, "invalid_request_error"),
        ("broken", 503, "overloaded_error"),
        ("slow", 504, "api_error"),
    ];
    for (model, status, kind) in cases {
        let sent = post(&node, "/v1/messages", messages_body(model, json!({})));
        assert_eq!(sent.status, status, "{model}");
        let v = sent.json();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], kind, "{model}");
    }
    let sent = post(&node, "/v1/messages", json!({"model": "m", "messages": []}));
    assert_eq!(sent.status, 400);
    assert_eq!(sent.json()["error"]["type"], "invalid_request_error");
    let sent = get(&node, "/v1/messages");
    assert_eq!((sent.status, sent.header("allow")), (405, Some("POST")));
    assert_eq!(sent.json()["type"], "error");
}

#[test]
fn embeddings() {
    let node = FakeNode::default();
    let sent = post(
        &node,
        "/v1/embeddings",
        json!({"model": "embed", "input": ["a", "bbb"], "dimensions": 2}),
    );
    assert_eq!(sent.status, 200);
    assert_eq!(sent.header("x-hanzo-deployment"), Some("gpt-main"));
    let v = sent.json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["model"], "embed");
    assert_eq!(
        v["data"][1],
        json!({"object": "embedding", "index": 1, "embedding": [0.3, 0.4]})
    );
    assert_eq!(v["usage"], json!({"prompt_tokens": 5, "total_tokens": 5}));
    let v = post(
        &node,
        "/v1/embeddings",
        json!({"model": "embed", "input": "a", "encoding_format": "base64"}),
    )
    .json();
    assert!(v["data"][0]["embedding"].is_string());
    let sent = post(
        &node,
        "/v1/embeddings",
        json!({"model": "short", "input": ["a", "b"]}),
    );
    assert_eq!(sent.status, 502);
    let sent = post(
        &node,
        "/v1/embeddings",
        json!({"model": "nope", "input": "a"}),
    );
    assert_eq!(
        (sent.status, sent.json()["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
}

#[test]
fn models() {
    let node = FakeNode::default();
    let v = get(&node, "/v1/models").json();
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["id"], "gpt-4o-mini");
    assert_eq!(v["data"][0]["object"], "model");
    assert_eq!(get(&node, "/v1/models/").status, 200);
    let v = get(&node, "/v1/models/gpt-4o-mini").json();
    assert_eq!(
        (v["id"].as_str(), v["owned_by"].as_str()),
        (Some("gpt-4o-mini"), Some("openai"))
    );
    // Ids with a slash, plain or escaped.
    assert_eq!(
        get(&node, "/v1/models/openai/gpt-4o").json()["id"],
        "openai/gpt-4o"
    );
    assert_eq!(
        get(&node, "/v1/models/openai%2Fgpt-4o").json()["id"],
        "openai/gpt-4o"
    );
    let sent = get(&node, "/v1/models/gpt-5");
    assert_eq!(sent.status, 404);
    assert_eq!(sent.json()["error"]["code"], "model_not_found");

    let anthropic = RequestHeaders {
        anthropic_version: Some("2023-06-01".into()),
        ..RequestHeaders::default()
    };
    let sent = send_with(
        &node,
        "GET",
        "/v1/models",
        &anthropic,
        Value::Null,
        usize::MAX,
    );
    let v = sent.json();
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["has_more"], false);
    let sent = send_with(
        &node,
        "GET",
        "/v1/models/nope",
        &anthropic,
        Value::Null,
        usize::MAX,
    );
    assert_eq!(sent.json()["error"]["type"], "not_found_error");

    // Without the operator's `permissions.llm` grant the catalog is refused
    // too, in each API's own shape.
    let node = FakeNode {
        denied: true,
        ..FakeNode::default()
    };
    for path in ["/v1/models", "/v1/models/gpt-4o-mini"] {
        let sent = get(&node, path);
        assert_eq!(sent.status, 403, "{path}");
        let v = sent.json();
        assert_eq!(v["error"]["type"], "permission_error", "{path}");
        assert!(
            v["error"]["message"]
                .as_str()
                .unwrap()
                .contains("permissions.llm")
        );
        let sent = send_with(&node, "GET", path, &anthropic, Value::Null, usize::MAX);
        assert_eq!(sent.status, 403, "{path}");
        assert_eq!(sent.json()["error"]["type"], "permission_error", "{path}");
    }
}

#[test]
fn unknown_paths_and_methods() {
    let node = FakeNode::default();
    let sent = get(&node, "/v1/fine_tuning/jobs");
    assert_eq!(sent.status, 404);
    assert_eq!(sent.json()["error"]["code"], "unknown_url");
    assert_eq!(
        sent.json()["error"]["message"],
        "Invalid URL (GET /v1/fine_tuning/jobs)"
    );
    let sent = get(&node, "/v1/chat/completions");
    assert_eq!((sent.status, sent.header("allow")), (405, Some("POST")));
    assert_eq!(sent.json()["error"]["type"], "invalid_request_error");
    let sent = post(&node, "/v1/models", json!({}));
    assert_eq!((sent.status, sent.header("allow")), (405, Some("GET")));
    assert_eq!(
        post(&node, "/v1/chat/completions/", chat_body("m", json!({}))).status,
        200
    );
    assert_eq!(get(&node, "/v1").status, 404);
    assert_eq!(get(&node, "/v1/modelsx").status, 404);
}

#[test]
fn body_errors() {
    let node = FakeNode::default();
    for (path, anthropic) in [("/v1/chat/completions", false), ("/v1/messages", true)] {
        let sent = Rc::new(RefCell::new(Sent::default()));
        let out = Recorder {
            sent: sent.clone(),
            write_budget: usize::MAX,
        };
        handle(&node, out, "POST", path, &RequestHeaders::default(), || {
            Err(BodyError::TooLarge(1024))
        });
        let sent = sent.borrow();
        assert_eq!(sent.status, 413);
        let v = sent.json();
        if anthropic {
            assert_eq!(v["error"]["type"], "request_too_large");
        } else {
            assert_eq!(v["error"]["type"], "invalid_request_error");
        }
    }
    let sent = send_with(
        &node,
        "POST",
        "/v1/chat/completions",
        &RequestHeaders::default(),
        json!("text"),
        usize::MAX,
    );
    assert_eq!(sent.status, 400);
}

// ---------------------------------------------------------------- responses

#[test]
fn responses_answer_store_and_continue_a_conversation() {
    let node = FakeNode::default();
    let sent = post(
        &node,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "input": "hi", "instructions": "be brief"}),
    );
    assert_eq!(sent.status, 200);
    let first = sent.json();
    assert_eq!(first["object"], "response");
    assert_eq!(first["status"], "completed");
    assert_eq!(first["output"][0]["content"][0]["text"], "echo: hi");
    assert_eq!(first["usage"]["total_tokens"], usage().total_tokens);
    let id = first["id"].as_str().unwrap();
    assert!(id.starts_with("resp_"));

    // The second turn sees the first (without its instructions).
    let sent = post(
        &node,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "input": "again", "previous_response_id": id}),
    );
    assert_eq!(
        sent.status,
        200,
        "{}",
        String::from_utf8_lossy(&sent.body())
    );
    let (request, _) = node.calls.borrow().last().cloned().unwrap();
    let turns: Vec<(Role, String)> = request
        .messages
        .iter()
        .map(|m| (m.role, m.text()))
        .collect();
    assert_eq!(
        turns,
        [
            (Role::User, "hi".to_string()),
            (Role::Assistant, "echo: hi".to_string()),
            (Role::User, "again".to_string()),
        ]
    );

    // Retrieve, delete, and then both are 404 with a stable code.
    assert_eq!(get(&node, &format!("/v1/responses/{id}")).json()["id"], id);
    let deleted = send_with(
        &node,
        "DELETE",
        &format!("/v1/responses/{id}"),
        &RequestHeaders::default(),
        Value::Null,
        usize::MAX,
    );
    assert_eq!(deleted.json()["deleted"], true);
    let gone = get(&node, &format!("/v1/responses/{id}"));
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["error"]["code"], "response_not_found");
    let sent = post(
        &node,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "input": "x", "previous_response_id": id}),
    );
    assert_eq!(sent.status, 404);
    assert_eq!(sent.json()["error"]["param"], "previous_response_id");
}

#[test]
fn a_response_with_store_false_is_not_kept() {
    let node = FakeNode::default();
    let sent = post(
        &node,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "input": "hi", "store": false}),
    );
    assert_eq!(sent.json()["store"], false);
    assert!(node.stored.borrow().is_empty());
}

#[test]
fn responses_with_tools_answer_function_calls() {
    let node = FakeNode::default();
    let sent = post(
        &node,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "input": "2+2?", "tools": [{
            "type": "function", "name": "calculator", "description": "math",
            "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}},
        }]}),
    );
    let v = sent.json();
    assert_eq!(v["output"][0]["type"], "function_call");
    assert_eq!(v["output"][0]["call_id"], "call_abc123");
    assert_eq!(v["output"][0]["name"], "calculator");
    assert_eq!(v["tools"][0]["name"], "calculator");
}

#[test]
fn a_streamed_response_is_stored_before_its_last_event() {
    let node = FakeNode::default();
    let sent = post(
        &node,
        "/v1/responses",
        json!({"model": "gpt-4o-mini", "input": "hi", "stream": true}),
    );
    assert_eq!(sent.status, 200);
    let events = sent.events();
    assert_eq!(events.first().unwrap().0, "response.created");
    let (kind, data) = events.last().unwrap();
    assert_eq!(kind, "response.completed");
    let done: Value = serde_json::from_str(data).unwrap();
    let id = done["response"]["id"].as_str().unwrap();
    let stored = get(&node, &format!("/v1/responses/{id}")).json();
    assert_eq!(stored["output"], done["response"]["output"]);
}

#[test]
fn legacy_completions_map_onto_chat() {
    let node = FakeNode::default();
    let sent = post(
        &node,
        "/v1/completions",
        json!({"model": "gpt-4o-mini", "prompt": "Say this is a test"}),
    );
    assert_eq!(sent.status, 200);
    let v = sent.json();
    assert_eq!(v["object"], "text_completion");
    assert_eq!(v["choices"][0]["text"], "echo: Say this is a test");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    let streamed = post(
        &node,
        "/v1/completions",
        json!({"model": "gpt-4o-mini", "prompt": "hi", "stream": true}),
    );
    let events = streamed.events();
    assert_eq!(events.last().unwrap().1, "[DONE]");
}

#[test]
fn count_tokens_answers_without_calling_the_router() {
    let node = FakeNode::default();
    let sent = post(
        &node,
        "/v1/messages/count_tokens",
        json!({"model": "claude-sonnet-4-5", "system": "Be terse.",
               "messages": [{"role": "user", "content": "Hello, world!"}]}),
    );
    assert_eq!(sent.status, 200);
    let n = sent.json()["input_tokens"].as_u64().unwrap();
    assert!(n > 4 && n < 30, "{n}");
    assert!(node.calls.borrow().is_empty());
    let bad = post(&node, "/v1/messages/count_tokens", json!({"model": "m"}));
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["type"], "error");
}

#[test]
fn a_stored_response_expires_after_thirty_days() {
    let node = FakeNode::default();
    let ask = |input: &str| {
        post(
            &node,
            "/v1/responses",
            json!({"model": "gpt-4o-mini", "input": input}),
        )
        .json()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let id = ask("hi");
    // Ids begin with their creation time, so they sort oldest first.
    assert_eq!(id[..15], format!("resp_{:010x}", node.now()));
    assert_eq!(get(&node, &format!("/v1/responses/{id}")).status, 200);
    // Two more, stored a day more than 30 days before the node's now
    // (their ids and records say so).
    let old = node.now() - STORED_FOR_S - 24 * 3600;
    let record = node.stored.borrow()[&id].clone();
    let mut expired = Vec::new();
    for suffix in ["oldA", "oldB"] {
        let aged_id = format!("resp_{old:010x}{suffix}");
        let aged = record
            .replace("1700000000", &old.to_string())
            .replace(&id, &aged_id);
        node.stored.borrow_mut().insert(aged_id.clone(), aged);
        expired.push(aged_id);
    }
    // Read: not found, and deleted.
    let gone = get(&node, &format!("/v1/responses/{}", expired[0]));
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["error"]["code"], "response_not_found");
    assert!(!node.stored.borrow().contains_key(&expired[0]));
    // Never read again: swept when the next response is stored.
    assert!(node.stored.borrow().contains_key(&expired[1]));
    ask("next");
    assert!(!node.stored.borrow().contains_key(&expired[1]));
    assert!(node.stored.borrow().contains_key(&id), "a fresh one stays");
}
