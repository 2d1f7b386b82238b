//! Samples from Anthropic's Messages API documentation (basic request, tool
//! use and tool results, streaming events, errors) through the conversions.

use super::*;
use hanzo_node_sdk::llm::ToolCallDelta;
use hanzo_node_sdk::sse;

fn parse(body: Value) -> Result<MessagesCall, ApiError> {
    parse_messages_request(body.to_string().as_bytes())
}

/// `(event name, data)` of every event in `text`.
fn events(text: &str) -> Vec<(String, Value)> {
    let mut decoder = sse::Decoder::new();
    decoder.feed(text.as_bytes()).unwrap();
    assert!(
        !decoder.has_partial_event(),
        "unterminated event in {text:?}"
    );
    let mut out = Vec::new();
    while let Some(event) = decoder.next_event() {
        let data: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(data["type"], event.event.as_str(), "event name = data.type");
        out.push((event.event, data));
    }
    out
}

fn names(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(name, _)| name.as_str()).collect()
}

fn chunk() -> ChatChunk {
    ChatChunk {
        id: "chatcmpl-x".into(),
        model: "upstream".into(),
        content: None,
        tool_calls: Vec::new(),
        finish_reason: None,
        usage: None,
        reasoning: Vec::new(),
        stop_sequence: None,
    }
}

#[test]
fn docs_basic_request() {
    // https://docs.anthropic.com/en/api/messages (example request)
    let call = parse(json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hello, world"}]
    }))
    .unwrap();
    assert!(!call.stream);
    let r = call.request;
    assert_eq!(r.model, "claude-sonnet-4-5");
    assert_eq!(r.max_tokens, Some(1024));
    assert_eq!(r.messages, vec![Message::user("Hello, world")]);
    assert_eq!(r.extra, None);
}

#[test]
fn system_sampling_and_stop_sequences() {
    let call = parse(json!({
        "model": "m",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Bye"}
        ],
        "temperature": 0.5,
        "top_p": 0.8,
        "top_k": 40,
        "stop_sequences": ["\n\nHuman:"],
        "stream": true,
        "metadata": {"user_id": "u-1"},
        "cache_control": {"type": "ephemeral"},
        "thinking": {"type": "adaptive"},
        "output_config": {"effort": "low", "format": {"type": "json_schema", "schema": {"type": "object"}}},
        "service_tier": "auto"
    }))
    .unwrap();
    assert!(call.stream);
    let r = call.request;
    assert_eq!(
        r.messages,
        vec![
            Message::system("You are terse."),
            Message::user("Hi\nthere"),
            Message::assistant("Hello"),
            Message::user("Bye"),
        ]
    );
    assert_eq!((r.temperature, r.top_p), (Some(0.5), Some(0.8)));
    assert_eq!(r.stop, vec!["\n\nHuman:".to_string()]);
    // top_k is provider-specific: passed on; thinking goes to Anthropic
    // upstreams only; the other Anthropic-only controls are dropped.
    let extra: Value = serde_json::from_str(r.extra.as_deref().unwrap()).unwrap();
    assert_eq!(
        extra,
        json!({"top_k": 40, "anthropic": {"thinking": {"type": "adaptive"}}})
    );
    assert!(r.json_mode, "output_config.format asks for JSON");
    let plain = parse(json!({"model": "m", "max_tokens": 1, "system": "Be kind.",
        "messages": [{"role": "user", "content": "x"}]}))
    .unwrap();
    assert_eq!(plain.request.messages[0], Message::system("Be kind."));
}

/// Claude Code sends system turns inside the conversation (`POST
/// /v1/messages?beta=true`), with `thinking`, `context_management`,
/// `output_config`, `metadata` and cache-control markers: accepted, the
/// system turns kept where they were, the signed thinking kept as the
/// assistant's reasoning, `thinking` for Anthropic upstreams only, the other
/// Anthropic-only fields dropped.
#[test]
fn a_claude_code_request_is_accepted() {
    let call = parse(json!({
        "model": "claude-sonnet-4-5",
        "max_tokens": 32000,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "list files", "cache_control": {"type": "ephemeral"}}]},
            {"role": "system", "content": "<system-reminder>todo list is empty</system-reminder>"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "…", "signature": "sig"},
                {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "ls"}},
            ]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"}]},
        ],
        "tools": [{"name": "Bash", "description": "Run a command", "input_schema": {"type": "object"}}],
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "metadata": {"user_id": "user_abc"},
        "stream": true,
    }))
    .unwrap();
    let roles: Vec<Role> = call.request.messages.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::User,
            Role::System,
            Role::Assistant,
            Role::Tool
        ]
    );
    assert_eq!(call.request.messages[3].tool_calls[0].name, "Bash");
    assert_eq!(
        call.request.messages[3].reasoning[0].signature.as_deref(),
        Some("sig")
    );
    let extra: Value = serde_json::from_str(call.request.extra.as_deref().unwrap()).unwrap();
    assert_eq!(
        extra,
        json!({"anthropic": {"thinking": {"type": "enabled", "budget_tokens": 31999}}}),
        "thinking is scoped to Anthropic upstreams, the rest dropped"
    );
    assert!(!call.request.json_mode);
}

#[test]
fn docs_tool_use_request() {
    // https://docs.anthropic.com/en/docs/agents-and-tools/tool-use/overview
    let call = parse(json!({
        "model": "claude-opus-4-1",
        "max_tokens": 1024,
        "tools": [{
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": {
                "type": "object",
                "properties": {"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"}},
                "required": ["location"]
            }
        }],
        "tool_choice": {"type": "any"},
        "messages": [{"role": "user", "content": "What is the weather like in San Francisco?"}]
    }))
    .unwrap();
    let tool = &call.request.tools[0];
    assert_eq!(tool.name, "get_weather");
    assert_eq!(
        tool.description,
        "Get the current weather in a given location"
    );
    let schema: Value = serde_json::from_str(&tool.parameters).unwrap();
    assert_eq!(schema["required"], json!(["location"]));
    assert_eq!(call.request.tool_choice, Some(ToolChoice::Required));
}

#[test]
fn tool_choices() {
    let choice = |c: Value| {
        parse(json!({"model": "m", "max_tokens": 1, "tool_choice": c,
            "messages": [{"role": "user", "content": "x"}]}))
        .map(|call| call.request.tool_choice)
    };
    assert_eq!(
        choice(json!({"type": "auto"})).unwrap(),
        Some(ToolChoice::Auto)
    );
    assert_eq!(
        choice(json!({"type": "none"})).unwrap(),
        Some(ToolChoice::None)
    );
    assert_eq!(
        choice(json!({"type": "tool", "name": "get_weather", "disable_parallel_tool_use": true}))
            .unwrap(),
        Some(ToolChoice::Named("get_weather".into()))
    );
    assert!(choice(json!({"type": "tool"})).is_err());
    assert!(choice(json!("auto")).is_err());
}

#[test]
fn docs_tool_result_conversation() {
    // The tool-result turn of Anthropic's tool-use guide.
    let call = parse(json!({
        "model": "claude-opus-4-1",
        "max_tokens": 1024,
        "messages": [
            {"role": "user", "content": "What's the weather like in San Francisco?"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "The user wants weather.", "signature": "sig"},
                {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"location": "San Francisco, CA"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"}
            ]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}},
                {"type": "tool_use", "id": "toolu_3", "name": "get_date"}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": [{"type": "text", "text": "noon"}]},
                {"type": "tool_result", "tool_use_id": "toolu_3", "content": "no calendar", "is_error": true},
                {"type": "text", "text": "And tomorrow?"}
            ]}
        ]
    }))
    .unwrap();
    let m = call.request.messages;
    assert_eq!(m.len(), 7, "{m:#?}");
    assert_eq!(m[1].role, Role::Assistant);
    assert_eq!(
        m[1].text(),
        "I'll check the current weather in San Francisco for you."
    );
    assert_eq!(
        m[1].tool_calls,
        vec![ToolCall {
            id: "toolu_01A09q90qw90lq917835lq9".into(),
            name: "get_weather".into(),
            arguments: r#"{"location":"San Francisco, CA"}"#.into(),
            signature: None,
        }]
    );
    assert_eq!(
        m[2],
        Message::tool_result("toolu_01A09q90qw90lq917835lq9", "15 degrees")
    );
    assert_eq!(m[3].tool_calls.len(), 2);
    assert_eq!(m[3].tool_calls[1].arguments, "{}");
    assert_eq!(m[4], Message::tool_result("toolu_2", "noon"));
    assert_eq!(m[5], Message::tool_result("toolu_3", "Error: no calendar"));
    assert_eq!(m[6], Message::user("And tomorrow?"));
}

#[test]
fn invalid_requests() {
    let base = |extra: Value| {
        let mut body =
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        parse(body)
    };
    let cases = [
        (json!({"max_tokens": null}), "max_tokens"),
        (json!({"max_tokens": 0}), "max_tokens"),
        (json!({"model": null}), "model"),
        (json!({"messages": []}), "messages"),
        (
            json!({"messages": [{"role": "tool", "content": "x"}]}),
            "messages.0.role",
        ),
        (
            json!({"messages": [{"role": "system", "content": 5}]}),
            "messages.0.content",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "%%"}}]}]}),
            "messages.0.content.0.source.data",
        ),
        (
            json!({"messages": [{"role": "assistant", "content": [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AA=="}}]}]}),
            "messages.0.content.0.type",
        ),
        (
            json!({"messages": [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "n", "input": {}}]}]}),
            "messages.0.content.0.type",
        ),
        (json!({"tools": [{"name": "t"}]}), "tools.0.input_schema"),
        (
            json!({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
            "tools.0.type",
        ),
        (json!({"stop_sequences": "END"}), "stop_sequences"),
        (json!({"system": 5}), "system"),
    ];
    for (change, param) in cases {
        let e = base(change.clone()).unwrap_err();
        assert_eq!(
            (e.status, e.param.as_deref()),
            (400, Some(param)),
            "{change}"
        );
        assert_eq!(
            error_json(&e),
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": e.message}})
        );
    }
}

#[test]
fn docs_text_response() {
    let response = ChatResponse {
        id: "chatcmpl-B9M".into(),
        model: "gpt-4o-mini".into(),
        message: Message::assistant("Hi! My name is Claude."),
        finish_reason: FinishReason::Stop,
        usage: Some(Usage {
            prompt_tokens: 2095,
            completion_tokens: 503,
            total_tokens: 2598,
        }),
        stop_sequence: None,
    };
    let id = message_id(&response.id, || "msg_013Zva2CMHLNnXjNJJKqJ2EF".into());
    assert_eq!(
        message_json(&response, &id, "claude-sonnet-4-5", "s"),
        json!({
            "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "Hi! My name is Claude."}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 2095, "output_tokens": 503}
        })
    );
    assert_eq!(message_id("msg_01abc", || unreachable!()), "msg_01abc");
}

#[test]
fn docs_tool_use_response() {
    let response = ChatResponse {
        id: "chatcmpl-1".into(),
        model: "m".into(),
        message: Message {
            tool_calls: vec![
                ToolCall {
                    id: "toolu_01A09q90qw90lq917835lq9".into(),
                    name: "get_weather".into(),
                    arguments: r#"{"location": "San Francisco, CA"}"#.into(),
                    signature: None,
                },
                ToolCall {
                    id: String::new(),
                    name: "noop".into(),
                    arguments: String::new(),
                    signature: None,
                },
                ToolCall {
                    id: "call_x".into(),
                    name: "broken".into(),
                    arguments: "{\"a\":".into(),
                    signature: None,
                },
            ],
            ..Message::assistant("I'll check the current weather in San Francisco for you.")
        },
        // An OpenAI-style upstream that says `stop` for a tool turn.
        finish_reason: FinishReason::Stop,
        usage: None,
        stop_sequence: None,
    };
    let v = message_json(&response, "msg_1", "claude-opus-4-1", "S");
    assert_eq!(
        v["content"],
        json!([
            {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"location": "San Francisco, CA"}},
            {"type": "tool_use", "id": "toolu_S1", "name": "noop", "input": {}},
            {"type": "tool_use", "id": "call_x", "name": "broken", "input": {"_raw": "{\"a\":"}}
        ])
    );
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["usage"], json!({"input_tokens": 0, "output_tokens": 0}));

    let only_tools = ChatResponse {
        message: Message {
            content: Vec::new(),
            ..response.message.clone()
        },
        ..response
    };
    let v = message_json(&only_tools, "msg_1", "m", "S");
    assert_eq!(v["content"][0]["type"], "tool_use", "no empty text block");
}

#[test]
fn stop_reasons() {
    assert_eq!(stop_reason(FinishReason::Stop), "end_turn");
    assert_eq!(stop_reason(FinishReason::Length), "max_tokens");
    assert_eq!(stop_reason(FinishReason::ToolCalls), "tool_use");
    assert_eq!(stop_reason(FinishReason::ContentFilter), "refusal");
    assert_eq!(stop_reason(FinishReason::Other), "end_turn");
}

#[test]
fn docs_streaming_text() {
    // The event sequence of https://docs.anthropic.com/en/docs/build-with-claude/streaming
    let mut enc = EventEncoder::new(
        "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY".into(),
        "claude-opus-4-6".into(),
        "s".into(),
    );
    let mut text = String::new();
    for part in ["Hello", "!"] {
        text += &enc.chunk(&ChatChunk {
            content: Some(part.into()),
            ..chunk()
        });
    }
    text += &enc.chunk(&ChatChunk {
        finish_reason: Some(FinishReason::Stop),
        usage: Some(Usage {
            prompt_tokens: 25,
            completion_tokens: 15,
            total_tokens: 40,
        }),
        ..chunk()
    });
    text += &enc.finish();
    let ev = events(&text);
    assert_eq!(
        names(&ev),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        ev[0].1,
        json!({"type": "message_start", "message": {
            "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant",
            "model": "claude-opus-4-6", "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0}
        }})
    );
    assert_eq!(
        ev[1].1,
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    assert_eq!(
        ev[2].1,
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}})
    );
    assert_eq!(ev[4].1, json!({"type": "content_block_stop", "index": 0}));
    assert_eq!(
        ev[5].1,
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"input_tokens": 25, "output_tokens": 15}})
    );
    assert_eq!(ev[6].1, json!({"type": "message_stop"}));
}

#[test]
fn docs_streaming_tool_use() {
    // Text, then a tool call whose arguments arrive in fragments (the
    // "Streaming request with tool use" sample), then a second call.
    let mut enc = EventEncoder::new("msg_1".into(), "m".into(), "seed".into());
    let delta = |index, id: Option<&str>, name: Option<&str>, args: &str| ChatChunk {
        tool_calls: vec![ToolCallDelta {
            index,
            id: id.map(str::to_string),
            name: name.map(str::to_string),
            arguments: args.into(),
            signature: None,
        }],
        ..chunk()
    };
    let mut text = enc.chunk(&ChatChunk {
        content: Some("Okay, let's check the weather for San Francisco, CA:".into()),
        ..chunk()
    });
    text += &enc.chunk(&delta(
        0,
        Some("toolu_01T1x1fJ34qAmk2tNTrN7Up6"),
        Some("get_weather"),
        "",
    ));
    text += &enc.chunk(&delta(0, None, None, "{\"location\":"));
    text += &enc.chunk(&delta(0, None, None, " \"San Francisco, CA\"}"));
    text += &enc.chunk(&delta(1, None, Some("get_time"), "{}"));
    text += &enc.chunk(&ChatChunk {
        finish_reason: Some(FinishReason::ToolCalls),
        usage: Some(Usage {
            prompt_tokens: 10,
            completion_tokens: 89,
            total_tokens: 99,
        }),
        ..chunk()
    });
    text += &enc.finish();
    let ev = events(&text);
    assert_eq!(
        names(&ev),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(
        ev[4].1,
        json!({"type": "content_block_start", "index": 1, "content_block":
            {"type": "tool_use", "id": "toolu_01T1x1fJ34qAmk2tNTrN7Up6", "name": "get_weather", "input": {}}})
    );
    assert_eq!(
        ev[5].1,
        json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": "{\"location\":"}})
    );
    assert_eq!(ev[7].1["index"], 1);
    assert_eq!(ev[8].1["index"], 2);
    assert_eq!(ev[8].1["content_block"]["id"], "toolu_seed1");
    assert_eq!(ev[11].1["delta"]["stop_reason"], "tool_use");
    assert_eq!(ev[11].1["usage"]["output_tokens"], 89);
}

#[test]
fn stream_without_finish_or_content() {
    let mut enc = EventEncoder::new("msg_1".into(), "m".into(), "s".into());
    let ev = events(&enc.finish());
    assert_eq!(
        names(&ev),
        ["message_start", "message_delta", "message_stop"]
    );
    assert_eq!(ev[1].1["delta"]["stop_reason"], "end_turn");
    assert_eq!(enc.finish(), "");

    // Tool calls but a plain `stop`: still a tool_use turn.
    let mut enc = EventEncoder::new("msg_1".into(), "m".into(), "s".into());
    let mut text = enc.chunk(&ChatChunk {
        tool_calls: vec![ToolCallDelta {
            index: 0,
            id: Some("c".into()),
            name: Some("f".into()),
            arguments: "{}".into(),
            signature: None,
        }],
        finish_reason: Some(FinishReason::Stop),
        ..chunk()
    });
    text += &enc.finish();
    let ev = events(&text);
    assert_eq!(ev[ev.len() - 2].1["delta"]["stop_reason"], "tool_use");
}

#[test]
fn docs_errors() {
    // https://docs.anthropic.com/en/api/errors
    let e = ApiError::from_llm(&hanzo_node_sdk::llm::LlmError::UnknownModel(
        "no such model".into(),
    ));
    assert_eq!(
        error_json(&e),
        json!({"type": "error", "error": {"type": "not_found_error", "message": "no such model"}})
    );
    let overloaded = ApiError::from_llm(&hanzo_node_sdk::llm::LlmError::Provider(
        hanzo_node_sdk::llm::ProviderError::UpstreamUnavailable("Overloaded".into()),
    ));
    assert_eq!(error_json(&overloaded)["error"]["type"], "overloaded_error");
    let mut enc = EventEncoder::new("msg_1".into(), "m".into(), "s".into());
    let mut text = enc.chunk(&ChatChunk {
        content: Some("Hel".into()),
        ..chunk()
    });
    text += &enc.error(&overloaded);
    assert_eq!(enc.finish(), "", "nothing follows an error");
    let ev = events(&text);
    assert_eq!(
        ev.last().unwrap(),
        &(
            "error".to_string(),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        )
    );
}

#[test]
fn models_for_anthropic_clients() {
    let models = vec![Model {
        id: "claude-sonnet".into(),
        owned_by: "anthropic".into(),
        capabilities: hanzo_node_sdk::llm::Capabilities::CHAT,
        context_length: 0,
        input_price_per_mtok: None,
        output_price_per_mtok: None,
    }];
    assert_eq!(
        model_list_json(&models),
        json!({
            "data": [{"type": "model", "id": "claude-sonnet", "display_name": "claude-sonnet", "created_at": "1970-01-01T00:00:00Z"}],
            "has_more": false, "first_id": "claude-sonnet", "last_id": "claude-sonnet"
        })
    );
}
