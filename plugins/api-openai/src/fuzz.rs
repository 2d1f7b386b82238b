//! Property tests of the request parsers (the bad-input suite): whatever a
//! client sends — random bytes, random JSON, JSON shaped like a request with
//! random values in its fields — each parser answers a request or a client
//! error (4xx, a message), never panics. Each property runs `CASES` inputs.

use crate::{anthropic, openai};
use proptest::prelude::*;
use serde_json::{Map, Value};

const CASES: u32 = 2000;

/// Field names the parsers look for, so random objects reach deep paths.
const KEYS: &[&str] = &[
    "model",
    "messages",
    "role",
    "content",
    "tools",
    "tool_choice",
    "stream",
    "stream_options",
    "include_usage",
    "stop",
    "stop_sequences",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "type",
    "text",
    "name",
    "arguments",
    "function",
    "tool_calls",
    "tool_call_id",
    "tool_use_id",
    "input",
    "system",
    "id",
    "parameters",
    "input_schema",
    "description",
    "n",
    "encoding_format",
    "dimensions",
    "image_url",
    "url",
    "source",
    "response_format",
    "json_schema",
    "user",
    "metadata",
    "seed",
    "cache_control",
    "is_error",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => ".{0,12}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,24}".prop_map(Value::from),
        prop::sample::select(
            &[
                "user",
                "assistant",
                "system",
                "tool",
                "developer",
                "function",
                "text",
                "image_url",
                "tool_use",
                "tool_result",
                "auto",
                "none",
                "required",
                "any",
                "json_object",
                "base64",
                "float",
                "gpt-4o",
            ][..]
        )
        .prop_map(Value::from),
    ]
}

fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object with the parsers' field names on top, each with a random value.
fn request_like() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::btree_map(key(), json(), 0..10).prop_map(|m| {
        serde_json::to_vec(&Value::Object(m.into_iter().collect::<Map<_, _>>())).unwrap()
    })
}

/// Random bytes, random JSON documents, request-like objects.
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        request_like(),
        request_like(),
    ]
}

fn client_error(e: &crate::error::ApiError) -> Result<(), TestCaseError> {
    prop_assert!(
        (400..500).contains(&e.status),
        "status {} for {e:?}",
        e.status
    );
    prop_assert!(!e.message.is_empty(), "an error without a message: {e:?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn chat_completions_requests(body in body()) {
        if let Err(e) = openai::parse_chat_request(&body) {
            client_error(&e)?;
        }
    }

    #[test]
    fn embeddings_requests(body in body()) {
        if let Err(e) = openai::parse_embed_request(&body) {
            client_error(&e)?;
        }
    }

    #[test]
    fn anthropic_messages_requests(body in body()) {
        if let Err(e) = anthropic::parse_messages_request(&body) {
            client_error(&e)?;
        }
    }
}
