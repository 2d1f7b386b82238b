//! Tests on JSON and SSE as the Anthropic Messages API sends them (samples
//! from its documentation and captured responses).

use super::*;
use crate::http::{ErrorCode, HttpError};
use crate::provider::ToolDefinition;
use crate::wire::testing::{FakeBody, check_batching, collect};

fn request() -> ChatRequest {
    ChatRequest {
        model: "claude-sonnet-4-5".into(),
        messages: vec![
            Message::system("Be brief."),
            Message::user("Weather in Paris?"),
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
        name: "get_weather".into(),
        description: "Get the current weather in a given location".into(),
        parameters: r#"{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}"#.into(),
    }
}

#[test]
fn minimal_request() {
    let body = messages_request_body(&request(), 4096, false).unwrap();
    assert_eq!(
        body,
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "system": "Be brief.",
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
        })
    );
}

#[test]
fn full_request_with_tool_round_trip() {
    let mut r = request();
    r.messages.insert(2, Message::system("Use metric units."));
    r.tools = vec![weather_tool()];
    r.tool_choice = Some(ToolChoice::Named("get_weather".into()));
    r.temperature = Some(0.7);
    r.top_p = Some(0.9);
    r.max_tokens = Some(256);
    r.stop = vec!["\n\nHuman:".into()];
    r.extra = Some(r#"{"metadata": {"user_id": "u1"}, "temperature": 0.1}"#.into());
    r.messages.push(Message {
        role: Role::Assistant,
        content: crate::content::text_content("Let me check."),
        tool_calls: vec![
            ToolCall {
                id: "toolu_01A09q90qw90lq917835lq9".into(),
                name: "get_weather".into(),
                arguments: r#"{"location":"Paris"}"#.into(),
                signature: None,
            },
            ToolCall {
                // An id made by another provider.
                id: "call_abc.1/x".into(),
                name: "get_weather".into(),
                arguments: String::new(),
                signature: None,
            },
        ],
        tool_call_id: None,
        name: None,
        reasoning: Vec::new(),
    });
    r.messages.push(Message::tool_result(
        "toolu_01A09q90qw90lq917835lq9",
        "15 degrees",
    ));
    r.messages.push(Message::tool_result("call_abc.1/x", ""));
    r.messages.push(Message::user("And tomorrow?"));

    let body = messages_request_body(&r, 4096, true).unwrap();
    assert_eq!(body["system"], "Be brief.\n\nUse metric units.");
    assert_eq!(body["max_tokens"], 256);
    assert_eq!(body["temperature"], json!(0.1), "extra wins");
    assert_eq!(body["top_p"], json!(0.9));
    assert_eq!(body["metadata"]["user_id"], "u1");
    assert_eq!(body["stop_sequences"], json!(["\n\nHuman:"]));
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["tools"],
        json!([{
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": {"type":"object","properties":{"location":{"type":"string"}},"required":["location"]},
        }])
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "get_weather"})
    );
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"location": "Paris"}},
                {"type": "tool_use", "id": "call_abc_1_x", "name": "get_weather", "input": {}},
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"},
                {"type": "tool_result", "tool_use_id": "call_abc_1_x"},
                {"type": "text", "text": "And tomorrow?"},
            ]},
        ])
    );
}

#[test]
fn tool_choice_mapping() {
    for (choice, expected) in [
        (ToolChoice::Auto, json!({"type": "auto"})),
        (ToolChoice::None, json!({"type": "none"})),
        (ToolChoice::Required, json!({"type": "any"})),
    ] {
        let mut r = request();
        r.tools = vec![weather_tool()];
        r.tool_choice = Some(choice.clone());
        assert_eq!(
            messages_request_body(&r, 1, false).unwrap()["tool_choice"],
            expected
        );
        // Without tools, auto and none are left out.
        let mut r = request();
        r.tool_choice = Some(choice);
        let body = messages_request_body(&r, 1, false).unwrap();
        assert_eq!(body.get("tool_choice").is_some(), expected["type"] == "any");
    }
}

#[test]
fn json_mode_asks_in_the_system_prompt() {
    let mut r = request();
    r.json_mode = true;
    let body = messages_request_body(&r, 1, false).unwrap();
    assert_eq!(
        body["system"],
        format!("Be brief.\n\n{JSON_MODE_INSTRUCTION}")
    );
    r.messages.remove(0);
    let body = messages_request_body(&r, 1, false).unwrap();
    assert_eq!(body["system"], JSON_MODE_INSTRUCTION);
}

#[test]
fn bad_requests_are_rejected_before_sending() {
    let mut r = request();
    r.messages = vec![Message::system("only a system prompt")];
    assert!(matches!(
        messages_request_body(&r, 1, false),
        Err(ProviderError::BadRequest(_))
    ));
    let mut r = request();
    r.messages.push(Message::new(Role::Tool, "orphan"));
    assert!(matches!(
        messages_request_body(&r, 1, false),
        Err(ProviderError::BadRequest(_))
    ));
    let mut r = request();
    let mut a = Message::assistant("");
    a.tool_calls = vec![ToolCall {
        id: "t".into(),
        name: "f".into(),
        arguments: "{\"cut".into(),
        signature: None,
    }];
    r.messages.push(a);
    assert!(matches!(
        messages_request_body(&r, 1, false),
        Err(ProviderError::BadRequest(_))
    ));
    let mut r = request();
    r.extra = Some(r#"{"stream": false}"#.into());
    assert!(matches!(
        messages_request_body(&r, 1, false),
        Err(ProviderError::BadRequest(_))
    ));
}

#[test]
fn parses_text_response() {
    let body = br#"{
      "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
      "type": "message",
      "role": "assistant",
      "model": "claude-sonnet-4-5-20250929",
      "content": [{"type": "text", "text": "Hi! My name is Claude."}],
      "stop_reason": "end_turn",
      "stop_sequence": null,
      "usage": {"input_tokens": 2095, "output_tokens": 503,
                "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100,
                "service_tier": "standard"}
    }"#;
    let r = parse_messages_response(body, "claude-sonnet-4-5").unwrap();
    assert_eq!(r.id, "msg_013Zva2CMHLNnXjNJJKqJ2EF");
    assert_eq!(r.model, "claude-sonnet-4-5-20250929");
    assert_eq!(r.message.text(), "Hi! My name is Claude.");
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 2195,
            completion_tokens: 503,
            total_tokens: 2698
        })
    );
}

#[test]
fn parses_tool_use_response() {
    let body = br#"{"id":"msg_01Aq9w938a90dw8q","model":"claude-sonnet-4-5-20250929","stop_reason":"tool_use",
      "role":"assistant","type":"message","content":[
        {"type":"thinking","thinking":"The user wants weather.","signature":"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"},
        {"type":"text","text":"I'll check the weather."},
        {"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9","name":"get_weather","input":{"location":"San Francisco, CA","unit":"celsius"}}],
      "usage":{"input_tokens":472,"output_tokens":91}}"#;
    let r = parse_messages_response(body, "m").unwrap();
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.message.text(), "I'll check the weather.");
    assert_eq!(
        r.message.tool_calls,
        vec![ToolCall {
            id: "toolu_01A09q90qw90lq917835lq9".into(),
            name: "get_weather".into(),
            arguments: r#"{"location":"San Francisco, CA","unit":"celsius"}"#.into(),
            signature: None,
        }]
    );
    assert_eq!(r.usage.unwrap().total_tokens, 563);
}

#[test]
fn stop_reasons() {
    assert_eq!(finish_reason("end_turn"), FinishReason::Stop);
    assert_eq!(finish_reason("stop_sequence"), FinishReason::StopSequence);
    assert_eq!(finish_reason("max_tokens"), FinishReason::Length);
    assert_eq!(finish_reason("tool_use"), FinishReason::ToolCalls);
    assert_eq!(finish_reason("refusal"), FinishReason::ContentFilter);
    assert_eq!(finish_reason("pause_turn"), FinishReason::Other);
}

#[test]
fn parses_model_pages() {
    let body = br#"{"data":[
        {"type":"model","id":"claude-sonnet-4-5-20250929","display_name":"Claude Sonnet 4.5","created_at":"2025-09-29T00:00:00Z"},
        {"type":"model","id":"claude-3-5-haiku-20241022","display_name":"Claude Haiku 3.5","created_at":"2024-10-22T00:00:00Z"}],
      "has_more":true,"first_id":"claude-sonnet-4-5-20250929","last_id":"claude-3-5-haiku-20241022"}"#;
    let (models, next) = parse_model_list(body).unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0].id, "claude-sonnet-4-5-20250929");
    assert_eq!(models[0].display_name.as_deref(), Some("Claude Sonnet 4.5"));
    assert_eq!(next.as_deref(), Some("claude-3-5-haiku-20241022"));
    let (_, next) =
        parse_model_list(br#"{"data":[],"has_more":false,"first_id":null,"last_id":null}"#)
            .unwrap();
    assert_eq!(next, None);
    assert!(parse_model_list(b"{}").is_err());
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect()
}

#[test]
fn maps_http_errors() {
    let body = |kind: &str, message: &str| {
        json!({"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"})
            .to_string()
    };
    match error_from_response(
        429,
        &headers(&[
            ("retry-after", "12"),
            ("anthropic-ratelimit-requests-remaining", "0"),
        ]),
        body(
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        )
        .as_bytes(),
    ) {
        ProviderError::RateLimited(r) => {
            assert_eq!(r.retry_after_ms, Some(12_000));
            assert!(r.message.contains("per-minute rate limit"), "{}", r.message);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        error_from_response(529, &[], body("overloaded_error", "Overloaded").as_bytes()),
        ProviderError::UpstreamUnavailable(m) if m.contains("Overloaded")
    ));
    assert!(matches!(
        error_from_response(
            500,
            &[],
            body("api_error", "Internal server error").as_bytes()
        ),
        ProviderError::UpstreamUnavailable(_)
    ));
    assert!(matches!(
        error_from_response(
            401,
            &[],
            body("authentication_error", "invalid x-api-key").as_bytes()
        ),
        ProviderError::Auth(_)
    ));
    assert!(matches!(
        error_from_response(
            403,
            &[],
            body(
                "permission_error",
                "Your API key does not have permission to use the specified resource."
            )
            .as_bytes()
        ),
        ProviderError::Auth(_)
    ));
    assert!(matches!(
        error_from_response(
            400,
            &[],
            body(
                "invalid_request_error",
                "prompt is too long: 208310 tokens > 200000 maximum"
            )
            .as_bytes()
        ),
        ProviderError::ContextTooLong(_)
    ));
    assert!(matches!(
        error_from_response(400, &[], body("invalid_request_error", "input length and `max_tokens` exceed context limit: 188240 + 21333 > 200000, decrease input length or `max_tokens` and try again").as_bytes()),
        ProviderError::ContextTooLong(_)
    ));
    assert!(matches!(
        error_from_response(
            400,
            &[],
            body("invalid_request_error", "max_tokens: Field required").as_bytes()
        ),
        ProviderError::BadRequest(_)
    ));
    assert!(matches!(
        error_from_response(
            413,
            &[],
            body(
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes."
            )
            .as_bytes()
        ),
        ProviderError::BadRequest(_)
    ));
    assert!(matches!(
        error_from_response(
            404,
            &[],
            body("not_found_error", "model: claude-9").as_bytes()
        ),
        ProviderError::NotFound(_)
    ));
    assert!(matches!(
        error_from_response(
            504,
            &[],
            body("timeout_error", "Request timed out").as_bytes()
        ),
        ProviderError::Timeout(_)
    ));
    assert!(matches!(
        error_from_response(502, &[], b"<html>Bad Gateway</html>"),
        ProviderError::UpstreamUnavailable(m) if m.contains("Bad Gateway")
    ));
    match error_from_response(429, &[], b"") {
        ProviderError::RateLimited(r) => assert_eq!(r.retry_after_ms, None),
        other => panic!("{other:?}"),
    }
}

/// The documented stream of a text answer, `ping` included.
const TEXT_STREAM: &str = concat!(
    "event: message_start\n",
    "data: {\"type\": \"message_start\", \"message\": {\"id\": \"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY\", \"type\": \"message\", \"role\": \"assistant\", \"content\": [], \"model\": \"claude-sonnet-4-5-20250929\", \"stop_reason\": null, \"stop_sequence\": null, \"usage\": {\"input_tokens\": 25, \"output_tokens\": 1}}}\n\n",
    "event: content_block_start\n",
    "data: {\"type\": \"content_block_start\", \"index\": 0, \"content_block\": {\"type\": \"text\", \"text\": \"\"}}\n\n",
    "event: ping\n",
    "data: {\"type\": \"ping\"}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": \"Hello\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\": \"content_block_delta\", \"index\": 0, \"delta\": {\"type\": \"text_delta\", \"text\": \"!\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\": \"content_block_stop\", \"index\": 0}\n\n",
    "event: message_delta\n",
    "data: {\"type\": \"message_delta\", \"delta\": {\"stop_reason\": \"end_turn\", \"stop_sequence\":null}, \"usage\": {\"output_tokens\": 15}}\n\n",
    "event: message_stop\n",
    "data: {\"type\": \"message_stop\"}\n\n",
);

/// The documented stream of a tool call, with a thinking block first.
const TOOL_STREAM: &str = concat!(
    "event: message_start\n",
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_014p7gG3wDgGV9EUtLvnow3U\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,\"output_tokens\":2},\"content\":[],\"stop_reason\":null}}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"I need the weather tool.\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"text_delta\",\"text\":\"Okay, let's check\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
    "event: content_block_start\n",
    "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01T1x1fJ34qAmk2tNTrN7Up6\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"location\\\":\"}}\n\n",
    "event: content_block_delta\n",
    "data: {\"type\":\"content_block_delta\",\"index\":2,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\" \\\"San Francisco, CA\\\"}\"}}\n\n",
    "event: content_block_stop\n",
    "data: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
    "event: message_delta\n",
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":89}}\n\n",
    "event: message_stop\n",
    "data: {\"type\":\"message_stop\"}\n\n",
);

#[test]
fn streams_text_in_any_chunking() {
    for size in [1, 5, 64, 4096] {
        let mut s = SseMessageStream::new(FakeBody::new(TEXT_STREAM, size), "claude-sonnet-4-5");
        let (chunks, error) = collect(&mut s);
        assert!(error.is_none(), "chunk size {size}: {error:?}");
        let text: String = chunks.iter().filter_map(|c| c.content.clone()).collect();
        assert_eq!(text, "Hello!");
        assert_eq!(chunks.len(), 3);
        assert!(
            chunks
                .iter()
                .all(|c| c.id == "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY")
        );
        assert!(
            chunks
                .iter()
                .all(|c| c.model == "claude-sonnet-4-5-20250929")
        );
        let last = chunks.last().unwrap();
        assert_eq!(last.finish_reason, Some(FinishReason::Stop));
        assert_eq!(
            last.usage,
            Some(Usage {
                prompt_tokens: 25,
                completion_tokens: 15,
                total_tokens: 40
            })
        );
        assert!(s.next().is_none(), "stays ended");
    }
}

#[test]
fn streams_tool_use_as_deltas() {
    let (chunks, error) = collect(&mut SseMessageStream::new(
        FakeBody::new(TOOL_STREAM, 37),
        "m",
    ));
    assert!(error.is_none(), "{error:?}");
    let text: String = chunks.iter().filter_map(|c| c.content.clone()).collect();
    assert_eq!(text, "Okay, let's check", "thinking is not content");
    let deltas: Vec<&ToolCallDelta> = chunks.iter().flat_map(|c| &c.tool_calls).collect();
    assert_eq!(
        deltas[0].index, 0,
        "the first tool call, whatever its block index"
    );
    assert_eq!(
        deltas[0].id.as_deref(),
        Some("toolu_01T1x1fJ34qAmk2tNTrN7Up6")
    );
    assert_eq!(deltas[0].name.as_deref(), Some("get_weather"));
    let args: String = deltas.iter().map(|d| d.arguments.as_str()).collect();
    assert_eq!(args, r#"{"location": "San Francisco, CA"}"#);
    assert!(deltas[1..].iter().all(|d| d.id.is_none() && d.index == 0));
    let last = chunks.last().unwrap();
    assert_eq!(last.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(last.usage.as_ref().unwrap().completion_tokens, 89);
    assert_eq!(last.usage.as_ref().unwrap().prompt_tokens, 472);
}

#[test]
fn cut_stream_is_an_error() {
    let cut = &TEXT_STREAM[..TEXT_STREAM.find("\"!\"").unwrap()];
    let mut s = SseMessageStream::new(FakeBody::new(cut, 50), "m");
    let (chunks, error) = collect(&mut s);
    assert_eq!(chunks.len(), 1);
    assert!(
        matches!(error, Some(ProviderError::UpstreamUnavailable(_))),
        "{error:?}"
    );
    assert!(s.next().is_none(), "fused after the error");

    let mut body = FakeBody::new(cut, 50);
    body.error_at_end = Some(HttpError::from_code(
        &ErrorCode::ConnectionReadTimeout,
        "api.anthropic.com",
    ));
    let (_, error) = collect(&mut SseMessageStream::new(body, "m"));
    assert!(matches!(error, Some(ProviderError::Timeout(_))));

    // After the stop reason, a missing message_stop is no loss.
    let without_stop = TEXT_STREAM.replace(
        "event: message_stop\ndata: {\"type\": \"message_stop\"}\n\n",
        "",
    );
    let (chunks, error) = collect(&mut SseMessageStream::new(
        FakeBody::new(&without_stop, 50),
        "m",
    ));
    assert!(error.is_none());
    assert_eq!(chunks.len(), 3);
}

#[test]
fn error_event_mid_stream() {
    let text = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"model\":\"claude-x\",\"usage\":{\"input_tokens\":3,\"output_tokens\":1}}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}\n\n",
        "event: error\n",
        "data: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n",
    );
    let (chunks, error) = collect(&mut SseMessageStream::new(FakeBody::new(text, 10), "m"));
    assert_eq!(chunks.len(), 1);
    assert!(
        matches!(error, Some(ProviderError::UpstreamUnavailable(m)) if m.contains("Overloaded"))
    );

    let rate = "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}\n\n";
    let (_, error) = collect(&mut SseMessageStream::new(FakeBody::new(rate, 10), "m"));
    assert!(matches!(error, Some(ProviderError::RateLimited(_))));
}

#[test]
fn error_body_with_status_200() {
    let body = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    assert!(matches!(
        parse_messages_response(body, "m"),
        Err(ProviderError::UpstreamUnavailable(_))
    ));
    assert!(matches!(
        parse_messages_response(b"<html>", "m"),
        Err(ProviderError::UpstreamUnavailable(_))
    ));
}

#[test]
fn tool_use_ids_are_made_acceptable() {
    assert_eq!(tool_use_id("toolu_01A-b"), "toolu_01A-b");
    assert_eq!(tool_use_id("call.1/2+3="), "call_1_2_3_");
    assert_eq!(tool_use_id(""), "toolu_empty");
}

#[test]
fn images_and_documents_become_blocks_in_user_turns_and_tool_results() {
    use crate::provider::ContentPart;
    let mut r = request();
    r.messages[1] = Message::with_parts(
        Role::User,
        vec![
            ContentPart::Text("Compare these.".into()),
            ContentPart::image_url("https://example.com/a.png"),
            ContentPart::image_url("data:image/jpeg;base64,/9j/"),
            ContentPart::document_bytes("application/pdf", b"%PDF".to_vec()),
            ContentPart::document_bytes("text/plain", b"notes".to_vec()),
        ],
    );
    let mut call = Message::assistant("");
    call.tool_calls = vec![ToolCall {
        id: "toolu_1".into(),
        name: "screenshot".into(),
        arguments: "{}".into(),
        signature: None,
    }];
    r.messages.push(call);
    let mut result = Message::tool_result("toolu_1", "");
    result.content = vec![ContentPart::image_bytes("image/png", vec![1, 2, 3])];
    r.messages.push(result);
    let body = messages_request_body(&r, 1024, false).unwrap();
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            { "type": "text", "text": "Compare these." },
            { "type": "image", "source": { "type": "url", "url": "https://example.com/a.png" } },
            { "type": "image", "source": { "type": "base64", "media_type": "image/jpeg", "data": "/9j/" } },
            { "type": "document", "source": { "type": "base64", "media_type": "application/pdf", "data": "JVBERg==" } },
            { "type": "document", "source": { "type": "text", "media_type": "text/plain", "data": "notes" } },
        ])
    );
    assert_eq!(
        body["messages"][2]["content"][0]["content"],
        json!([{ "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": "AQID" } }])
    );
    // Anthropic reads no image an assistant wrote.
    let mut r = request();
    r.messages.push(Message::with_parts(
        Role::Assistant,
        vec![ContentPart::image_url("https://example.com/a.png")],
    ));
    assert!(matches!(
        messages_request_body(&r, 1, false),
        Err(ProviderError::Unsupported(_))
    ));
}

#[test]
fn thinking_comes_back_with_its_signature_and_goes_out_again_first() {
    let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
      "content":[{"type":"thinking","thinking":"Let me add.","signature":"EqQBCgIYAhIM"},
                 {"type":"redacted_thinking","data":"EmwKAhgBEgy3"},
                 {"type":"text","text":"4"}],
      "stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":5}}"#;
    let r = parse_messages_response(body, "m").unwrap();
    assert_eq!(r.message.text(), "4");
    assert_eq!(r.message.reasoning.len(), 2);
    assert_eq!(
        r.message.reasoning[0].signature.as_deref(),
        Some("EqQBCgIYAhIM")
    );
    assert!(r.message.reasoning[1].redacted);
    let mut next = request();
    next.messages.push(r.message);
    next.messages.push(Message::user("And 3+3?"));
    let body = messages_request_body(&next, 1024, false).unwrap();
    assert_eq!(
        body["messages"][1]["content"],
        json!([
            { "type": "thinking", "thinking": "Let me add.", "signature": "EqQBCgIYAhIM" },
            { "type": "redacted_thinking", "data": "EmwKAhgBEgy3" },
            { "type": "text", "text": "4" },
        ])
    );
}

#[test]
fn a_stop_sequence_is_reported_as_such() {
    let body = br#"{"id":"msg_1","type":"message","role":"assistant","model":"m",
      "content":[{"type":"text","text":"1, 2"}],"stop_reason":"stop_sequence","stop_sequence":", 3",
      "usage":{"input_tokens":1,"output_tokens":1}}"#;
    let r = parse_messages_response(body, "m").unwrap();
    assert_eq!(r.finish_reason, FinishReason::StopSequence);
    assert_eq!(r.stop_sequence.as_deref(), Some(", 3"));
    let events = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m1\",\"model\":\"m\",\"usage\":{\"input_tokens\":1}}}\n\n\
event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Hm\"}}\n\n\
event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"sig\"}}\n\n\
event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"stop_sequence\",\"stop_sequence\":\"END\"},\"usage\":{\"output_tokens\":2}}\n\n\
event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    let mut stream = SseMessageStream::new(FakeBody::new(events, 64), "m");
    let (chunks, error) = collect(&mut stream);
    assert!(error.is_none(), "{error:?}");
    let reasoning: String = chunks
        .iter()
        .flat_map(|c| &c.reasoning)
        .map(|r| r.text.as_str())
        .collect();
    assert_eq!(reasoning, "Hm");
    assert!(
        chunks
            .iter()
            .flat_map(|c| &c.reasoning)
            .any(|r| r.signature.as_deref() == Some("sig"))
    );
    let last = chunks.last().unwrap();
    assert_eq!(last.finish_reason, Some(FinishReason::StopSequence));
    assert_eq!(last.stop_sequence.as_deref(), Some("END"));
}

#[test]
fn count_tokens_sends_only_what_counts() {
    let mut r = request();
    r.max_tokens = Some(10);
    r.temperature = Some(0.5);
    let body = count_tokens_request_body(&r).unwrap();
    assert_eq!(body["system"], "Be brief.");
    assert!(body.get("max_tokens").is_none() && body.get("temperature").is_none());
    assert_eq!(
        parse_count_tokens_response(br#"{"input_tokens":14}"#).unwrap(),
        14
    );
}

#[test]
fn chunks_received_together_are_pulled_together() {
    check_batching(
        &|body| Box::new(SseMessageStream::new(body, "claude-sonnet-4-5")),
        TEXT_STREAM,
        true,
    );
}
