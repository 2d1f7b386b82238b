//! Tests on JSON and NDJSON as Ollama sends them (samples from its API
//! documentation and captured responses).

use super::*;
use crate::http::{ErrorCode, HttpError};
use crate::provider::{Image, ToolDefinition};
use crate::wire::testing::{FakeBody, check_batching, collect};

fn request() -> ChatRequest {
    ChatRequest {
        model: "llama3.2".into(),
        messages: vec![
            Message::system("Be brief."),
            Message::user("why is the sky blue?"),
        ],
        tools: Vec::new(),
        tool_choice: None,
        temperature: None,
        top_p: None,
        max_tokens: None,
        stop: Vec::new(),
        json_mode: false,
        extra: None,
    }
}

fn weather_tool() -> ToolDefinition {
    ToolDefinition {
        name: "get_current_weather".into(),
        description: "Get the current weather for a location".into(),
        parameters: r#"{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}"#.into(),
    }
}

#[test]
fn minimal_request() {
    let body = chat_request_body(&request(), false, &ChatDefaults::default()).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "llama3.2",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "why is the sky blue?"},
            ],
            "stream": false,
        })
    );
}

#[test]
fn full_request_with_tool_round_trip() {
    let mut r = request();
    r.tools = vec![weather_tool()];
    r.tool_choice = Some(ToolChoice::Auto);
    r.temperature = Some(0.7);
    r.top_p = Some(0.9);
    r.max_tokens = Some(128);
    r.stop = vec!["</s>".into()];
    r.json_mode = true;
    r.extra = Some(r#"{"options": {"seed": 42}, "think": false}"#.into());
    let mut call = Message::assistant("");
    call.tool_calls = vec![ToolCall {
        id: "call_1".into(),
        name: "get_current_weather".into(),
        arguments: r#"{"location":"Paris, FR"}"#.into(),
        signature: None,
    }];
    r.messages.push(call);
    r.messages
        .push(Message::tool_result("call_1", "22 degrees celsius"));
    let defaults = ChatDefaults {
        num_ctx: Some(8192),
        keep_alive: Some("10m".into()),
        truncate: Some(false),
    };
    let body = chat_request_body(&r, true, &defaults).unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["format"], "json");
    assert_eq!(body["keep_alive"], "10m");
    assert_eq!(body["truncate"], false);
    assert_eq!(body["think"], false);
    assert_eq!(
        body["options"],
        json!({"temperature": 0.7, "top_p": 0.9, "num_predict": 128, "stop": ["</s>"], "num_ctx": 8192, "seed": 42})
    );
    assert_eq!(
        body["tools"],
        json!([{"type": "function", "function": {
            "name": "get_current_weather",
            "description": "Get the current weather for a location",
            "parameters": {"type":"object","properties":{"location":{"type":"string"}},"required":["location"]},
        }}])
    );
    assert_eq!(
        body["messages"][2],
        json!({"role": "assistant", "content": "", "tool_calls": [
            {"function": {"name": "get_current_weather", "arguments": {"location": "Paris, FR"}}}
        ]})
    );
    assert_eq!(
        body["messages"][3],
        json!({"role": "tool", "content": "22 degrees celsius", "tool_name": "get_current_weather"})
    );
    let body = chat_request_body(
        &r,
        false,
        &ChatDefaults {
            keep_alive: Some("-1".into()),
            ..ChatDefaults::default()
        },
    )
    .unwrap();
    assert_eq!(body["keep_alive"], -1);
}

#[test]
fn images_go_in_the_images_array() {
    let mut r = request();
    r.messages[1] = Message::with_parts(
        Role::User,
        vec![
            ContentPart::Text("what is in ".into()),
            ContentPart::image_bytes("image/png", vec![0x89, b'P', b'N', b'G']),
            ContentPart::Text("these pictures?".into()),
            // A data: URL that reached the provider as a URL.
            ContentPart::Image(Image {
                source: MediaSource::Url("data:image/jpeg;base64,/9j/".into()),
                detail: Some("low".into()),
            }),
        ],
    );
    let body = chat_request_body(&r, false, &ChatDefaults::default()).unwrap();
    assert_eq!(
        body["messages"][1],
        json!({"role": "user", "content": "what is in these pictures?", "images": ["iVBORw==", "/9j/"]})
    );
    assert!(body["messages"][0].get("images").is_none());
}

#[test]
fn image_urls_and_documents_are_unsupported() {
    let mut r = request();
    r.messages[1] = Message::with_parts(
        Role::User,
        vec![ContentPart::image_url("https://example.com/cat.png")],
    );
    assert!(matches!(
        chat_request_body(&r, false, &ChatDefaults::default()),
        Err(ProviderError::Unsupported(m)) if m.contains("ollama takes images as bytes, not URLs")
    ));
    r.messages[1] = Message::with_parts(
        Role::User,
        vec![ContentPart::document_bytes(
            "application/pdf",
            b"%PDF".to_vec(),
        )],
    );
    assert!(matches!(
        chat_request_body(&r, false, &ChatDefaults::default()),
        Err(ProviderError::Unsupported(m)) if m.contains("documents")
    ));
}

#[test]
fn thinking_round_trips_as_reasoning() {
    let body = br#"{"model":"qwen3","created_at":"2025-05-29T09:35:56.836222Z",
      "message":{"role":"assistant","content":"Yes, 9.9 is larger.","thinking":"Compare 9.9 and 9.11: 9.90 > 9.11."},
      "done_reason":"stop","done":true,"prompt_eval_count":20,"eval_count":40}"#;
    let answer = parse_chat_response(body, "qwen3").unwrap();
    assert_eq!(answer.message.text(), "Yes, 9.9 is larger.");
    assert_eq!(
        answer.message.reasoning,
        vec![Reasoning {
            text: "Compare 9.9 and 9.11: 9.90 > 9.11.".into(),
            signature: None,
            redacted: false
        }]
    );
    let mut r = request();
    let mut assistant = answer.message;
    // Another provider's redacted reasoning has no text to send.
    assistant.reasoning.push(Reasoning {
        text: String::new(),
        signature: Some("encrypted".into()),
        redacted: true,
    });
    r.messages.push(assistant);
    r.messages.push(Message::user("and 9.8?"));
    let body = chat_request_body(&r, false, &ChatDefaults::default()).unwrap();
    assert_eq!(
        body["messages"][2],
        json!({"role": "assistant", "content": "Yes, 9.9 is larger.", "thinking": "Compare 9.9 and 9.11: 9.90 > 9.11."})
    );
    assert!(body["messages"][3].get("thinking").is_none());
}

#[test]
fn tool_choice_filters_tools() {
    let mut r = request();
    r.tools = vec![
        weather_tool(),
        ToolDefinition {
            name: "other".into(),
            description: String::new(),
            parameters: String::new(),
        },
    ];
    r.tool_choice = Some(ToolChoice::None);
    assert!(
        chat_request_body(&r, false, &ChatDefaults::default())
            .unwrap()
            .get("tools")
            .is_none()
    );
    r.tool_choice = Some(ToolChoice::Named("other".into()));
    let body = chat_request_body(&r, false, &ChatDefaults::default()).unwrap();
    assert_eq!(body["tools"].as_array().unwrap().len(), 1);
    assert_eq!(body["tools"][0]["function"]["name"], "other");
    assert_eq!(
        body["tools"][0]["function"]["parameters"],
        json!({"type": "object", "properties": {}})
    );
    r.extra = Some(r#"{"stream": true}"#.into());
    assert!(chat_request_body(&r, false, &ChatDefaults::default()).is_err());
}

#[test]
fn parses_text_response() {
    let body = br#"{
      "model": "llama3.2",
      "created_at": "2023-12-12T14:13:43.416799Z",
      "message": {"role": "assistant", "content": "Hello! How are you today?"},
      "done": true,
      "done_reason": "stop",
      "total_duration": 5191566416,
      "load_duration": 2154458,
      "prompt_eval_count": 26,
      "prompt_eval_duration": 383809000,
      "eval_count": 298,
      "eval_duration": 4799921000
    }"#;
    let r = parse_chat_response(body, "llama3.2").unwrap();
    assert_eq!(r.message.text(), "Hello! How are you today?");
    assert!(r.message.reasoning.is_empty());
    assert_eq!(r.stop_sequence, None);
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 26,
            completion_tokens: 298,
            total_tokens: 324
        })
    );
    assert!(r.id.starts_with("ollama-"));
    assert_eq!(r.id, parse_chat_response(body, "x").unwrap().id, "stable");
}

#[test]
fn parses_tool_call_response() {
    let body = br#"{"model":"llama3.2","created_at":"2024-07-22T20:33:28.123648Z",
      "message":{"role":"assistant","content":"","tool_calls":[
        {"function":{"name":"get_current_weather","arguments":{"format":"celsius","location":"Paris, FR"}}},
        {"id":"call_x1","function":{"index":1,"name":"get_current_weather","arguments":{"location":"Lyon"}}}]},
      "done_reason":"stop","done":true,"total_duration":885095291,"prompt_eval_count":122,"eval_count":23}"#;
    let r = parse_chat_response(body, "llama3.2").unwrap();
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.message.tool_calls.len(), 2);
    let first = &r.message.tool_calls[0];
    assert_eq!(first.name, "get_current_weather");
    assert_eq!(
        first.arguments,
        r#"{"format":"celsius","location":"Paris, FR"}"#
    );
    assert_eq!(
        first.id,
        crate::wire::synthesize_call_id(0, "get_current_weather", &first.arguments)
    );
    assert_eq!(
        r.message.tool_calls[1].id, "call_x1",
        "an upstream id is kept"
    );
    assert_eq!(finish_reason("length", false), FinishReason::Length);
    assert_eq!(finish_reason("unload", false), FinishReason::Other);
}

#[test]
fn embeddings_round_trip() {
    let req = EmbedRequest {
        model: "all-minilm".into(),
        inputs: vec![
            "Why is the sky blue?".into(),
            "Why is the grass green?".into(),
        ],
        dimensions: Some(2),
    };
    assert_eq!(
        embed_request_body(&req, Some(false)),
        json!({"model": "all-minilm", "input": ["Why is the sky blue?", "Why is the grass green?"], "dimensions": 2, "truncate": false})
    );
    let body = br#"{"model":"all-minilm","embeddings":[[0.010071029,-0.0017594862],[-0.0098027075,0.06042469]],
      "total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8}"#;
    let r = parse_embed_response(body, "x", 2).unwrap();
    assert_eq!(r.model, "all-minilm");
    assert_eq!(r.embeddings[1][1], "0.06042469".parse::<f32>().unwrap());
    assert_eq!(r.usage.unwrap().prompt_tokens, 8);
    assert!(parse_embed_response(body, "x", 1).is_err());
}

#[test]
fn parses_tags_and_show() {
    let tags = br#"{"models":[
      {"name":"llama3.2:latest","model":"llama3.2:latest","modified_at":"2025-05-04T17:37:44.706015396-07:00","size":2019393189,
       "digest":"a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
       "details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],"parameter_size":"3.2B","quantization_level":"Q4_K_M"}},
      {"name":"nomic-embed-text:latest","model":"nomic-embed-text:latest","size":274302450,
       "details":{"format":"gguf","family":"nomic-bert","families":["nomic-bert"],"parameter_size":"137M","quantization_level":"F16"}}]}"#;
    let models = parse_tags(tags).unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0].name, "llama3.2:latest");
    assert_eq!(models[0].family.as_deref(), Some("llama"));
    assert_eq!(
        capabilities(&models[0], None),
        Capabilities::CHAT
            | Capabilities::STREAMING
            | Capabilities::TOOLS
            | Capabilities::JSON_MODE
    );
    assert_eq!(capabilities(&models[1], None), Capabilities::EMBEDDINGS);
    assert!(parse_tags(b"{}").is_err());

    let show = br##"{"modelfile":"# Modelfile ...","parameters":"stop \"<|eot_id|>\"","template":"...",
      "details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],"parameter_size":"3.2B","quantization_level":"Q4_K_M"},
      "model_info":{"general.architecture":"llama","general.parameter_count":3212749888,"llama.context_length":131072,"llama.embedding_length":3072},
      "capabilities":["completion","tools"],"modified_at":"2025-05-04T17:37:44.706015396-07:00"}"##;
    let details = parse_show(show).unwrap();
    assert_eq!(details.context_length, Some(131_072));
    assert_eq!(
        capabilities(&models[0], Some(&details)),
        Capabilities::CHAT
            | Capabilities::STREAMING
            | Capabilities::TOOLS
            | Capabilities::JSON_MODE
    );
    let vision = ModelDetails {
        capabilities: Some(vec!["completion".into(), "vision".into()]),
        context_length: None,
    };
    assert_eq!(
        capabilities(&models[0], Some(&vision)),
        Capabilities::CHAT
            | Capabilities::STREAMING
            | Capabilities::JSON_MODE
            | Capabilities::VISION
    );
    // Older servers: no capabilities, so the guess stands.
    let old = parse_show(br#"{"details":{"family":"llama"},"model_info":{}}"#).unwrap();
    assert_eq!(old.capabilities, None);
    assert_eq!(old.context_length, None);
    assert!(capabilities(&models[0], Some(&old)).contains(Capabilities::TOOLS));
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect()
}

#[test]
fn maps_http_errors() {
    assert!(matches!(
        error_from_response(404, &[], br#"{"error":"model \"llama9\" not found, try pulling it first"}"#),
        ProviderError::NotFound(m) if m.contains("try pulling it first")
    ));
    assert!(matches!(
        error_from_response(
            400,
            &[],
            br#"{"error":"registry.ollama.ai/library/gemma:2b does not support tools"}"#
        ),
        ProviderError::BadRequest(_)
    ));
    assert!(matches!(
        error_from_response(
            400,
            &[],
            br#"{"error":"the input length exceeds the context length"}"#
        ),
        ProviderError::ContextTooLong(_)
    ));
    assert!(matches!(
        error_from_response(
            500,
            &[],
            br#"{"error":"the input length exceeds the context length"}"#
        ),
        ProviderError::ContextTooLong(_)
    ));
    assert!(matches!(
        error_from_response(
            500,
            &[],
            br#"{"error":"llama runner process has terminated: exit status 2"}"#
        ),
        ProviderError::UpstreamUnavailable(_)
    ));
    match error_from_response(
        503,
        &[],
        br#"{"error":"server busy, please try again.  maximum pending requests exceeded"}"#,
    ) {
        ProviderError::RateLimited(r) => assert_eq!(r.retry_after_ms, None),
        other => panic!("{other:?}"),
    }
    match error_from_response(
        429,
        &headers(&[("retry-after", "2")]),
        br#"{"error":"too many requests"}"#,
    ) {
        ProviderError::RateLimited(r) => assert_eq!(r.retry_after_ms, Some(2000)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        error_from_response(401, &[], br#"{"error":"unauthorized"}"#),
        ProviderError::Auth(_)
    ));
    assert!(
        matches!(error_from_response(502, &[], b"Bad Gateway"), ProviderError::UpstreamUnavailable(m) if m.contains("Bad Gateway"))
    );
    let refused = HttpError::from_code(&ErrorCode::ConnectionRefused, "127.0.0.1:11434");
    assert!(matches!(
        crate::upstream::error_from_http(&refused),
        ProviderError::UpstreamUnavailable(_)
    ));
}

const TEXT_STREAM: &str = concat!(
    "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T08:52:19.385406455-07:00\",\"message\":{\"role\":\"assistant\",\"content\":\"The\"},\"done\":false}\n",
    "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T08:52:19.405406455-07:00\",\"message\":{\"role\":\"assistant\",\"content\":\" sky\"},\"done\":false}\n",
    "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T19:22:45.499127Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done\":true,\"done_reason\":\"stop\",\"total_duration\":4883583458,\"load_duration\":1334875,\"prompt_eval_count\":26,\"prompt_eval_duration\":342546000,\"eval_count\":282,\"eval_duration\":4535599000}\n",
);

#[test]
fn streams_text_in_any_chunking() {
    for size in [1, 9, 80, 4096] {
        let mut s = NdjsonChatStream::new(FakeBody::new(TEXT_STREAM, size), "llama3.2");
        let (chunks, error) = collect(&mut s);
        assert!(error.is_none(), "{size}: {error:?}");
        let text: String = chunks.iter().filter_map(|c| c.content.clone()).collect();
        assert_eq!(text, "The sky");
        assert_eq!(chunks.len(), 3);
        let ids: std::collections::BTreeSet<_> = chunks.iter().map(|c| c.id.clone()).collect();
        assert_eq!(ids.len(), 1, "one id for the answer");
        let last = chunks.last().unwrap();
        assert_eq!(last.finish_reason, Some(FinishReason::Stop));
        assert_eq!(
            last.usage,
            Some(Usage {
                prompt_tokens: 26,
                completion_tokens: 282,
                total_tokens: 308
            })
        );
        assert!(s.next().is_none());
    }
    // The last line without its newline still counts.
    let trimmed = TEXT_STREAM.trim_end();
    let (chunks, error) = collect(&mut NdjsonChatStream::new(FakeBody::new(trimmed, 50), "m"));
    assert!(error.is_none());
    assert_eq!(chunks.len(), 3);
}

#[test]
fn streams_tool_calls() {
    let text = concat!(
        "{\"model\":\"qwen3\",\"created_at\":\"2025-05-27T22:54:57.641643Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":[{\"function\":{\"name\":\"calculator\",\"arguments\":{\"expression\":\"2+2\"}}}]},\"done\":false}\n",
        "{\"model\":\"qwen3\",\"created_at\":\"2025-05-27T22:54:57.673559Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,\"total_duration\":1,\"prompt_eval_count\":120,\"eval_count\":20}\n",
    );
    let (chunks, error) = collect(&mut NdjsonChatStream::new(FakeBody::new(text, 33), "qwen3"));
    assert!(error.is_none());
    assert_eq!(chunks.len(), 2);
    let d = &chunks[0].tool_calls[0];
    assert_eq!((d.index, d.name.as_deref()), (0, Some("calculator")));
    assert_eq!(d.arguments, r#"{"expression":"2+2"}"#);
    assert!(d.id.as_deref().unwrap().starts_with("call_"));
    assert_eq!(chunks[1].finish_reason, Some(FinishReason::ToolCalls));
}

#[test]
fn streams_thinking_as_one_reasoning_entry() {
    let text = concat!(
        "{\"model\":\"qwen3\",\"created_at\":\"2025-05-29T09:35:56.8Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\"Compare\"},\"done\":false}\n",
        "{\"model\":\"qwen3\",\"created_at\":\"2025-05-29T09:35:56.9Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\",\"thinking\":\" them.\"},\"done\":false}\n",
        "{\"model\":\"qwen3\",\"created_at\":\"2025-05-29T09:35:57.0Z\",\"message\":{\"role\":\"assistant\",\"content\":\"9.9\"},\"done\":false}\n",
        "{\"model\":\"qwen3\",\"created_at\":\"2025-05-29T09:35:57.1Z\",\"message\":{\"role\":\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\",\"done\":true,\"prompt_eval_count\":20,\"eval_count\":4}\n",
    );
    let (chunks, error) = collect(&mut NdjsonChatStream::new(FakeBody::new(text, 21), "qwen3"));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks.len(), 4);
    let reasoning: Vec<_> = chunks
        .iter()
        .flat_map(|c| &c.reasoning)
        .map(|d| (d.index, d.text.as_str(), d.signature.as_deref(), d.redacted))
        .collect();
    assert_eq!(
        reasoning,
        [(0, "Compare", None, false), (0, " them.", None, false)]
    );
    assert_eq!(chunks[0].content, None);
    assert_eq!(chunks[2].content.as_deref(), Some("9.9"));
    assert_eq!(chunks[3].finish_reason, Some(FinishReason::Stop));
    assert_eq!(chunks[3].stop_sequence, None);
}

#[test]
fn cut_stream_and_error_lines() {
    let cut = &TEXT_STREAM[..TEXT_STREAM.find("\"done\":true").unwrap()];
    let mut s = NdjsonChatStream::new(FakeBody::new(cut, 40), "m");
    let (chunks, error) = collect(&mut s);
    assert_eq!(chunks.len(), 2);
    assert!(
        matches!(error, Some(ProviderError::UpstreamUnavailable(_))),
        "{error:?}"
    );
    assert!(s.next().is_none());

    let two_lines = TEXT_STREAM
        .split_inclusive('\n')
        .take(2)
        .collect::<String>();
    let (_, error) = collect(&mut NdjsonChatStream::new(
        FakeBody::new(&two_lines, 40),
        "m",
    ));
    assert!(matches!(error, Some(ProviderError::UpstreamUnavailable(_))));

    let mut body = FakeBody::new(&two_lines, 40);
    body.error_at_end = Some(HttpError::from_code(
        &ErrorCode::ConnectionReadTimeout,
        "127.0.0.1:11434",
    ));
    let (_, error) = collect(&mut NdjsonChatStream::new(body, "m"));
    assert!(matches!(error, Some(ProviderError::Timeout(_))));

    let error_line = format!(
        "{}{{\"error\":\"an error was encountered while running the model: unexpected EOF\"}}\n",
        &two_lines
    );
    let (chunks, error) = collect(&mut NdjsonChatStream::new(
        FakeBody::new(&error_line, 40),
        "m",
    ));
    assert_eq!(chunks.len(), 2);
    assert!(
        matches!(error, Some(ProviderError::UpstreamUnavailable(m)) if m.contains("unexpected EOF"))
    );
}

#[test]
fn chunks_received_together_are_pulled_together() {
    check_batching(
        &|body| Box::new(NdjsonChatStream::new(body, "llama3.2")),
        TEXT_STREAM,
        true,
    );
}
