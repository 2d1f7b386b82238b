//! Tests on JSON as OpenAI and compatible servers send it.

use super::*;
use crate::http::HttpError;
use crate::provider::{Capabilities, EmbedRequest, ToolDefinition};
use crate::wire::testing::{FakeBody, check_batching, collect};

fn request() -> ChatRequest {
    ChatRequest {
        model: "gpt-4o-mini".into(),
        messages: vec![
            Message::system("Be brief."),
            Message::user("Weather in Boston?"),
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

#[test]
fn minimal_request() {
    let body = chat_request_body(&request(), false).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Boston?"},
            ],
        })
    );
}

#[test]
fn full_request() {
    let mut r = request();
    r.tools = vec![ToolDefinition {
        name: "get_weather".into(),
        description: "Current weather".into(),
        parameters:
            r#"{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}"#
                .into(),
    }];
    r.tool_choice = Some(ToolChoice::Named("get_weather".into()));
    r.temperature = Some(0.7);
    r.top_p = Some(0.9);
    r.max_tokens = Some(256);
    r.stop = vec!["\n\n".into()];
    r.json_mode = true;
    r.extra = Some(r#"{"seed": 42, "temperature": 0.1}"#.into());
    r.messages.push(Message {
        role: Role::Assistant,
        content: Vec::new(),
        tool_calls: vec![ToolCall {
            id: "call_1".into(),
            name: "get_weather".into(),
            arguments: r#"{"city":"Boston"}"#.into(),
            signature: None,
        }],
        tool_call_id: None,
        name: None,
        reasoning: Vec::new(),
    });
    r.messages
        .push(Message::tool_result("call_1", r#"{"temp_c": 21}"#));

    let body = chat_request_body(&r, true).unwrap();
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "get_weather");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["required"][0],
        "city"
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "function", "function": {"name": "get_weather"}})
    );
    // `extra` overrides what the request set.
    assert_eq!(body["temperature"], json!(0.1));
    assert_eq!(body["seed"], 42);
    assert_eq!(
        body["top_p"],
        json!(0.9),
        "f32 0.9 must not become 0.8999999761581421"
    );
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(body["stop"], json!(["\n\n"]));
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
    assert_eq!(
        body["messages"][2],
        json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": "call_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": "{\"city\":\"Boston\"}"},
            }],
        })
    );
    assert_eq!(
        body["messages"][3],
        json!({"role": "tool", "content": "{\"temp_c\": 21}", "tool_call_id": "call_1"})
    );
}

#[test]
fn tool_choice_strings() {
    for (choice, expected) in [
        (ToolChoice::Auto, "auto"),
        (ToolChoice::None, "none"),
        (ToolChoice::Required, "required"),
    ] {
        let mut r = request();
        r.tool_choice = Some(choice);
        assert_eq!(
            chat_request_body(&r, false).unwrap()["tool_choice"],
            expected
        );
    }
}

#[test]
fn bad_requests_are_rejected_before_sending() {
    let mut r = request();
    r.extra = Some("[1]".into());
    assert!(matches!(
        chat_request_body(&r, false),
        Err(ProviderError::BadRequest(_))
    ));
    r.extra = Some(r#"{"stream": true}"#.into());
    assert!(matches!(
        chat_request_body(&r, false),
        Err(ProviderError::BadRequest(_))
    ));
    let mut r = request();
    r.tools = vec![ToolDefinition {
        name: "t".into(),
        description: String::new(),
        parameters: "{not json".into(),
    }];
    assert!(matches!(
        chat_request_body(&r, false),
        Err(ProviderError::BadRequest(_))
    ));
    let mut r = request();
    r.messages.push(Message::new(Role::Tool, "orphan"));
    assert!(matches!(
        chat_request_body(&r, false),
        Err(ProviderError::BadRequest(_))
    ));
    let mut r = request();
    r.temperature = Some(f32::NAN);
    assert!(matches!(
        chat_request_body(&r, false),
        Err(ProviderError::BadRequest(_))
    ));
}

#[test]
fn parses_text_completion() {
    let body = br#"{
      "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
      "object": "chat.completion",
      "created": 1741569952,
      "model": "gpt-4.1-2025-04-14",
      "choices": [
        {
          "index": 0,
          "message": {
            "role": "assistant",
            "content": "Hello! How can I assist you today?",
            "refusal": null,
            "annotations": []
          },
          "logprobs": null,
          "finish_reason": "stop"
        }
      ],
      "usage": {
        "prompt_tokens": 19,
        "completion_tokens": 10,
        "total_tokens": 29,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
      },
      "service_tier": "default"
    }"#;
    let r = parse_chat_response(body, "gpt-4.1").unwrap();
    assert_eq!(r.id, "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT");
    assert_eq!(r.model, "gpt-4.1-2025-04-14");
    assert_eq!(r.message.role, Role::Assistant);
    assert_eq!(r.message.text(), "Hello! How can I assist you today?");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 19,
            completion_tokens: 10,
            total_tokens: 29
        })
    );
}

#[test]
fn parses_tool_call_completion() {
    let body = br#"{"id":"chatcmpl-abc123","object":"chat.completion","created":1699896916,
      "model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":null,
      "tool_calls":[{"id":"call_abc123","type":"function","function":{"name":"get_current_weather",
      "arguments":"{\n\"location\": \"Boston, MA\"\n}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],
      "usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99}}"#;
    let r = parse_chat_response(body, "gpt-4o-mini").unwrap();
    assert_eq!(r.message.text(), "");
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        r.message.tool_calls,
        vec![ToolCall {
            id: "call_abc123".into(),
            name: "get_current_weather".into(),
            arguments: "{\n\"location\": \"Boston, MA\"\n}".into(),
            signature: None,
        }]
    );
}

#[test]
fn parses_compatible_server_quirks() {
    // Object arguments, content parts, missing id/model/finish_reason/total.
    let body = br#"{"choices":[{"message":{"role":"assistant",
      "content":[{"type":"text","text":"a"},{"type":"text","text":"b"}],
      "tool_calls":[{"function":{"name":"f","arguments":{"x":1}}}]}}],
      "usage":{"prompt_tokens":3,"completion_tokens":4}}"#;
    let r = parse_chat_response(body, "local-model").unwrap();
    assert_eq!(r.model, "local-model");
    assert_eq!(r.message.text(), "ab");
    assert_eq!(r.message.tool_calls[0].id, "call_0");
    assert_eq!(r.message.tool_calls[0].arguments, r#"{"x":1}"#);
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.usage.unwrap().total_tokens, 7);
}

#[test]
fn refusal_and_errors_in_ok_bodies() {
    let body = br#"{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant",
      "content":null,"refusal":"I can't help with that."},"finish_reason":"stop"}]}"#;
    assert_eq!(
        parse_chat_response(body, "m").unwrap().message.text(),
        "I can't help with that."
    );
    let body = br#"{"error":{"message":"This model's maximum context length is 4096 tokens","type":"invalid_request_error"}}"#;
    assert!(matches!(
        parse_chat_response(body, "m"),
        Err(ProviderError::ContextTooLong(_))
    ));
    assert!(matches!(
        parse_chat_response(b"<html>bad gateway</html>", "m"),
        Err(ProviderError::UpstreamUnavailable(_))
    ));
    assert!(matches!(
        parse_chat_response(br#"{"choices":[]}"#, "m"),
        Err(ProviderError::UpstreamUnavailable(_))
    ));
}

#[test]
fn finish_reasons() {
    assert_eq!(finish_reason("stop"), FinishReason::Stop);
    assert_eq!(finish_reason("length"), FinishReason::Length);
    assert_eq!(finish_reason("tool_calls"), FinishReason::ToolCalls);
    assert_eq!(finish_reason("function_call"), FinishReason::ToolCalls);
    assert_eq!(finish_reason("content_filter"), FinishReason::ContentFilter);
    assert_eq!(finish_reason("something_new"), FinishReason::Other);
}

#[test]
fn parses_stream_chunks() {
    let first = r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","system_fingerprint":"fp_44709d6fcb","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}"#;
    assert_eq!(
        parse_stream_chunk(first, "m").unwrap(),
        None,
        "role-only chunk carries nothing"
    );

    let text = r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}"#;
    let c = parse_stream_chunk(text, "m").unwrap().unwrap();
    assert_eq!(c.id, "chatcmpl-123");
    assert_eq!(c.model, "gpt-4o-mini");
    assert_eq!(c.content.as_deref(), Some("Hello"));
    assert_eq!(c.finish_reason, None);

    let finish = r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}"#;
    let c = parse_stream_chunk(finish, "m").unwrap().unwrap();
    assert_eq!(c.finish_reason, Some(FinishReason::Stop));
    assert_eq!(c.content, None);

    let usage = r#"{"id":"chatcmpl-123","object":"chat.completion.chunk","created":1694268190,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":0}}}"#;
    let c = parse_stream_chunk(usage, "m").unwrap().unwrap();
    assert_eq!(
        c.usage,
        Some(Usage {
            prompt_tokens: 9,
            completion_tokens: 2,
            total_tokens: 11
        })
    );
}

#[test]
fn parses_tool_call_deltas() {
    let start = r#"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_DdmO9pD3xa9XTPNJ32zg2hcA","type":"function","function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}]}"#;
    let c = parse_stream_chunk(start, "m").unwrap().unwrap();
    assert_eq!(
        c.tool_calls,
        vec![ToolCallDelta {
            index: 0,
            id: Some("call_DdmO9pD3xa9XTPNJ32zg2hcA".into()),
            name: Some("get_weather".into()),
            arguments: String::new(),
            signature: None,
        }]
    );
    let part = r#"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"loc"}}]},"logprobs":null,"finish_reason":null}]}"#;
    let c = parse_stream_chunk(part, "m").unwrap().unwrap();
    assert_eq!(c.tool_calls[0].index, 1);
    assert_eq!(c.tool_calls[0].id, None);
    assert_eq!(c.tool_calls[0].name, None);
    assert_eq!(c.tool_calls[0].arguments, "{\"loc");
}

#[test]
fn stream_error_objects() {
    let e = parse_stream_chunk(
        r#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#,
        "m",
    )
    .unwrap_err();
    assert!(matches!(e, ProviderError::RateLimited(_)));
    let e = parse_stream_chunk(
        r#"{"error":{"message":"overloaded","type":"server_error"}}"#,
        "m",
    )
    .unwrap_err();
    assert!(matches!(e, ProviderError::UpstreamUnavailable(_)));
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect()
}

#[test]
fn maps_http_errors() {
    let rate = br#"{"error":{"message":"Rate limit reached for gpt-4o-mini in organization org-x on tokens per min (TPM): Limit 200000, Used 199000, Requested 2000. Please try again in 300ms.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}"#;
    match error_from_response(
        429,
        &headers(&[("retry-after-ms", "300"), ("retry-after", "1")]),
        rate,
    ) {
        ProviderError::RateLimited(r) => {
            assert_eq!(r.retry_after_ms, Some(300));
            assert!(r.message.contains("Rate limit reached"));
            assert!(r.message.contains("429"));
        }
        other => panic!("{other:?}"),
    }
    match error_from_response(429, &headers(&[("Retry-After", "2")]), b"") {
        ProviderError::RateLimited(r) => assert_eq!(r.retry_after_ms, Some(2000)),
        other => panic!("{other:?}"),
    }
    match error_from_response(
        429,
        &headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")]),
        b"",
    ) {
        ProviderError::RateLimited(r) => assert_eq!(r.retry_after_ms, None),
        other => panic!("{other:?}"),
    }

    let auth = br#"{"error":{"message":"Incorrect API key provided: sk-abc. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
    assert!(
        matches!(error_from_response(401, &[], auth), ProviderError::Auth(m) if m.contains("Incorrect API key"))
    );
    assert!(matches!(
        error_from_response(403, &[], b"forbidden"),
        ProviderError::Auth(_)
    ));

    let context = br#"{"error":{"message":"This model's maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens. Please reduce the length of the messages.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#;
    assert!(matches!(
        error_from_response(400, &[], context),
        ProviderError::ContextTooLong(_)
    ));
    // vLLM: no code, only the message.
    let vllm = br#"{"object":"error","message":"This model's maximum context length is 4096 tokens. However, you requested 5000 tokens.","type":"BadRequestError","param":null,"code":400}"#;
    assert!(matches!(
        error_from_response(400, &[], vllm),
        ProviderError::ContextTooLong(_)
    ));
    // llama.cpp
    let llama = br#"{"error":{"code":400,"message":"the request exceeds the available context size, try increasing it","type":"exceed_context_size_error","n_prompt_tokens":9000,"n_ctx":4096}}"#;
    assert!(matches!(
        error_from_response(400, &[], llama),
        ProviderError::ContextTooLong(_)
    ));

    let bad = br#"{"error":{"message":"Invalid value for 'temperature'","type":"invalid_request_error","param":"temperature","code":"invalid_value"}}"#;
    assert!(matches!(
        error_from_response(400, &[], bad),
        ProviderError::BadRequest(_)
    ));
    assert!(matches!(
        error_from_response(422, &[], br#"{"detail":[{"loc":["body"],"msg":"x"}]}"#),
        ProviderError::BadRequest(_)
    ));

    let missing = br#"{"error":{"message":"The model `gpt-5-nonexistent` does not exist or you do not have access to it.","type":"invalid_request_error","param":null,"code":"model_not_found"}}"#;
    assert!(matches!(
        error_from_response(404, &[], missing),
        ProviderError::NotFound(_)
    ));
    assert!(matches!(
        error_from_response(408, &[], b""),
        ProviderError::Timeout(_)
    ));

    let server = br#"{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}"#;
    for status in [500, 502, 503, 504] {
        assert!(matches!(
            error_from_response(status, &[], server),
            ProviderError::UpstreamUnavailable(_)
        ));
    }
    match error_from_response(502, &[], b"<html><body>Bad Gateway</body></html>") {
        ProviderError::UpstreamUnavailable(m) => assert!(m.contains("Bad Gateway")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn embeddings_round_trip() {
    let req = EmbedRequest {
        model: "text-embedding-3-small".into(),
        inputs: vec!["a".into(), "b".into()],
        dimensions: Some(3),
    };
    assert_eq!(
        embeddings_request_body(&req),
        json!({"model": "text-embedding-3-small", "input": ["a", "b"],
               "encoding_format": "float", "dimensions": 3})
    );
    // Out of order on purpose: the index decides.
    let body = br#"{"object":"list","data":[
        {"object":"embedding","index":1,"embedding":[0.4,0.5,0.6]},
        {"object":"embedding","index":0,"embedding":[-0.006929283495992422,-0.005336422007530928,0.5]}],
      "model":"text-embedding-3-small","usage":{"prompt_tokens":5,"total_tokens":5}}"#;
    let r = parse_embeddings_response(body, "x", 2).unwrap();
    assert_eq!(r.model, "text-embedding-3-small");
    // Exactly the f32 nearest to the decimal text, as any JSON parser gives.
    assert_eq!(
        r.embeddings[0][0],
        "-0.006929283495992422".parse::<f32>().unwrap()
    );
    assert_eq!(r.embeddings[1], vec![0.4, 0.5, 0.6]);
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 5,
            completion_tokens: 0,
            total_tokens: 5
        })
    );
    assert!(parse_embeddings_response(body, "x", 3).is_err());
    let dup = br#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}"#;
    assert!(parse_embeddings_response(dup, "x", 2).is_err());
}

#[test]
fn parses_model_lists() {
    let openai = br#"{"object":"list","data":[
        {"id":"gpt-4o-mini","object":"model","created":1721172741,"owned_by":"system"},
        {"id":"text-embedding-3-small","object":"model","created":1705948997,"owned_by":"system"}]}"#;
    let models = parse_model_list(openai).unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0].id, "gpt-4o-mini");
    assert_eq!(models[0].owned_by.as_deref(), Some("system"));
    assert_eq!(models[0].context_length, None);

    let vllm =
        br#"{"object":"list","data":[{"id":"meta-llama/Llama-3.1-8B-Instruct","object":"model",
        "created":1,"owned_by":"vllm","root":"meta-llama/Llama-3.1-8B-Instruct","parent":null,
        "max_model_len":131072,"permission":[]}]}"#;
    assert_eq!(
        parse_model_list(vllm).unwrap()[0].context_length,
        Some(131072)
    );

    let llama =
        br#"{"object":"list","data":[{"id":"qwen.gguf","object":"model","owned_by":"llamacpp",
        "meta":{"n_ctx_train":32768,"n_params":494032768}}]}"#;
    assert_eq!(
        parse_model_list(llama).unwrap()[0].context_length,
        Some(32768)
    );

    assert!(parse_model_list(br#"{"object":"list"}"#).is_err());
}

const STREAM: &str = concat!(
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
    ": keep-alive\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"},\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":null}],\"usage\":null}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}\n\n",
    "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n",
    "data: [DONE]\n\n",
);

#[test]
fn streams_a_complete_answer_in_any_chunking() {
    for size in [1, 3, 17, 4096] {
        let mut s = SseChatStream::new(FakeBody::new(STREAM, size), "gpt-4o-mini");
        let (chunks, error) = collect(&mut s);
        assert!(error.is_none(), "chunk size {size}: {error:?}");
        let text: String = chunks.iter().filter_map(|c| c.content.clone()).collect();
        assert_eq!(text, "Hello");
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks[2].finish_reason, Some(FinishReason::Stop));
        assert_eq!(chunks[3].usage.as_ref().unwrap().total_tokens, 11);
        assert!(s.next().is_none(), "stays ended");
    }
}

#[test]
fn cut_stream_is_an_error() {
    let cut = &STREAM[..STREAM.find("\"lo\"").unwrap()];
    let mut s = SseChatStream::new(FakeBody::new(cut, 64), "m");
    let (chunks, error) = collect(&mut s);
    assert_eq!(chunks.len(), 1);
    assert!(matches!(error, Some(ProviderError::UpstreamUnavailable(_))));
    assert!(s.next().is_none(), "fused after the error");

    let mut body = FakeBody::new(cut, 64);
    body.error_at_end = Some(HttpError::from_code(
        &crate::http::ErrorCode::ConnectionReadTimeout,
        "api.openai.com",
    ));
    let (_, error) = collect(&mut SseChatStream::new(body, "m"));
    assert!(matches!(error, Some(ProviderError::Timeout(_))));
}

#[test]
fn missing_done_after_finish_is_a_clean_end() {
    let without_done = STREAM.replace("data: [DONE]\n\n", "");
    let (chunks, error) = collect(&mut SseChatStream::new(
        FakeBody::new(&without_done, 50),
        "m",
    ));
    assert!(error.is_none());
    assert_eq!(chunks.len(), 4);
}

#[test]
fn error_event_mid_stream() {
    let text = concat!(
        "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n",
        "event: error\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n",
    );
    let (chunks, error) = collect(&mut SseChatStream::new(FakeBody::new(text, 10), "m"));
    assert_eq!(chunks.len(), 1);
    assert!(
        matches!(error, Some(ProviderError::UpstreamUnavailable(m)) if m.contains("overloaded"))
    );
}

#[test]
fn single_chunk_default_stream() {
    let response = parse_chat_response(
        br#"{"id":"x","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#,
        "m",
    )
    .unwrap();
    let chunk = ChatChunk::from(response);
    assert_eq!(chunk.content.as_deref(), Some("hi"));
    assert_eq!(chunk.finish_reason, Some(FinishReason::Stop));
    let _ = Capabilities::CHAT;
}

#[test]
fn images_and_documents_go_as_content_parts_of_a_user_message() {
    use crate::provider::ContentPart;
    let mut r = request();
    r.messages[1] = Message::with_parts(
        Role::User,
        vec![
            ContentPart::Text("What is this?".into()),
            ContentPart::image_url("https://example.com/cat.png"),
            ContentPart::image_bytes("image/png", vec![1, 2, 3]),
            ContentPart::document_bytes("application/pdf", b"%PDF".to_vec()),
        ],
    );
    let body = chat_request_body(&r, false).unwrap();
    // Text-only messages stay strings.
    assert_eq!(body["messages"][0]["content"], "Be brief.");
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            { "type": "text", "text": "What is this?" },
            { "type": "image_url", "image_url": { "url": "https://example.com/cat.png" } },
            { "type": "image_url", "image_url": { "url": "data:image/png;base64,AQID" } },
            { "type": "file", "file": { "file_data": "data:application/pdf;base64,JVBERg==", "filename": "document" } },
        ])
    );
}

#[test]
fn media_outside_a_user_message_is_unsupported() {
    use crate::provider::ContentPart;
    let mut r = request();
    r.messages[0] = Message::with_parts(
        Role::System,
        vec![ContentPart::image_url("https://example.com/cat.png")],
    );
    let e = chat_request_body(&r, false).unwrap_err();
    assert!(
        matches!(&e, ProviderError::Unsupported(m) if m.contains("image in a system message")),
        "{e:?}"
    );
}

#[test]
fn reasoning_content_becomes_reasoning() {
    let body = br#"{"id":"x","model":"deepseek-reasoner","choices":[{"index":0,"message":{"role":"assistant",
      "content":"4","reasoning_content":"2+2 is 4."},"finish_reason":"stop"}]}"#;
    let r = parse_chat_response(body, "m").unwrap();
    assert_eq!(r.message.text(), "4");
    assert_eq!(r.message.reasoning[0].text, "2+2 is 4.");
    let delta = r#"{"id":"x","model":"m","choices":[{"index":0,"delta":{"reasoning_content":"Hm"},"finish_reason":null}]}"#;
    let c = parse_stream_chunk(delta, "m").unwrap().unwrap();
    assert_eq!(c.reasoning[0].text, "Hm");
}

/// The document [`chat_request_json`] must write: the general path's.
fn reference_json(request: &ChatRequest, stream: bool, quirks: BodyQuirks) -> Value {
    quirked_chat_request_body(request, stream, quirks).unwrap()
}

#[test]
fn plain_requests_are_written_as_the_general_path_writes_them() {
    let mut plain = Vec::new();
    plain.push(request());
    let mut r = request();
    r.temperature = Some(0.7);
    r.top_p = Some(1e-7);
    r.max_tokens = Some(16);
    r.stop = vec!["\n".into(), "END".into()];
    r.json_mode = true;
    r.messages.push(Message {
        name: Some("ann".into()),
        ..Message::assistant("Sunny \"and\" warm.")
    });
    plain.push(r);
    let mut r = request();
    // Several text parts are joined, as `text_of` joins them.
    r.messages[1].content = vec![ContentPart::Text("a".into()), ContentPart::Text("b".into())];
    r.messages.push(Message::user(""));
    plain.push(r);
    let quirks = [false, true].into_iter().flat_map(|a| {
        [false, true].map(|b| BodyQuirks {
            stream_usage_option: a,
            max_completion_tokens: b,
        })
    });
    for quirks in quirks {
        for r in &plain {
            for stream in [false, true] {
                assert!(PlainBody::of(r, stream, quirks).is_some(), "{r:?}");
                let text = chat_request_json(r, stream, quirks).unwrap();
                let written: Value = serde_json::from_slice(&text).unwrap();
                assert_eq!(
                    written,
                    reference_json(r, stream, quirks),
                    "{r:?} {quirks:?}"
                );
            }
        }
    }
}

#[test]
fn other_requests_take_the_general_path() {
    let mut others = Vec::new();
    let mut r = request();
    r.extra = Some(r#"{"seed":1,"max_completion_tokens":5}"#.into());
    r.max_tokens = Some(9);
    others.push(r);
    let mut r = request();
    r.tools = vec![ToolDefinition {
        name: "f".into(),
        description: String::new(),
        parameters: String::new(),
    }];
    others.push(r);
    let mut r = request();
    r.tool_choice = Some(ToolChoice::Required);
    others.push(r);
    let mut r = request();
    r.messages.push(Message {
        tool_call_id: Some("c1".into()),
        ..Message::new(Role::Tool, "42")
    });
    others.push(r);
    let mut r = request();
    r.messages.push(Message {
        tool_calls: vec![ToolCall {
            id: "c1".into(),
            name: "f".into(),
            arguments: "{}".into(),
            signature: None,
        }],
        ..Message::new(Role::Assistant, "")
    });
    others.push(r);
    let quirks = BodyQuirks {
        stream_usage_option: true,
        max_completion_tokens: true,
    };
    for r in &others {
        assert!(PlainBody::of(r, true, quirks).is_none(), "{r:?}");
        let written: Value =
            serde_json::from_slice(&chat_request_json(r, true, quirks).unwrap()).unwrap();
        assert_eq!(written, reference_json(r, true, quirks));
    }
    // An explicit `max_completion_tokens` in `extra` wins over the quirk.
    let written: Value =
        serde_json::from_slice(&chat_request_json(&others[0], false, quirks).unwrap()).unwrap();
    assert_eq!(written["max_completion_tokens"], 5);
    // A number JSON cannot carry is refused, not written.
    let mut r = request();
    r.temperature = Some(f32::NAN);
    assert!(PlainBody::of(&r, false, quirks).is_none());
    assert!(chat_request_json(&r, false, quirks).is_err());
}

/// `f32`s are written as the numbers `float_json` makes of them, over a
/// spread of values (where two shortest decimals are as close, `0.2` and
/// `0.3` ending `…61.25`, the same one). The text is read back with Rust's
/// exact parser: serde_json's own is off by an ulp now and then.
#[test]
fn plain_bodies_write_floats_as_float_json_does() {
    for i in 0..20_000u32 {
        // Spread over every finite f32, both signs.
        let bits = (i.wrapping_mul(2_654_435_761) % 0x7f80_0000) | ((i & 1) << 31);
        let f = f32::from_bits(bits);
        let mut r = request();
        r.temperature = Some(f);
        let text = chat_request_json(&r, false, BodyQuirks::default()).unwrap();
        let text = String::from_utf8(text).unwrap();
        let number = text
            .split_once("\"temperature\":")
            .and_then(|(_, rest)| rest.split([',', '}']).next())
            .unwrap();
        let expected = crate::wire::float_json("t", f).unwrap().as_f64().unwrap();
        assert_eq!(number.parse::<f64>().unwrap(), expected, "{f:e}: {number}");
    }
}

#[test]
fn chunks_received_together_are_pulled_together() {
    check_batching(
        &|body| Box::new(SseChatStream::new(body, "gpt-4o-mini")),
        STREAM,
        true,
    );
}

#[test]
fn failing_streams_are_pulled_together_up_to_their_error() {
    let make = |body| Box::new(SseChatStream::new(body, "m")) as Box<dyn ChatStream>;
    check_batching(&make, &STREAM[..STREAM.find("\"lo\"").unwrap()], false);
    check_batching(
        &make,
        concat!(
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\n",
            "event: error\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n",
            "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}\n\n",
        ),
        false,
    );
}
