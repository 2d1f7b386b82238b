//! Property tests of the request parsers (the bad-input suite): whatever a
//! client sends — random bytes, random JSON, JSON shaped like a request with
//! random values in its fields — each parser answers a request or a client
//! error (4xx, a message), never panics. Each property runs `CASES` inputs.

use crate::{anthropic, openai, plain_chat};
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

/// A chat request of the fast path's shape, each part now and then off it:
/// roles it does not take, content that is not a string, numbers of every
/// kind, other fields.
fn chat_like() -> impl Strategy<Value = Vec<u8>> {
    let role = prop_oneof![
        6 => prop::sample::select(&["system", "developer", "user", "assistant"][..]),
        1 => prop::sample::select(&["tool", "function", "User", ""][..]),
    ];
    let content = prop_oneof![
        8 => ".{0,12}".prop_map(Value::from),
        1 => leaf(),
        1 => json(),
    ];
    let name = prop_oneof![
        6 => Just(None),
        2 => ".{0,6}".prop_map(|s| Some(Value::from(s))),
        1 => leaf().prop_map(Some),
    ];
    let off = prop_oneof![12 => Just(None), 1 => (key(), leaf()).prop_map(Some)];
    let message = (role, content, name, off.clone()).prop_map(|(role, content, name, off)| {
        let mut m = Map::new();
        m.insert("role".into(), role.into());
        m.insert("content".into(), content);
        if let Some(name) = name {
            m.insert("name".into(), name);
        }
        if let Some((k, v)) = off {
            m.insert(k, v);
        }
        Value::Object(m)
    });
    let number = || {
        prop_oneof![
            4 => (0u64..3).prop_map(Value::from),
            4 => (-1e3f64..1e3).prop_map(Value::from),
            1 => any::<u64>().prop_map(Value::from),
            1 => any::<i64>().prop_map(Value::from),
            1 => Just(Value::from(1e300)),
            1 => leaf(),
        ]
    };
    let flag = || prop_oneof![3 => any::<bool>().prop_map(Value::from), 1 => leaf()];
    let field = |v: BoxedStrategy<Value>| prop::option::weighted(0.3, v);
    (
        prop_oneof![6 => "[a-z]{0,8}".prop_map(Value::from), 1 => leaf()],
        prop::collection::vec(message, 0..3),
        (
            field(number().boxed()),
            field(number().boxed()),
            field(number().boxed()),
            field(number().boxed()),
            field(number().boxed()),
            field(flag().boxed()),
        ),
        prop::option::of(prop::option::of(flag())),
        off,
    )
        .prop_map(|(model, messages, numbers, stream_options, off)| {
            let (temperature, top_p, max_tokens, max_completion_tokens, n, stream) = numbers;
            let mut body = Map::new();
            body.insert("model".into(), model);
            body.insert("messages".into(), Value::Array(messages));
            for (k, v) in [
                ("temperature", temperature),
                ("top_p", top_p),
                ("max_tokens", max_tokens),
                ("max_completion_tokens", max_completion_tokens),
                ("n", n),
                ("stream", stream),
            ] {
                if let Some(v) = v {
                    body.insert(k.into(), v);
                }
            }
            if let Some(include_usage) = stream_options {
                let mut o = Map::new();
                if let Some(v) = include_usage {
                    o.insert("include_usage".into(), v);
                }
                body.insert("stream_options".into(), Value::Object(o));
            }
            if let Some((k, v)) = off {
                body.insert(k, v);
            }
            serde_json::to_vec(&Value::Object(body)).unwrap()
        })
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

    /// What the fast path takes, it parses as the full parser does.
    #[test]
    fn the_fast_path_agrees_with_the_full_parser(body in prop_oneof![3 => chat_like(), 1 => body()]) {
        if let Some(fast) = plain_chat::parse(&body) {
            let full = openai::parse_full_chat_request(&body);
            prop_assert_eq!(Ok(&fast), full.as_ref().map_err(|e| &e.message));
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
