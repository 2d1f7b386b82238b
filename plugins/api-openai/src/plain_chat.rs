//! The fast path of `POST /v1/chat/completions`: a plain chat request
//! (text messages from `system`, `developer`, `user` and `assistant`, the
//! sampling numbers, `stream`) parsed straight into its types, with no
//! `serde_json::Value` tree built and copied on the way. Most requests are
//! plain, and the tree cost a gateway request more CPU than anything else
//! the plugin does.
//!
//! It never decides anything: a body it does not take whole (any other
//! field or shape, a value it would have to judge) gets `None`, and the full
//! parser in [`crate::openai`] answers it, errors and all. What it takes, it
//! parses exactly as that parser does; `crate::fuzz` checks the two agree.

use crate::openai::ChatCall;
use crate::wire::finite_f32;
use hanzo_node_sdk::content::text_content;
use hanzo_node_sdk::llm::{ChatRequest, Message, Role};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainChat {
    model: String,
    messages: Vec<PlainMessage>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    max_tokens: Option<u64>,
    max_completion_tokens: Option<u64>,
    stream: Option<bool>,
    stream_options: Option<PlainStreamOptions>,
    n: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainMessage {
    role: PlainRole,
    content: String,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum PlainRole {
    System,
    Developer,
    User,
    Assistant,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainStreamOptions {
    include_usage: Option<bool>,
}

/// `body` as a chat call when it is a plain one; `None` sends it to the full
/// parser.
pub fn parse(body: &[u8]) -> Option<ChatCall> {
    let plain: PlainChat = serde_json::from_slice(body).ok()?;
    if plain.model.is_empty() || plain.messages.is_empty() || plain.n.is_some_and(|n| n != 1) {
        return None;
    }
    let max_tokens = match plain.max_completion_tokens {
        Some(n) => Some(n),
        None => plain.max_tokens,
    };
    let max_tokens = match max_tokens {
        Some(n) => Some(u32::try_from(n).ok()?),
        None => None,
    };
    let messages = plain
        .messages
        .into_iter()
        .map(|m| Message {
            name: m.name,
            content: text_content(m.content),
            ..Message::new(
                match m.role {
                    PlainRole::System | PlainRole::Developer => Role::System,
                    PlainRole::User => Role::User,
                    PlainRole::Assistant => Role::Assistant,
                },
                "",
            )
        })
        .collect();
    Some(ChatCall {
        request: ChatRequest {
            temperature: sampling(plain.temperature)?,
            top_p: sampling(plain.top_p)?,
            max_tokens,
            ..ChatRequest::new(plain.model, messages)
        },
        stream: plain.stream.unwrap_or(false),
        include_usage: plain
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
    })
}

/// A sampling number as the WIT `f32`: `Some(None)` when absent, `None`
/// (the full parser's error) when it does not fit.
fn sampling(value: Option<f64>) -> Option<Option<f32>> {
    match value {
        None => Some(None),
        Some(f) => finite_f32(f).map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai;

    #[test]
    fn the_requests_clients_send_most_take_the_fast_path() {
        for body in [
            r#"{"model":"bench","messages":[{"role":"system","content":"You are a latency benchmark."},{"role":"user","content":"Say hello"}],"max_tokens":16,"temperature":0}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi","name":"ann"}],"stream":true,"stream_options":{"include_usage":true}}"#,
            r#"{"model":"m","messages":[{"role":"developer","content":""},{"role":"assistant","content":"yes"}],"top_p":0.5,"max_completion_tokens":9,"max_tokens":3,"n":1,"temperature":null}"#,
        ] {
            let fast = parse(body.as_bytes()).expect(body);
            let full = openai::parse_full_chat_request(body.as_bytes()).expect(body);
            assert_eq!(fast, full, "{body}");
        }
    }

    #[test]
    fn anything_else_goes_to_the_full_parser() {
        for body in [
            // Fields and shapes it does not take.
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}"#,
            r#"{"model":"m","messages":[{"role":"tool","content":"1","tool_call_id":"c"}]}"#,
            r#"{"model":"m","messages":[{"role":"assistant","content":null}]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"user":"u1"}"#,
            // Values the full parser judges.
            r#"{"model":"","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","messages":[]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"n":2}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":4294967296}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":16.0}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":1e300}"#,
            r#"{"model":"m","model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            r#"{"model":"m","messages":[{"role":"user","content":"hi"}]} x"#,
        ] {
            assert_eq!(parse(body.as_bytes()), None, "{body}");
        }
    }
}
