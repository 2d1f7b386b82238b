//! Property tests of the transport (the bad-input suite): whatever a client
//! sends — random bytes, random JSON, messages with random methods, ids and
//! params, random headers — the server answers with a JSON-RPC message (or
//! a stream of them, or an empty 200/202), never panics. Each property runs
//! `CASES` inputs.

use crate::server::tests::{ACCEPT_BOTH, FakeNode, Reply, exchange, initialize};
use crate::server::{PROTOCOL_VERSION, Request};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

const CASES: u32 = 1500;

/// Names the server looks for, so random messages reach deep paths.
const KEYS: &[&str] = &[
    "jsonrpc",
    "id",
    "method",
    "params",
    "result",
    "error",
    "name",
    "arguments",
    "expression",
    "text",
    "cursor",
    "_meta",
    "progressToken",
    "protocolVersion",
    "capabilities",
];

const METHODS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "notifications/initialized",
    "notifications/cancelled",
    "resources/list",
];

const TOOLS: &[&str] = &[
    "calculator",
    "echo",
    "nope",
    "broken",
    "trap",
    "ungranted",
    "",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-z_]{0,8}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        prop::sample::select(METHODS).prop_map(|m| json!(m)),
        prop::sample::select(TOOLS).prop_map(|t| json!(t)),
        ".{0,12}".prop_map(Value::String),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A message-shaped object: usually `jsonrpc` 2.0 and a known method, with
/// random ids and params.
fn message() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::option::of(json_value()),
        prop::sample::select(METHODS),
        prop::sample::select(TOOLS),
        json_value(),
        json_value(),
        any::<bool>(),
    )
        .prop_map(|(id, method, tool, arguments, meta, v2)| {
            let mut message = json!({
                "method": method,
                "params": {"name": tool, "arguments": arguments, "_meta": meta, "protocolVersion": "2025-06-18"},
            });
            if v2 {
                message["jsonrpc"] = json!("2.0");
            }
            if let Some(id) = id {
                message["id"] = id;
            }
            serde_json::to_vec(&message).unwrap()
        })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..128),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        message(),
        message(),
        message(),
    ]
}

fn header() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        Just(ACCEPT_BOTH.to_string()),
        Just("text/event-stream".to_string()),
        Just("application/json".to_string()),
        Just(PROTOCOL_VERSION.to_string()),
        ".{0,24}",
    ])
}

/// Each message of the reply is a JSON-RPC 2.0 message.
fn well_formed(reply: &Reply) -> Result<(), TestCaseError> {
    prop_assert!(reply.finished);
    if reply.body.is_empty() {
        prop_assert!(matches!(reply.status, 200 | 202), "empty {}", reply.status);
        return Ok(());
    }
    let messages = if reply.streamed {
        reply.events()
    } else {
        vec![reply.json()]
    };
    for m in messages {
        prop_assert_eq!(&m["jsonrpc"], "2.0");
        let answer = m.get("result").is_some() as u8 + m.get("error").is_some() as u8;
        let notification = m.get("method").is_some() as u8;
        prop_assert_eq!(answer + notification, 1, "{}", m);
        if let Some(error) = m.get("error") {
            prop_assert!(error["code"].is_i64(), "{}", m);
            prop_assert!(
                error["message"].as_str().is_some_and(|s| !s.is_empty()),
                "{}",
                m
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: CASES, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn messages_in_a_session(body in body(), accept in header(), version in header()) {
        let node = FakeNode::default();
        let session = initialize(&node);
        let request = Request {
            method: "POST",
            path: "/mcp",
            accept: accept.as_deref(),
            content_type: Some("application/json"),
            session_id: Some(&session),
            protocol_version: version.as_deref(),
        };
        well_formed(&exchange(&node, &request, Some(&body)))?;
    }

    #[test]
    fn requests_of_any_shape(
        method in prop::sample::select(&["POST", "GET", "DELETE", "PUT"][..]),
        path in prop_oneof![Just("/mcp".to_string()), "/[a-z/]{0,8}"],
        body in body(),
        headers in (header(), header(), header(), header()),
    ) {
        let node = FakeNode::default();
        let (accept, content_type, session_id, version) = headers;
        let request = Request {
            method,
            path: &path,
            accept: accept.as_deref(),
            content_type: content_type.as_deref(),
            session_id: session_id.as_deref(),
            protocol_version: version.as_deref(),
        };
        well_formed(&exchange(&node, &request, Some(&body)))?;
    }
}
