//! The legacy OpenAI Completions API (`POST /v1/completions`: a prompt in,
//! text out) mapped onto chat: the prompt is one user message. For the older
//! clients and libraries that still speak it.
//!
//! Mapped: `prompt` (a string, or an array of one string), `max_tokens`
//! (16 when absent, as OpenAI's default), `temperature`, `top_p`, `stop`,
//! `stream`, `stream_options.include_usage`. Passed to the provider as
//! `extra`: `seed`, `presence_penalty`, `frequency_penalty`, `logit_bias`,
//! `user`. Refused: several prompts or `n` > 1, token-array prompts,
//! `suffix` (insertion), `echo`, `logprobs`, `best_of` > 1.

use crate::error::ApiError;
use crate::openai::finish_reason;
use crate::wire::{self, optional_bool, optional_f32, optional_u32, type_name};
use hanzo_node_sdk::llm::{ChatChunk, ChatRequest, ChatResponse, FinishReason, Message, Usage};
use serde_json::{Map, Value, json};

/// OpenAI's default `max_tokens` for this endpoint.
const DEFAULT_MAX_TOKENS: u32 = 16;

/// Fields this module maps or checks; others go to the provider as `extra`.
const COMPLETION_FIELDS: &[&str] = &[
    "model",
    "prompt",
    "max_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "stream_options",
    "n",
    "echo",
    "suffix",
    "logprobs",
    "best_of",
];

/// A parsed `POST /v1/completions`.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionCall {
    pub request: ChatRequest,
    pub stream: bool,
    pub include_usage: bool,
}

fn refuse(param: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid(param, message).with_code("unsupported_parameter")
}

/// Parses a Completions request body.
pub fn parse_request(body: &[u8]) -> Result<CompletionCall, ApiError> {
    let obj = wire::parse_object(body)?;
    let model = wire::required_string(&obj, "model", "model")?;
    let prompt = match obj.get("prompt") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(items)) => match items.as_slice() {
            [Value::String(s)] => s.clone(),
            [] => return Err(ApiError::invalid("prompt", "`prompt` must not be empty.")),
            [Value::String(_), ..] => {
                return Err(refuse(
                    "prompt",
                    "This node completes one prompt per request; send the prompts separately.",
                ));
            }
            _ => {
                return Err(refuse(
                    "prompt",
                    "Token-array prompts are not supported by this node; send the text.",
                ));
            }
        },
        None | Some(Value::Null) => {
            return Err(ApiError::invalid(
                "prompt",
                "Missing required parameter: `prompt`.",
            ));
        }
        Some(other) => {
            return Err(ApiError::invalid(
                "prompt",
                format!("`prompt` must be a string, not {}.", type_name(other)),
            ));
        }
    };
    if optional_u32(&obj, "n", "n")?.is_some_and(|n| n != 1) {
        return Err(refuse("n", "This node returns one choice (`n` = 1)."));
    }
    if optional_u32(&obj, "best_of", "best_of")?.is_some_and(|n| n > 1) {
        return Err(refuse(
            "best_of",
            "`best_of` > 1 is not supported by this node.",
        ));
    }
    if optional_bool(&obj, "echo", "echo")?.unwrap_or(false) {
        return Err(refuse("echo", "`echo` is not supported by this node."));
    }
    if obj
        .get("suffix")
        .is_some_and(|s| !s.is_null() && s != &Value::String(String::new()))
    {
        return Err(refuse(
            "suffix",
            "`suffix` (insertion) is not supported by this node.",
        ));
    }
    if obj.get("logprobs").is_some_and(|v| !v.is_null()) {
        return Err(refuse(
            "logprobs",
            "`logprobs` is not supported by this node.",
        ));
    }
    let stop = match obj.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str().map(str::to_string).ok_or_else(|| {
                    ApiError::invalid("stop", "`stop` must be a string or an array of strings.")
                })
            })
            .collect::<Result<_, _>>()?,
        Some(_) => {
            return Err(ApiError::invalid(
                "stop",
                "`stop` must be a string or an array of strings.",
            ));
        }
    };
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let mut extra = Map::new();
    for (key, value) in &obj {
        if !COMPLETION_FIELDS.contains(&key.as_str()) && !value.is_null() {
            extra.insert(key.clone(), value.clone());
        }
    }
    Ok(CompletionCall {
        request: ChatRequest {
            model,
            messages: vec![Message::user(prompt)],
            tools: Vec::new(),
            tool_choice: None,
            temperature: optional_f32(&obj, "temperature", "temperature")?,
            top_p: optional_f32(&obj, "top_p", "top_p")?,
            max_tokens: Some(
                optional_u32(&obj, "max_tokens", "max_tokens")?.unwrap_or(DEFAULT_MAX_TOKENS),
            ),
            stop,
            json_mode: false,
            extra: (!extra.is_empty()).then(|| Value::Object(extra).to_string()),
        },
        stream: optional_bool(&obj, "stream", "stream")?.unwrap_or(false),
        include_usage,
    })
}

fn usage_json(usage: Option<&Usage>) -> Value {
    let (p, c) = usage.map_or((0, 0), |u| (u.prompt_tokens, u.completion_tokens));
    json!({"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c})
}

/// A `text_completion` object.
pub fn completion_json(response: &ChatResponse, id: &str, created: u64, model: &str) -> Value {
    json!({
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{
            "text": response.message.text(),
            "index": 0,
            "logprobs": null,
            "finish_reason": finish_reason(response.finish_reason),
        }],
        "usage": usage_json(response.usage.as_ref()),
    })
}

/// Encodes the router's chunks as `text_completion` chunks, then
/// `data: [DONE]`.
pub struct ChunkEncoder {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    /// The finish reason and usage the stream reported.
    end: wire::Ending,
    done: bool,
}

impl ChunkEncoder {
    pub fn new(id: String, created: u64, model: String, include_usage: bool) -> ChunkEncoder {
        ChunkEncoder {
            id,
            created,
            model,
            include_usage,
            end: wire::Ending::default(),
            done: false,
        }
    }

    fn event(&self, text: &str, finish: Option<FinishReason>) -> String {
        let chunk = json!({
            "id": self.id,
            "object": "text_completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "text": text,
                "index": 0,
                "logprobs": null,
                "finish_reason": finish.map(finish_reason),
            }],
        });
        wire::sse_event(None, &chunk.to_string())
    }

    pub fn chunk(&mut self, chunk: &ChatChunk) -> String {
        self.end.note(chunk);
        match chunk.content.as_deref().filter(|t| !t.is_empty()) {
            Some(text) => self.event(text, None),
            None => String::new(),
        }
    }

    pub fn finish(&mut self) -> String {
        if self.done {
            return String::new();
        }
        self.done = true;
        let mut out = self.event("", Some(self.end.finish.unwrap_or(FinishReason::Stop)));
        if self.include_usage {
            let chunk = json!({
                "id": self.id,
                "object": "text_completion",
                "created": self.created,
                "model": self.model,
                "choices": [],
                "usage": usage_json(self.end.usage.as_ref()),
            });
            out.push_str(&wire::sse_event(None, &chunk.to_string()));
        }
        out.push_str("data: [DONE]\n\n");
        out
    }

    pub fn error(&mut self, error: &ApiError) -> String {
        self.done = true;
        wire::sse_event(None, &crate::openai::error_json(error).to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: Value) -> Result<CompletionCall, ApiError> {
        parse_request(body.to_string().as_bytes())
    }

    #[test]
    fn a_prompt_is_one_user_message_with_openais_default_length() {
        let c = parse(json!({"model": "m", "prompt": "Say this is a test", "seed": 7})).unwrap();
        assert_eq!(
            c.request.messages,
            [Message::user("Say this is a test".to_string())]
        );
        assert_eq!(c.request.max_tokens, Some(16));
        assert_eq!(c.request.extra.as_deref(), Some(r#"{"seed":7}"#));
        let one = parse(json!({"model": "m", "prompt": ["x"], "stop": "\n"})).unwrap();
        assert_eq!(one.request.stop, ["\n"]);
    }

    #[test]
    fn what_chat_cannot_do_is_refused_by_name() {
        for (body, param) in [
            (json!({"model": "m", "prompt": ["a", "b"]}), "prompt"),
            (json!({"model": "m", "prompt": [1, 2]}), "prompt"),
            (json!({"model": "m", "prompt": "a", "n": 2}), "n"),
            (json!({"model": "m", "prompt": "a", "echo": true}), "echo"),
            (
                json!({"model": "m", "prompt": "a", "suffix": "z"}),
                "suffix",
            ),
            (
                json!({"model": "m", "prompt": "a", "logprobs": 2}),
                "logprobs",
            ),
        ] {
            let e = parse(body).unwrap_err();
            assert_eq!((e.status, e.param.as_deref()), (400, Some(param)));
            assert_eq!(e.code, Some("unsupported_parameter"));
        }
        assert_eq!(
            parse(json!({"model": "m"})).unwrap_err().param.as_deref(),
            Some("prompt")
        );
    }

    #[test]
    fn a_stream_ends_with_the_finish_reason_and_done() {
        let mut e = ChunkEncoder::new("cmpl-1".into(), 5, "m".into(), false);
        let text = e.chunk(&ChatChunk {
            id: String::new(),
            model: "m".into(),
            content: Some("hi".into()),
            tool_calls: Vec::new(),
            finish_reason: Some(FinishReason::Length),
            usage: None,
            reasoning: Vec::new(),
            stop_sequence: None,
        }) + &e.finish();
        let datas: Vec<&str> = text
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: "))
            .collect();
        assert_eq!(datas.len(), 3);
        let first: Value = serde_json::from_str(datas[0]).unwrap();
        assert_eq!(first["choices"][0]["text"], "hi");
        let last: Value = serde_json::from_str(datas[1]).unwrap();
        assert_eq!(last["choices"][0]["finish_reason"], "length");
        assert_eq!(datas[2], "[DONE]");
    }
}
