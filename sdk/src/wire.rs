//! Helpers shared by the wire-format modules ([`openai`](crate::openai),
//! [`anthropic`](crate::anthropic), [`gemini`](crate::gemini),
//! [`ollama`](crate::ollama)): JSON numbers,
//! `extra` merging, tool-call bookkeeping, error-body quoting and the pull
//! loops over SSE and NDJSON bodies.

use crate::http::{HttpError, ReadChunk};
use crate::provider::{Message, ProviderError, Role, ToolDefinition};
use crate::{ndjson, sse};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

/// Longest excerpt of an error body quoted in a message.
pub(crate) const MAX_QUOTED_BODY: usize = 512;

/// An `f32` as the JSON number a person would write: `0.7`, not the
/// `0.699999988079071` a plain widening to `f64` gives.
pub(crate) fn float_json(field: &str, value: f32) -> Result<Value, ProviderError> {
    if !value.is_finite() {
        return Err(ProviderError::BadRequest(format!(
            "{field} must be a finite number"
        )));
    }
    Ok(json!(shortest_f64(value)))
}

/// The `f64` of the shortest decimal that reads back as `value` (`0.7`,
/// where widening gives `0.699999988079071`).
pub(crate) fn shortest_f64(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(value as f64)
}

/// The wire formats whose name, as a key of `extra`, scopes the fields of
/// its object to providers speaking that format.
pub const WIRE_FORMATS: &[&str] = &["openai", "anthropic", "gemini", "ollama"];

/// Merges the request's `extra` JSON object into `body`, for a provider
/// speaking `wire` (one of [`WIRE_FORMATS`]). The object under `wire`'s own
/// name is merged like the top level; those under another format's name are
/// left out (so an API can pass `thinking` to Anthropic upstreams only).
/// Keys in `reserved` are refused (the SDK sets them from the call itself);
/// keys in `deep` whose values are objects on both sides are merged one
/// level down instead of replaced (so `extra` can add to `generationConfig`
/// or `options`).
pub(crate) fn merge_extra(
    body: &mut Map<String, Value>,
    extra: Option<&str>,
    wire: &str,
    reserved: &[&str],
    deep: &[&str],
) -> Result<(), ProviderError> {
    let Some(extra) = extra.filter(|e| !e.trim().is_empty()) else {
        return Ok(());
    };
    let value: Value = serde_json::from_str(extra)
        .map_err(|e| ProviderError::BadRequest(format!("`extra` is not valid JSON: {e}")))?;
    let Value::Object(fields) = value else {
        return Err(ProviderError::BadRequest(
            "`extra` must be a JSON object".to_string(),
        ));
    };
    let mut scoped = None;
    let mut top = Map::new();
    for (key, value) in fields {
        if !WIRE_FORMATS.contains(&key.as_str()) {
            top.insert(key, value);
        } else if key == wire {
            let Value::Object(fields) = value else {
                return Err(ProviderError::BadRequest(format!(
                    "`extra.{key}` must be a JSON object"
                )));
            };
            scoped = Some(fields);
        }
    }
    merge_fields(body, top, reserved, deep)?;
    merge_fields(body, scoped.unwrap_or_default(), reserved, deep)
}

fn merge_fields(
    body: &mut Map<String, Value>,
    fields: Map<String, Value>,
    reserved: &[&str],
    deep: &[&str],
) -> Result<(), ProviderError> {
    for (key, value) in fields {
        if reserved.contains(&key.as_str()) {
            return Err(ProviderError::BadRequest(format!(
                "`extra` may not set `{key}`; it comes from the request itself"
            )));
        }
        if deep.contains(&key.as_str())
            && let (Some(Value::Object(ours)), Value::Object(theirs)) = (body.get_mut(&key), &value)
        {
            for (k, v) in theirs {
                ours.insert(k.clone(), v.clone());
            }
            continue;
        }
        body.insert(key, value);
    }
    Ok(())
}

/// A tool's parameter schema as JSON; blank means "no parameters".
pub(crate) fn tool_parameters(tool: &ToolDefinition) -> Result<Value, ProviderError> {
    if tool.parameters.trim().is_empty() {
        return Ok(json!({ "type": "object", "properties": {} }));
    }
    let value: Value = serde_json::from_str(&tool.parameters).map_err(|e| {
        ProviderError::BadRequest(format!(
            "tool `{}`: parameters are not valid JSON: {e}",
            tool.name
        ))
    })?;
    if !value.is_object() {
        return Err(ProviderError::BadRequest(format!(
            "tool `{}`: parameters must be a JSON Schema object",
            tool.name
        )));
    }
    Ok(value)
}

/// The arguments of an assistant's earlier tool call, as the JSON object
/// that APIs taking structured arguments want. Blank is `{}`.
pub(crate) fn arguments_object(
    message_index: usize,
    name: &str,
    arguments: &str,
) -> Result<Value, ProviderError> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(ProviderError::BadRequest(format!(
            "message {message_index}: the arguments of tool call `{name}` must be a JSON object"
        ))),
        Err(e) => Err(ProviderError::BadRequest(format!(
            "message {message_index}: the arguments of tool call `{name}` are not valid JSON: {e}"
        ))),
    }
}

/// Tool-call id → tool name, from every assistant message of the
/// conversation: APIs that match results by name (Gemini, Ollama) need the
/// name a `role::tool` message's `tool-call-id` refers to.
pub(crate) fn tool_names_by_id(messages: &[Message]) -> HashMap<&str, &str> {
    messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| m.tool_calls.iter())
        .map(|c| (c.id.as_str(), c.name.as_str()))
        .collect()
}

/// The tool name a tool result answers: the call's name from the
/// conversation, else the message's own `name`.
pub(crate) fn tool_result_name(names: &HashMap<&str, &str>, message: &Message) -> Option<String> {
    message
        .tool_call_id
        .as_deref()
        .and_then(|id| names.get(id))
        .map(|n| n.to_string())
        .or_else(|| message.name.clone().filter(|n| !n.is_empty()))
}

/// 64-bit FNV-1a, for ids that must be the same for the same input.
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        // Separate the parts, so ("ab","c") and ("a","bc") differ.
        hash ^= 0xff;
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A stable id for a tool call that the upstream gave none: the same call
/// (position, name, arguments) always gets the same id, so retries, caches
/// and replays agree.
pub(crate) fn synthesize_call_id(index: usize, name: &str, arguments: &str) -> String {
    let h = fnv1a(&[
        index.to_string().as_bytes(),
        name.as_bytes(),
        arguments.as_bytes(),
    ]);
    format!("call_{:016x}", h)
}

/// An error body quoted for a message: trimmed, at most
/// [`MAX_QUOTED_BODY`] characters.
pub(crate) fn quote_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let mut quoted: String = text.chars().take(MAX_QUOTED_BODY).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    quoted
}

/// `upstream returned HTTP {status}[: {detail}]`.
pub(crate) fn status_message(status: u16, detail: &str) -> String {
    if detail.is_empty() {
        format!("upstream returned HTTP {status}")
    } else {
        format!("upstream returned HTTP {status}: {detail}")
    }
}

/// True when an error message says that the input is longer than the
/// model's context window, in any of the phrasings upstreams use.
pub(crate) fn mentions_context_overflow(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "context length",
        "context_length",
        "context window",
        "context limit",
        "context size",
        "maximum context",
        "prompt is too long",
        "input token count",
        "exceeds the maximum number of tokens",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// The response was not what the wire format promises.
pub(crate) fn invalid_upstream(what: impl std::fmt::Display) -> ProviderError {
    ProviderError::UpstreamUnavailable(format!("invalid response from the upstream: {what}"))
}

/// What one pull from a streamed body gave.
pub(crate) enum Pulled<T> {
    /// The next decoded item.
    Item(T),
    /// The body ended; `partial` when an item was left half-received.
    End { partial: bool },
    /// Reading or decoding failed.
    Failed(ProviderError),
    /// Nothing received is left to decode, and the pull was told not to
    /// wait for more.
    Wait,
}

/// What a pull that was allowed to wait answered: it never says
/// [`Poll::Pending`](std::task::Poll::Pending).
pub(crate) fn waited<T>(polled: std::task::Poll<T>) -> T {
    match polled {
        std::task::Poll::Ready(item) => item,
        std::task::Poll::Pending => unreachable!("a pull that may wait always answers"),
    }
}

/// Server-sent events pulled one by one from a body.
pub(crate) struct SseSource<R> {
    source: R,
    decoder: sse::Decoder,
    ended: bool,
}

impl<R: ReadChunk> SseSource<R> {
    pub(crate) fn new(source: R) -> Self {
        SseSource {
            source,
            decoder: sse::Decoder::new(),
            ended: false,
        }
    }

    /// The next event, reading from the body as needed when `wait`, else
    /// [`Pulled::Wait`] when the next event needs a read.
    pub(crate) fn pull(&mut self, wait: bool) -> Pulled<sse::Event> {
        loop {
            if let Some(event) = self.decoder.next_event() {
                return Pulled::Item(event);
            }
            if self.ended {
                return Pulled::End {
                    partial: self.decoder.has_partial_event(),
                };
            }
            if !wait {
                return Pulled::Wait;
            }
            match self.source.read_chunk() {
                Ok(Some(bytes)) => {
                    if let Err(e) = self.decoder.feed(&bytes) {
                        return Pulled::Failed(ProviderError::UpstreamUnavailable(format!(
                            "upstream stream: {e}"
                        )));
                    }
                }
                Ok(None) => self.ended = true,
                Err(e) => return Pulled::Failed(transport(&e)),
            }
        }
    }
}

/// NDJSON values pulled one by one from a body.
pub(crate) struct NdjsonSource<R> {
    source: R,
    decoder: ndjson::Decoder,
    ended: bool,
}

impl<R: ReadChunk> NdjsonSource<R> {
    pub(crate) fn new(source: R) -> Self {
        NdjsonSource {
            source,
            decoder: ndjson::Decoder::new(),
            ended: false,
        }
    }

    /// The next line as JSON, reading from the body as needed. A final line
    /// without a newline still counts; a line that is not JSON is a failure
    /// (a stream cut inside a line at the end of the body is `End` with
    /// `partial`). Without `wait`, [`Pulled::Wait`] when the next line needs
    /// a read.
    pub(crate) fn pull(&mut self, wait: bool) -> Pulled<Value> {
        loop {
            if let Some(value) = self.decoder.next_value::<Value>() {
                return match value {
                    Ok(v) => Pulled::Item(v),
                    Err(_) if self.ended => Pulled::End { partial: true },
                    Err(e) => Pulled::Failed(invalid_upstream(e)),
                };
            }
            if self.ended {
                return Pulled::End { partial: false };
            }
            if !wait {
                return Pulled::Wait;
            }
            match self.source.read_chunk() {
                Ok(Some(bytes)) => {
                    if let Err(e) = self.decoder.feed(&bytes) {
                        return Pulled::Failed(ProviderError::UpstreamUnavailable(format!(
                            "upstream stream: {e}"
                        )));
                    }
                }
                Ok(None) => {
                    self.ended = true;
                    self.decoder.finish();
                }
                Err(e) => return Pulled::Failed(transport(&e)),
            }
        }
    }
}

fn transport(error: &HttpError) -> ProviderError {
    crate::upstream::error_from_http(error)
}

/// The message for a stream that ended before the answer was complete.
pub(crate) fn cut_stream(what_was_missing: &str) -> ProviderError {
    ProviderError::UpstreamUnavailable(format!(
        "the upstream stream ended before the answer was complete (no {what_was_missing})"
    ))
}

#[cfg(test)]
pub(crate) mod testing {
    //! A body made of fixed chunks, for stream tests.

    use crate::http::{HttpError, ReadChunk};
    use crate::provider::{ChatChunk, ChatStream, ProviderError, StreamResource};
    use std::cell::Cell;
    use std::collections::VecDeque;
    use std::rc::Rc;
    use std::task::Poll;

    pub(crate) struct FakeBody {
        pub chunks: VecDeque<Vec<u8>>,
        pub error_at_end: Option<HttpError>,
        /// Reads so far, seen from outside the stream that owns the body.
        pub reads: Rc<Cell<usize>>,
    }

    impl FakeBody {
        pub(crate) fn new(text: &str, chunk_size: usize) -> Self {
            FakeBody {
                chunks: text
                    .as_bytes()
                    .chunks(chunk_size)
                    .map(<[u8]>::to_vec)
                    .collect(),
                error_at_end: None,
                reads: Rc::default(),
            }
        }
    }

    impl ReadChunk for FakeBody {
        fn read_chunk(&mut self) -> Result<Option<Vec<u8>>, HttpError> {
            self.reads.set(self.reads.get() + 1);
            match self.chunks.pop_front() {
                Some(c) => Ok(Some(c)),
                None => match self.error_at_end.take() {
                    Some(e) => Err(e),
                    None => Ok(None),
                },
            }
        }
    }

    /// Every chunk, then the error that ended the stream, if one did.
    pub(crate) fn collect(stream: &mut dyn ChatStream) -> (Vec<ChatChunk>, Option<ProviderError>) {
        let mut chunks = Vec::new();
        while let Some(item) = stream.next() {
            match item {
                Ok(c) => chunks.push(c),
                Err(e) => return (chunks, Some(e)),
            }
        }
        (chunks, None)
    }

    type Item = Result<ChatChunk, ProviderError>;

    /// What batching must keep, for a stream of `text` made by `make`, in
    /// any chunking of the body: `try_next` never reads (it answers from
    /// what was received or says `Pending`); the host's `next-many`
    /// batches, one after another, are exactly what `next` gives one by
    /// one; and a body received in one read crosses in one batch, in one
    /// call when the format marks its end (`marked_end`: `[DONE]`,
    /// `message_stop`, a `done` line) rather than the body's end.
    pub(crate) fn check_batching(
        make: &dyn Fn(FakeBody) -> Box<dyn ChatStream>,
        text: &str,
        marked_end: bool,
    ) {
        let key = |items: &[Item]| format!("{items:?}");
        for size in [1, 3, 17, 64, 4096, text.len()] {
            let one_by_one: Vec<Item> = {
                let mut stream = make(FakeBody::new(text, size));
                let (chunks, error) = collect(&mut *stream);
                chunks.into_iter().map(Ok).chain(error.map(Err)).collect()
            };

            let body = FakeBody::new(text, size);
            let reads = body.reads.clone();
            let mut stream = make(body);
            let mut pulled: Vec<Item> = Vec::new();
            'pull: while let Some(item) = stream.next() {
                let mut item = item;
                let read = reads.get();
                loop {
                    let failed = item.is_err();
                    pulled.push(item);
                    if failed {
                        break 'pull;
                    }
                    match stream.try_next() {
                        Poll::Ready(Some(next)) => item = next,
                        Poll::Ready(None) => break 'pull,
                        Poll::Pending => break,
                    }
                    assert_eq!(reads.get(), read, "size {size}: try_next read the body");
                }
            }
            assert_eq!(key(&pulled), key(&one_by_one), "size {size}");

            let resource = StreamResource::new(make(FakeBody::new(text, size)));
            let mut batches: Vec<Vec<Item>> = Vec::new();
            let mut calls = 0;
            loop {
                calls += 1;
                let batch = resource.next_many(64);
                assert!(batch.chunks.len() <= 64);
                let failed = batch.chunks.last().is_some_and(Result::is_err);
                assert!(!failed || batch.ended, "size {size}: an error ends");
                assert!(batch.ended || !batch.chunks.is_empty());
                if !batch.chunks.is_empty() {
                    batches.push(batch.chunks);
                }
                if batch.ended {
                    break;
                }
                assert!(batches.len() <= text.len() + 1, "size {size}: never ends");
            }
            let after = resource.next_many(64);
            assert!(after.chunks.is_empty() && after.ended, "stays ended");
            assert_eq!(key(&batches.concat()), key(&one_by_one), "size {size}");
            let complete = one_by_one.iter().all(Result::is_ok);
            if complete && size >= text.len() {
                assert_eq!(batches.len(), 1, "one read, one batch: {batches:?}");
                if marked_end {
                    assert_eq!(calls, 1, "the end came with the batch");
                }
            }

            // At most `max` a call (0 counting as 1), in the same order.
            for max in [0, 1, 2] {
                let resource = StreamResource::new(make(FakeBody::new(text, size)));
                let mut all = Vec::new();
                loop {
                    let batch = resource.next_many(max);
                    assert!(batch.chunks.len() <= max.max(1) as usize);
                    all.extend(batch.chunks);
                    if batch.ended {
                        break;
                    }
                }
                assert_eq!(key(&all), key(&one_by_one), "size {size}, max {max}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_is_merged_with_reserved_and_deep_keys() {
        let mut body = Map::new();
        body.insert("options".into(), json!({"temperature": 0.5}));
        body.insert("model".into(), json!("m"));
        merge_extra(
            &mut body,
            Some(r#"{"options": {"num_ctx": 8192}, "keep_alive": "5m"}"#),
            "ollama",
            &["model"],
            &["options"],
        )
        .unwrap();
        assert_eq!(
            Value::Object(body.clone()),
            json!({"model": "m", "keep_alive": "5m", "options": {"temperature": 0.5, "num_ctx": 8192}})
        );
        assert!(
            merge_extra(
                &mut body,
                Some(r#"{"model": "x"}"#),
                "openai",
                &["model"],
                &[]
            )
            .is_err()
        );
        assert!(merge_extra(&mut body, Some("[1]"), "openai", &[], &[]).is_err());
        assert!(merge_extra(&mut body, Some("  "), "openai", &[], &[]).is_ok());
    }

    #[test]
    fn a_wire_formats_object_reaches_only_that_format() {
        let extra = r#"{"seed": 1, "anthropic": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
                        "openai": {"reasoning_effort": "low"}}"#;
        let mut anthropic = Map::new();
        merge_extra(&mut anthropic, Some(extra), "anthropic", &["model"], &[]).unwrap();
        assert_eq!(
            Value::Object(anthropic),
            json!({"seed": 1, "thinking": {"type": "enabled", "budget_tokens": 1024}})
        );
        let mut openai = Map::new();
        merge_extra(&mut openai, Some(extra), "openai", &["model"], &[]).unwrap();
        assert_eq!(
            Value::Object(openai),
            json!({"seed": 1, "reasoning_effort": "low"})
        );
        let mut gemini = Map::new();
        merge_extra(&mut gemini, Some(extra), "gemini", &["model"], &[]).unwrap();
        assert_eq!(Value::Object(gemini), json!({"seed": 1}));
        // Scoped fields obey the same rules.
        let mut body = Map::new();
        assert!(
            merge_extra(
                &mut body,
                Some(r#"{"openai": {"model": "x"}}"#),
                "openai",
                &["model"],
                &[]
            )
            .is_err()
        );
        assert!(merge_extra(&mut body, Some(r#"{"openai": 5}"#), "openai", &[], &[]).is_err());
    }

    #[test]
    fn synthesized_ids_are_stable_and_distinct() {
        let a = synthesize_call_id(0, "f", "{\"x\":1}");
        assert_eq!(a, synthesize_call_id(0, "f", "{\"x\":1}"));
        assert_ne!(a, synthesize_call_id(1, "f", "{\"x\":1}"));
        assert_ne!(a, synthesize_call_id(0, "g", "{\"x\":1}"));
        assert!(a.starts_with("call_") && a.len() == 21);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'));
    }

    #[test]
    fn tool_result_names_come_from_the_conversation() {
        let mut assistant = Message::assistant("");
        assistant.tool_calls = vec![crate::provider::ToolCall {
            id: "c1".into(),
            name: "calculator".into(),
            arguments: "{}".into(),
            signature: None,
        }];
        let messages = vec![
            assistant,
            Message::tool_result("c1", "4"),
            Message::tool_result("c9", "?"),
        ];
        let names = tool_names_by_id(&messages);
        assert_eq!(
            tool_result_name(&names, &messages[1]).as_deref(),
            Some("calculator")
        );
        assert_eq!(tool_result_name(&names, &messages[2]), None);
        let mut named = messages[2].clone();
        named.name = Some("lookup".into());
        assert_eq!(tool_result_name(&names, &named).as_deref(), Some("lookup"));
    }

    #[test]
    fn arguments_must_be_objects() {
        assert_eq!(arguments_object(0, "f", " ").unwrap(), json!({}));
        assert_eq!(
            arguments_object(0, "f", r#"{"a":1}"#).unwrap(),
            json!({"a":1})
        );
        assert!(arguments_object(0, "f", "[1]").is_err());
        assert!(arguments_object(0, "f", "{bad").is_err());
    }

    #[test]
    fn context_overflow_phrasings() {
        for m in [
            "prompt is too long: 208310 tokens > 200000 maximum",
            "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
            "the input length exceeds the context length",
            "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000",
        ] {
            assert!(mentions_context_overflow(m), "{m}");
        }
        assert!(!mentions_context_overflow("max_tokens: Field required"));
    }

    #[test]
    fn quoting_is_bounded() {
        let long = "x".repeat(2000);
        let q = quote_body(long.as_bytes());
        assert!(q.chars().count() == MAX_QUOTED_BODY + 1 && q.ends_with('…'));
        assert_eq!(quote_body(b"  short \n"), "short");
    }
}
