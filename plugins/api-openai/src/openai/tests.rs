//! Samples from OpenAI's API reference (chat completions, function calling,
//! streaming, embeddings, models) through the conversions.

use super::*;
use hanzo_node_sdk::llm::ToolCallDelta;
use hanzo_node_sdk::sse;

fn parse(body: Value) -> Result<ChatCall, ApiError> {
    parse_chat_request(body.to_string().as_bytes())
}

/// The `data` of every event in `text`, as JSON (`[DONE]` as a string).
fn events(text: &str) -> Vec<Value> {
    let mut decoder = sse::Decoder::new();
    decoder.feed(text.as_bytes()).unwrap();
    assert!(
        !decoder.has_partial_event(),
        "unterminated event in {text:?}"
    );
    let mut out = Vec::new();
    while let Some(event) = decoder.next_event() {
        assert_eq!(event.event, "message", "OpenAI events are unnamed");
        out.push(serde_json::from_str(&event.data).unwrap_or(Value::String(event.data)));
    }
    out
}

fn chunk(content: Option<&str>) -> ChatChunk {
    ChatChunk {
        id: "chatcmpl-123".into(),
        model: "gpt-4o-mini".into(),
        content: content.map(str::to_string),
        tool_calls: Vec::new(),
        finish_reason: None,
        usage: None,
        reasoning: Vec::new(),
        stop_sequence: None,
    }
}

#[test]
fn docs_default_request() {
    // https://platform.openai.com/docs/api-reference/chat/create (Default)
    let call = parse(json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Hello!"}
        ]
    }))
    .unwrap();
    assert!(!call.stream && !call.include_usage);
    let r = call.request;
    assert_eq!(r.model, "gpt-4o");
    assert_eq!(
        r.messages,
        vec![
            Message::system("You are a helpful assistant."),
            Message::user("Hello!")
        ]
    );
    assert!(r.tools.is_empty() && r.tool_choice.is_none() && r.stop.is_empty());
    assert_eq!((r.temperature, r.top_p, r.max_tokens), (None, None, None));
    assert!(!r.json_mode);
    assert_eq!(r.extra, None);
}

#[test]
fn docs_function_calling_request() {
    // https://platform.openai.com/docs/api-reference/chat/create (Functions)
    let call = parse(json!({
        "model": "gpt-4.1",
        "messages": [{"role": "user", "content": "What is the weather like in Boston today?"}],
        "tools": [{
            "type": "function",
            "function": {
                "name": "get_current_weather",
                "description": "Get the current weather in a given location",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
                    },
                    "required": ["location"]
                }
            }
        }],
        "tool_choice": "auto"
    }))
    .unwrap();
    let r = call.request;
    assert_eq!(r.tools.len(), 1);
    assert_eq!(r.tools[0].name, "get_current_weather");
    assert_eq!(
        r.tools[0].description,
        "Get the current weather in a given location"
    );
    let schema: Value = serde_json::from_str(&r.tools[0].parameters).unwrap();
    assert_eq!(schema["required"], json!(["location"]));
    assert_eq!(r.tool_choice, Some(ToolChoice::Auto));
}

#[test]
fn tool_conversation_round_trip() {
    // The follow-up turn of OpenAI's function-calling guide.
    let call = parse(json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "user", "content": "What's the weather like in Paris today?"},
            {"role": "assistant", "content": null, "tool_calls": [{
                "id": "call_12345xyz", "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris, France\"}"}
            }]},
            {"role": "tool", "tool_call_id": "call_12345xyz", "content": "14"}
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather"}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}}
    }))
    .unwrap();
    let m = &call.request.messages;
    assert_eq!(m[1].role, Role::Assistant);
    assert_eq!(m[1].text(), "");
    assert_eq!(
        m[1].tool_calls,
        vec![ToolCall {
            id: "call_12345xyz".into(),
            name: "get_weather".into(),
            arguments: "{\"location\":\"Paris, France\"}".into(),
            signature: None,
        }]
    );
    assert_eq!(m[2], Message::tool_result("call_12345xyz", "14"));
    assert_eq!(
        call.request.tool_choice,
        Some(ToolChoice::Named("get_weather".into()))
    );
    // A tool without parameters gets an empty object schema.
    assert_eq!(call.request.tools[0].parameters, EMPTY_PARAMETERS);
}

#[test]
fn content_parts_and_roles() {
    let call = parse(json!({
        "model": "m",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "name": "ann", "content": [
                {"type": "text", "text": "first"},
                {"type": "text", "text": "second"}
            ]},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't."}]},
        ]
    }))
    .unwrap();
    let m = &call.request.messages;
    assert_eq!(m[0], Message::system("Be brief."));
    assert_eq!(m[1].text(), "first\nsecond");
    assert_eq!(m[1].name.as_deref(), Some("ann"));
    assert_eq!(m[2].text(), "I can't.");
}

#[test]
fn images_become_parts_and_audio_is_refused() {
    use hanzo_node_sdk::llm::MediaSource;
    // The vision sample of the API reference.
    let url = "https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg";
    let call = parse(json!({
        "model": "gpt-4.1",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "What's in this image?"},
            {"type": "image_url", "image_url": {"url": url}}
        ]}],
        "max_tokens": 300
    }))
    .unwrap();
    let parts = &call.request.messages[0].content;
    assert!(matches!(&parts[0], ContentPart::Text(t) if t == "What's in this image?"));
    assert!(
        matches!(&parts[1], ContentPart::Image(i) if matches!(&i.source, MediaSource::Url(u) if u == url))
    );
    let e = parse(json!({
        "model": "gpt-4o-audio-preview",
        "messages": [{"role": "user", "content": [
            {"type": "input_audio", "input_audio": {"data": "AA==", "format": "wav"}}
        ]}]
    }))
    .unwrap_err();
    assert_eq!(e.status, 400);
    assert_eq!(e.code, Some("unsupported_content"));
    assert_eq!(e.param.as_deref(), Some("messages[0].content[0].type"));
}

#[test]
fn sampling_fields_stop_and_json_mode() {
    let call = parse(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.7,
        "top_p": 0.9,
        "max_tokens": 100,
        "stop": "END",
        "response_format": {"type": "json_object"},
        "stream": true,
        "stream_options": {"include_usage": true},
        "n": 1,
    }))
    .unwrap();
    let r = &call.request;
    assert_eq!(
        (r.temperature, r.top_p, r.max_tokens),
        (Some(0.7), Some(0.9), Some(100))
    );
    assert_eq!(r.stop, vec!["END".to_string()]);
    assert!(r.json_mode);
    assert!(call.stream && call.include_usage);
    assert_eq!(r.extra, None, "every field was mapped");

    let call = parse(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 100,
        "max_completion_tokens": 50,
        "stop": ["a", "b"],
        "response_format": {"type": "text"},
    }))
    .unwrap();
    assert_eq!(
        call.request.max_tokens,
        Some(50),
        "max_completion_tokens wins"
    );
    assert_eq!(call.request.stop, vec!["a".to_string(), "b".to_string()]);
    assert!(!call.request.json_mode);
}

#[test]
fn unknown_fields_pass_through_as_extra() {
    let call = parse(json!({
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "seed": 42,
        "frequency_penalty": 0.5,
        "user": "user-1234",
        "parallel_tool_calls": false,
        "logit_bias": null,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
    }))
    .unwrap();
    let extra: Value = serde_json::from_str(call.request.extra.as_deref().unwrap()).unwrap();
    assert_eq!(
        extra,
        json!({
            "seed": 42,
            "frequency_penalty": 0.5,
            "user": "user-1234",
            "parallel_tool_calls": false,
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        })
    );
    assert!(call.request.json_mode, "a schema asks for JSON as well");
}

#[test]
fn invalid_requests_name_the_parameter() {
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
        (json!({"model": "m"}), "messages"),
        (json!({"model": "m", "messages": []}), "messages"),
        (
            json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user"}]}),
            "messages[0].content",
        ),
        (
            json!({"model": "m", "messages": [{"role": "tool", "content": "x"}]}),
            "messages[0].tool_call_id",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}),
            "temperature",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1}),
            "max_tokens",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "stop": 5}),
            "stop",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "sometimes"}),
            "tool_choice",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}),
            "tools[0].function",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 3}),
            "n",
        ),
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "yaml"}}),
            "response_format.type",
        ),
    ];
    for (body, param) in cases {
        let e = parse(body.clone()).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some(param)), "{body}");
        assert_eq!(error_json(&e)["error"]["type"], "invalid_request_error");
    }
    let e = parse_chat_request(b"{not json").unwrap_err();
    assert_eq!(e.status, 400);
}

#[test]
fn docs_chat_completion_response() {
    let response = ChatResponse {
        id: "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT".into(),
        model: "gpt-4o-2024-08-06".into(),
        message: Message::assistant("Hello! How can I assist you today?"),
        finish_reason: FinishReason::Stop,
        usage: Some(Usage {
            prompt_tokens: 19,
            completion_tokens: 10,
            total_tokens: 29,
        }),
        stop_sequence: None,
    };
    let id = completion_id(&response.id, || unreachable!());
    let body = chat_completion_body(&response, &id, 1741569952, "gpt-4o", "seed");
    // OpenAI's field order, as its clients see it on the wire.
    let text = std::str::from_utf8(&body).unwrap();
    assert!(
        text.starts_with(r#"{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion","created":1741569952,"model":"gpt-4o","choices":[{"index":0,"message":{"role":"assistant","content":"#),
        "{text}"
    );
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v,
        json!({
            "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
            "object": "chat.completion",
            "created": 1741569952,
            "model": "gpt-4o",
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I assist you today?", "refusal": null},
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29}
        })
    );
}

#[test]
fn docs_tool_call_response() {
    let response = ChatResponse {
        id: "msg_from_another_provider".into(),
        model: "claude".into(),
        message: Message {
            tool_calls: vec![
                ToolCall {
                    id: "call_abc123".into(),
                    name: "get_current_weather".into(),
                    arguments: "{\n\"location\": \"Boston, MA\"\n}".into(),
                    signature: None,
                },
                ToolCall {
                    id: String::new(),
                    name: "noop".into(),
                    arguments: "{}".into(),
                    signature: None,
                },
            ],
            ..Message::assistant("")
        },
        finish_reason: FinishReason::ToolCalls,
        usage: None,
        stop_sequence: None,
    };
    let id = completion_id(&response.id, || "chatcmpl-fresh".into());
    assert_eq!(id, "chatcmpl-fresh", "a foreign id is replaced");
    let v: Value = serde_json::from_slice(&chat_completion_body(
        &response,
        &id,
        1699896916,
        "gpt-4o-mini",
        "S",
    ))
    .unwrap();
    let message = &v["choices"][0]["message"];
    assert_eq!(message["content"], Value::Null);
    assert_eq!(
        message["tool_calls"],
        json!([
            {"id": "call_abc123", "type": "function", "function": {"name": "get_current_weather", "arguments": "{\n\"location\": \"Boston, MA\"\n}"}},
            {"id": "call_S1", "type": "function", "function": {"name": "noop", "arguments": "{}"}}
        ])
    );
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    assert!(v.get("usage").is_none());
}

#[test]
fn finish_reasons() {
    assert_eq!(finish_reason(FinishReason::Stop), "stop");
    assert_eq!(finish_reason(FinishReason::Length), "length");
    assert_eq!(finish_reason(FinishReason::ToolCalls), "tool_calls");
    assert_eq!(finish_reason(FinishReason::ContentFilter), "content_filter");
    assert_eq!(finish_reason(FinishReason::Other), "stop");
}

#[test]
fn docs_streaming_text() {
    // The shape of the API reference's streaming sample.
    let mut enc = ChunkEncoder::new(
        "chatcmpl-123".into(),
        1694268190,
        "gpt-4o-mini".into(),
        false,
        "s".into(),
    );
    let mut text = String::new();
    text += &enc.chunk(&chunk(Some("Hello")));
    text += &enc.chunk(&chunk(Some("!")));
    text += &enc.chunk(&ChatChunk {
        finish_reason: Some(FinishReason::Stop),
        ..chunk(None)
    });
    text += &enc.finish();
    let ev = events(&text);
    let head = |d: Value, f: Value| {
        json!({
            "id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190,
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": d, "logprobs": null, "finish_reason": f}]
        })
    };
    assert_eq!(
        ev,
        vec![
            head(json!({"role": "assistant", "content": ""}), Value::Null),
            head(json!({"content": "Hello"}), Value::Null),
            head(json!({"content": "!"}), Value::Null),
            head(json!({}), json!("stop")),
            json!("[DONE]"),
        ]
    );
}

#[test]
fn streaming_usage_chunk() {
    let mut enc = ChunkEncoder::new("chatcmpl-1".into(), 1, "alias".into(), true, "s".into());
    let mut text = enc.chunk(&ChatChunk {
        content: Some("Hi".into()),
        finish_reason: Some(FinishReason::Length),
        ..chunk(None)
    });
    // Usage after the finish, as OpenAI upstreams send it.
    text += &enc.chunk(&ChatChunk {
        usage: Some(Usage {
            prompt_tokens: 12,
            completion_tokens: 3,
            total_tokens: 15,
        }),
        ..chunk(None)
    });
    text += &enc.finish();
    let ev = events(&text);
    assert_eq!(ev.len(), 5, "{ev:#?}");
    for e in &ev[..3] {
        assert_eq!(e["usage"], Value::Null);
        assert!(e.as_object().unwrap().contains_key("usage"));
    }
    assert_eq!(ev[1]["choices"][0]["delta"], json!({"content": "Hi"}));
    assert_eq!(ev[2]["choices"][0]["finish_reason"], "length");
    assert_eq!(ev[3]["choices"], json!([]));
    assert_eq!(
        ev[3]["usage"],
        json!({"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15})
    );
    assert_eq!(ev[3]["id"], "chatcmpl-1");
    assert_eq!(ev[4], json!("[DONE]"));
}

#[test]
fn streaming_tool_calls() {
    let mut enc = ChunkEncoder::new("chatcmpl-9".into(), 1, "m".into(), false, "seed".into());
    let delta = |index, id: Option<&str>, name: Option<&str>, args: &str| ChatChunk {
        tool_calls: vec![ToolCallDelta {
            index,
            id: id.map(str::to_string),
            name: name.map(str::to_string),
            arguments: args.into(),
            signature: None,
        }],
        ..chunk(None)
    };
    let mut text = String::new();
    // Router indexes need not start at 0 (an Anthropic upstream numbers blocks).
    text += &enc.chunk(&delta(1, Some("call_abc123"), Some("calculator"), ""));
    text += &enc.chunk(&delta(1, None, None, "{\"expres"));
    text += &enc.chunk(&delta(
        1,
        Some("call_abc123"),
        Some("calculator"),
        "sion\":\"2+2\"}",
    ));
    text += &enc.chunk(&delta(1, None, None, ""));
    text += &enc.chunk(&delta(5, None, Some("noop"), "{}"));
    text += &enc.finish();
    let ev = events(&text);
    let calls: Vec<&Value> = ev[1..ev.len() - 2]
        .iter()
        .map(|e| &e["choices"][0]["delta"]["tool_calls"][0])
        .collect();
    assert_eq!(
        calls,
        vec![
            &json!({"index": 0, "id": "call_abc123", "type": "function", "function": {"name": "calculator", "arguments": ""}}),
            &json!({"index": 0, "function": {"arguments": "{\"expres"}}),
            &json!({"index": 0, "function": {"arguments": "sion\":\"2+2\"}"}}),
            &json!({"index": 1, "id": "call_seed1", "type": "function", "function": {"name": "noop", "arguments": "{}"}}),
        ]
    );
    // No finish reason came from the router: the stream says why it ended.
    assert_eq!(
        ev[ev.len() - 2]["choices"][0]["finish_reason"],
        "tool_calls"
    );
    assert_eq!(ev[ev.len() - 1], json!("[DONE]"));
}

#[test]
fn one_chunk_with_everything_is_split() {
    // What a provider without streaming yields: the whole answer at once.
    let mut enc = ChunkEncoder::new("chatcmpl-1".into(), 1, "m".into(), true, "s".into());
    let whole = ChatChunk {
        content: Some("Let me compute.".into()),
        tool_calls: vec![ToolCallDelta {
            index: 0,
            id: Some("call_1".into()),
            name: Some("calculator".into()),
            arguments: "{\"expression\":\"2+2\"}".into(),
            signature: None,
        }],
        finish_reason: Some(FinishReason::ToolCalls),
        usage: Some(Usage {
            prompt_tokens: 1,
            completion_tokens: 2,
            total_tokens: 3,
        }),
        ..chunk(None)
    };
    let text = enc.chunk(&whole) + &enc.finish();
    let ev = events(&text);
    assert_eq!(ev.len(), 5);
    assert_eq!(ev[1]["choices"][0]["delta"]["content"], "Let me compute.");
    assert_eq!(
        ev[1]["choices"][0]["delta"]["tool_calls"][0]["function"]["name"],
        "calculator"
    );
    assert_eq!(ev[2]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(ev[3]["usage"]["total_tokens"], 3);
}

#[test]
fn stream_error_event() {
    let mut enc = ChunkEncoder::new("chatcmpl-1".into(), 1, "m".into(), false, "s".into());
    let mut text = enc.chunk(&chunk(Some("Hel")));
    let error = ApiError::from_llm(&hanzo_node_sdk::llm::LlmError::Provider(
        hanzo_node_sdk::llm::ProviderError::UpstreamUnavailable("connection reset".into()),
    ));
    text += &enc.error(&error);
    assert_eq!(enc.finish(), "", "nothing follows an error");
    let ev = events(&text);
    assert_eq!(
        ev.last().unwrap(),
        &json!({"error": {"message": "connection reset", "type": "server_error", "param": null, "code": "upstream_unavailable"}})
    );
}

#[test]
fn empty_stream_still_completes() {
    let mut enc = ChunkEncoder::new("chatcmpl-1".into(), 1, "m".into(), false, "s".into());
    let ev = events(&enc.finish());
    assert_eq!(ev.len(), 3);
    assert_eq!(ev[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(ev[1]["choices"][0]["finish_reason"], "stop");
}

#[test]
fn docs_embeddings() {
    // https://platform.openai.com/docs/api-reference/embeddings/create
    let call = parse_embed_request(
        json!({
            "input": "The food was delicious and the waiter...",
            "model": "text-embedding-ada-002",
            "encoding_format": "float"
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(call.encoding, EncodingFormat::Float);
    assert_eq!(
        call.request.inputs,
        vec!["The food was delicious and the waiter...".to_string()]
    );
    assert_eq!(call.request.dimensions, None);
    let response = EmbedResponse {
        model: "text-embedding-ada-002-v2".into(),
        embeddings: vec![vec![0.0023064255, -0.009327292, -0.0028842222]],
        usage: Some(Usage {
            prompt_tokens: 8,
            completion_tokens: 0,
            total_tokens: 8,
        }),
    };
    assert_eq!(
        embeddings_json(&response, "text-embedding-ada-002", call.encoding),
        json!({
            "object": "list",
            "data": [{"object": "embedding", "index": 0, "embedding": [0.0023064255, -0.009327292, -0.0028842222]}],
            "model": "text-embedding-ada-002",
            "usage": {"prompt_tokens": 8, "total_tokens": 8}
        })
    );
}

#[test]
fn embeddings_lists_dimensions_and_base64() {
    let call = parse_embed_request(
        br#"{"model": "e", "input": ["a", "bb"], "dimensions": 2, "encoding_format": "base64"}"#,
    )
    .unwrap();
    assert_eq!(call.request.inputs, vec!["a".to_string(), "bb".to_string()]);
    assert_eq!(call.request.dimensions, Some(2));
    assert_eq!(call.encoding, EncodingFormat::Base64);
    let response = EmbedResponse {
        model: "e".into(),
        embeddings: vec![vec![1.0, -2.5], vec![0.0, 0.0]],
        usage: None,
    };
    let v = embeddings_json(&response, "e", call.encoding);
    assert_eq!(v["data"][0]["embedding"], "AACAPwAAIMA=");
    assert_eq!(v["data"][1]["index"], 1);
    assert_eq!(v["usage"], json!({"prompt_tokens": 0, "total_tokens": 0}));

    for (body, param) in [
        (r#"{"model": "e"}"#, "input"),
        (r#"{"model": "e", "input": []}"#, "input"),
        (r#"{"model": "e", "input": [1, 2, 3]}"#, "input"),
        (
            r#"{"model": "e", "input": "x", "encoding_format": "int8"}"#,
            "encoding_format",
        ),
        (r#"{"input": "x"}"#, "model"),
    ] {
        let e = parse_embed_request(body.as_bytes()).unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some(param)), "{body}");
    }
}

#[test]
fn docs_models() {
    let model = Model {
        id: "gpt-4o-mini".into(),
        owned_by: "openai".into(),
        capabilities: hanzo_node_sdk::llm::Capabilities::CHAT
            | hanzo_node_sdk::llm::Capabilities::TOOLS,
        context_length: 128000,
        input_price_per_mtok: Some(0.15),
        output_price_per_mtok: Some(0.6),
    };
    let list = model_list_json(std::slice::from_ref(&model));
    assert_eq!(list["object"], "list");
    let m = &list["data"][0];
    assert_eq!(
        (&m["id"], &m["object"], &m["created"], &m["owned_by"]),
        (
            &json!("gpt-4o-mini"),
            &json!("model"),
            &json!(0),
            &json!("openai")
        )
    );
    assert_eq!(m["capabilities"], json!(["chat", "tools"]));
    assert_eq!(m["context_length"], 128000);
    assert_eq!(m["pricing"]["output_per_mtok"], 0.6);
}
