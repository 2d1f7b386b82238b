//! Tests on JSON and SSE as the Gemini API sends them (samples from its
//! documentation and captured responses).

use super::*;
use crate::http::{ErrorCode, HttpError};
use crate::provider::{Document, Image, ToolDefinition};
use crate::wire::testing::{FakeBody, check_batching, collect};

fn request(model: &str) -> ChatRequest {
    ChatRequest {
        model: model.into(),
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
        description: "Current weather".into(),
        parameters: r#"{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}"#.into(),
    }
}

#[test]
fn model_paths() {
    assert_eq!(
        model_path("gemini-2.5-flash").unwrap(),
        "models/gemini-2.5-flash"
    );
    assert_eq!(
        model_path("models/gemini-2.5-flash").unwrap(),
        "models/gemini-2.5-flash"
    );
    assert_eq!(
        model_path("tunedModels/my-model-x1").unwrap(),
        "tunedModels/my-model-x1"
    );
    for bad in ["", "models/", "gemini/../x:y", "a b", "x?y=1"] {
        assert!(model_path(bad).is_err(), "{bad}");
    }
}

#[test]
fn minimal_request() {
    let body = generate_content_body(&request("gemini-2.5-flash")).unwrap();
    assert_eq!(
        body,
        json!({
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}],
        })
    );
}

#[test]
fn full_request_with_function_round_trip() {
    let mut r = request("gemini-2.5-flash");
    r.tools = vec![weather_tool()];
    r.tool_choice = Some(ToolChoice::Named("get_weather".into()));
    r.temperature = Some(0.7);
    r.top_p = Some(0.9);
    r.max_tokens = Some(256);
    r.stop = vec!["END".into()];
    r.json_mode = true;
    r.extra = Some(
        r#"{"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}, "safetySettings": []}"#
            .into(),
    );
    let call_id = crate::wire::synthesize_call_id(0, "get_weather", r#"{"location":"Paris"}"#);
    let mut call = Message::assistant("");
    call.tool_calls = vec![ToolCall {
        id: call_id.clone(),
        name: "get_weather".into(),
        arguments: r#"{"location":"Paris"}"#.into(),
        signature: None,
    }];
    r.messages.push(call);
    r.messages
        .push(Message::tool_result(call_id, r#"{"temp_c": 15}"#));
    let mut by_name = Message::tool_result("other-provider-id", "sunny");
    by_name.name = Some("get_forecast".into());
    r.messages.push(by_name);

    let body = generate_content_body(&r).unwrap();
    assert_eq!(
        body["tools"],
        json!([{"functionDeclarations": [{
            "name": "get_weather",
            "description": "Current weather",
            "parameters": {"type":"object","properties":{"location":{"type":"string"}},"required":["location"]},
        }]}])
    );
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}})
    );
    assert_eq!(
        body["generationConfig"],
        json!({
            "temperature": 0.7, "topP": 0.9, "maxOutputTokens": 256, "stopSequences": ["END"],
            "responseMimeType": "application/json", "thinkingConfig": {"thinkingBudget": 0},
        })
    );
    assert_eq!(body["safetySettings"], json!([]));
    assert_eq!(
        body["contents"],
        json!([
            {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp_c": 15}}},
                {"functionResponse": {"name": "get_forecast", "response": {"output": "sunny"}}},
            ]},
        ])
    );
}

#[test]
fn gemini_3_function_calls_carry_the_documented_signature() {
    let mut r = request("gemini-3-pro-preview");
    let mut a = Message::assistant("Checking both.");
    a.tool_calls = vec![
        ToolCall {
            id: "a".into(),
            name: "f".into(),
            arguments: "{}".into(),
            signature: None,
        },
        ToolCall {
            id: "b".into(),
            name: "f".into(),
            arguments: "{\"x\":1}".into(),
            signature: None,
        },
    ];
    r.messages.push(a);
    let body = generate_content_body(&r).unwrap();
    let parts = &body["contents"][1]["parts"];
    assert_eq!(parts[0], json!({"text": "Checking both."}));
    assert_eq!(parts[1]["thoughtSignature"], SKIP_THOUGHT_SIGNATURE);
    assert!(
        parts[2].get("thoughtSignature").is_none(),
        "only the first call of a turn"
    );
    assert!(requires_thought_signatures("gemini-3-flash"));
    assert!(requires_thought_signatures("models/gemini-3.1-pro"));
    assert!(!requires_thought_signatures("gemini-2.5-pro"));
    assert!(!requires_thought_signatures("gemma-3-27b-it"));
    r.model = "gemini-2.5-flash".into();
    let body = generate_content_body(&r).unwrap();
    assert!(
        body["contents"][1]["parts"][1]
            .get("thoughtSignature")
            .is_none()
    );
    // A call's own signature wins over the documented one.
    r.model = "gemini-3-pro-preview".into();
    r.messages[2].tool_calls[0].signature = Some("real-signature".into());
    let body = generate_content_body(&r).unwrap();
    assert_eq!(
        body["contents"][1]["parts"][1]["thoughtSignature"],
        "real-signature"
    );
}

#[test]
fn images_and_documents_map_to_inline_and_file_data() {
    let mut r = request("gemini-2.5-flash");
    let url = |url: &str| MediaSource::Url(url.into());
    r.messages[1] = Message::with_parts(
        Role::User,
        vec![
            ContentPart::Text("What is in these?".into()),
            ContentPart::image_bytes("image/png", vec![0x89, b'P', b'N', b'G']),
            ContentPart::Image(Image {
                source: url("https://example.com/cat.webp?size=2#top"),
                detail: Some("high".into()),
            }),
            ContentPart::Image(Image {
                source: url("https://generativelanguage.googleapis.com/v1beta/files/abc123"),
                detail: None,
            }),
            // A data: URL that reached the provider as a URL.
            ContentPart::Image(Image {
                source: url("data:image/jpeg;base64,/9j/"),
                detail: None,
            }),
            ContentPart::document_bytes("application/pdf", b"%PDF".to_vec()),
            ContentPart::Document(Document {
                source: url("gs://bucket/report.PDF"),
                title: Some("Report".into()),
            }),
            ContentPart::Document(Document {
                source: url("https://example.com/notes.txt"),
                title: None,
            }),
            ContentPart::Document(Document {
                source: url("https://example.com/download?id=7"),
                title: None,
            }),
        ],
    );
    let body = generate_content_body(&r).unwrap();
    assert_eq!(
        body["contents"],
        json!([{"role": "user", "parts": [
            {"text": "What is in these?"},
            {"inlineData": {"mimeType": "image/png", "data": "iVBORw=="}},
            {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?size=2#top"}},
            {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc123"}},
            {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/"}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBERg=="}},
            {"fileData": {"mimeType": "application/pdf", "fileUri": "gs://bucket/report.PDF"}},
            {"fileData": {"mimeType": "text/plain", "fileUri": "https://example.com/notes.txt"}},
            {"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/download?id=7"}},
        ]}])
    );
}

#[test]
fn media_gemini_cannot_take_is_unsupported() {
    let mut r = request("gemini-2.5-flash");
    r.messages[0] = Message::with_parts(
        Role::System,
        vec![
            ContentPart::Text("Be brief.".into()),
            ContentPart::image_url("https://example.com/logo.png"),
        ],
    );
    assert!(matches!(
        generate_content_body(&r),
        Err(ProviderError::Unsupported(m)) if m.contains("system instruction") && m.contains("image")
    ));
    assert!(matches!(
        count_tokens_body(&r),
        Err(ProviderError::Unsupported(_))
    ));

    let mut r = request("gemini-2.5-flash");
    let mut call = Message::assistant("");
    call.tool_calls = vec![ToolCall {
        id: "c1".into(),
        name: "render".into(),
        arguments: "{}".into(),
        signature: None,
    }];
    r.messages.push(call);
    r.messages.push(Message {
        tool_call_id: Some("c1".into()),
        ..Message::with_parts(
            Role::Tool,
            vec![ContentPart::document_bytes("application/pdf", vec![1])],
        )
    });
    assert!(matches!(
        generate_content_body(&r),
        Err(ProviderError::Unsupported(m)) if m.contains("function response") && m.contains("document")
    ));

    let mut r = request("gemini-2.5-flash");
    r.messages[1] = Message::with_parts(
        Role::User,
        vec![ContentPart::Image(Image {
            source: MediaSource::Url("data:image/svg+xml,<svg/>".into()),
            detail: None,
        })],
    );
    assert!(matches!(
        generate_content_body(&r),
        Err(ProviderError::Unsupported(m)) if m.contains("data:")
    ));
}

#[test]
fn thought_signatures_round_trip() {
    // A function call signed by a Gemini 3 model, after a thought summary.
    let body = br#"{"candidates":[{"content":{"parts":[
        {"text":"The user wants the weather: call the tool.","thought":true},
        {"functionCall":{"name":"get_weather","args":{"location":"Paris"}},"thoughtSignature":"sig-call"}],"role":"model"},
      "finishReason":"STOP","index":0}],"modelVersion":"gemini-3-pro-preview"}"#;
    let answer = parse_generate_response(body, "gemini-3-pro-preview").unwrap();
    assert_eq!(
        answer.message.tool_calls[0].signature.as_deref(),
        Some("sig-call")
    );
    let mut r = request("gemini-3-pro-preview");
    r.tools = vec![weather_tool()];
    let call_id = answer.message.tool_calls[0].id.clone();
    r.messages.push(answer.message);
    r.messages
        .push(Message::tool_result(call_id, r#"{"temp_c": 15}"#));
    let body = generate_content_body(&r).unwrap();
    assert_eq!(
        body["contents"][1],
        json!({"role": "model", "parts": [
            {"text": "The user wants the weather: call the tool.", "thought": true},
            {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}, "thoughtSignature": "sig-call"},
        ]})
    );
    assert_eq!(
        body["contents"][2]["parts"][0]["functionResponse"]["name"],
        "get_weather"
    );

    // A signed thought, and a signature on a text part: reasoning without
    // text, which goes back on the turn's text.
    let body = br#"{"candidates":[{"content":{"parts":[
        {"text":"Plan the answer.","thought":true,"thoughtSignature":"sig-thought"},
        {"text":"It is 15 degrees."},
        {"text":" Sunny.","thoughtSignature":"sig-text"}],"role":"model"},"finishReason":"STOP"}]}"#;
    let mut answer = parse_generate_response(body, "gemini-2.5-flash").unwrap();
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert_eq!(answer.message.text(), "It is 15 degrees. Sunny.");
    assert_eq!(
        answer.message.reasoning,
        vec![
            Reasoning {
                text: "Plan the answer.".into(),
                signature: Some("sig-thought".into()),
                redacted: false
            },
            Reasoning {
                text: String::new(),
                signature: Some("sig-text".into()),
                redacted: false
            },
        ]
    );
    // Another provider's redacted reasoning is not sent.
    answer.message.reasoning.push(Reasoning {
        text: String::new(),
        signature: Some("encrypted".into()),
        redacted: true,
    });
    let mut r = request("gemini-2.5-flash");
    r.messages.push(answer.message);
    let body = generate_content_body(&r).unwrap();
    assert_eq!(
        body["contents"][1]["parts"],
        json!([
            {"text": "Plan the answer.", "thought": true, "thoughtSignature": "sig-thought"},
            {"text": "It is 15 degrees. Sunny.", "thoughtSignature": "sig-text"},
        ])
    );
}

#[test]
fn count_tokens_wraps_the_generate_request() {
    let mut r = request("gemini-2.5-flash");
    r.tools = vec![weather_tool()];
    r.max_tokens = Some(100);
    let mut generate = generate_content_body(&r).unwrap();
    generate["model"] = "models/gemini-2.5-flash".into();
    assert_eq!(
        count_tokens_body(&r).unwrap(),
        json!({ "generateContentRequest": generate })
    );
    r.model = "a b".into();
    assert!(matches!(
        count_tokens_body(&r),
        Err(ProviderError::BadRequest(_))
    ));

    let answer =
        br#"{"totalTokens": 31, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 31}]}"#;
    assert_eq!(parse_count_tokens_response(answer).unwrap(), 31);
    assert!(matches!(
        parse_count_tokens_response(b"{}"),
        Err(ProviderError::UpstreamUnavailable(_))
    ));
    let error = br#"{"error": {"code": 400, "message": "* GenerateContentRequest.model: unexpected model name format", "status": "INVALID_ARGUMENT"}}"#;
    assert!(matches!(
        parse_count_tokens_response(error),
        Err(ProviderError::BadRequest(_))
    ));
}

#[test]
fn tool_choice_and_results_need_names() {
    for (choice, mode) in [
        (ToolChoice::Auto, "AUTO"),
        (ToolChoice::None, "NONE"),
        (ToolChoice::Required, "ANY"),
    ] {
        let mut r = request("gemini-2.0-flash");
        r.tools = vec![weather_tool()];
        r.tool_choice = Some(choice);
        assert_eq!(
            generate_content_body(&r).unwrap()["toolConfig"]["functionCallingConfig"]["mode"],
            mode
        );
    }
    let mut r = request("gemini-2.0-flash");
    r.messages.push(Message::tool_result("unknown", "x"));
    assert!(matches!(
        generate_content_body(&r),
        Err(ProviderError::BadRequest(m)) if m.contains("name")
    ));
}

#[test]
fn schemas_are_reduced_to_what_gemini_accepts() {
    let schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "city": {"type": "string", "description": "City", "format": "uri", "examples": ["x"]},
            "unit": {"enum": ["c", "f"]},
            "days": {"type": ["integer", "null"], "minimum": 1},
            "when": {"type": "string", "format": "date-time"},
            "kind": {"const": "daily"},
            "place": {"$ref": "#/$defs/Place", "description": "Where"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "maybe": {"anyOf": [{"type": "number"}, {"type": "null"}]},
        },
        "required": ["city"],
        "$defs": {"Place": {"type": "object", "properties": {"lat": {"type": "number"}}, "additionalProperties": false}},
    });
    let out = schema_for_gemini(&schema, &schema, 0);
    assert_eq!(
        out,
        json!({
            "type": "object",
            "required": ["city"],
            "properties": {
                "city": {"type": "string", "description": "City"},
                "unit": {"type": "string", "format": "enum", "enum": ["c", "f"]},
                "days": {"type": "integer", "nullable": true, "minimum": 1},
                "when": {"type": "string", "format": "date-time"},
                "kind": {"type": "string", "format": "enum", "enum": ["daily"]},
                "place": {"type": "object", "description": "Where", "properties": {"lat": {"type": "number"}}},
                "tags": {"type": "array", "items": {"type": "string"}},
                "maybe": {"type": "number", "nullable": true},
            },
        })
    );
    // A self-referencing schema does not recurse forever.
    let cyclic = json!({"type": "object", "properties": {"next": {"$ref": "#"}}});
    let _ = schema_for_gemini(&cyclic, &cyclic, 0);

    // Tools without parameters declare none.
    let mut r = request("gemini-2.0-flash");
    r.tools = vec![ToolDefinition {
        name: "now".into(),
        description: String::new(),
        parameters: String::new(),
    }];
    let body = generate_content_body(&r).unwrap();
    assert_eq!(
        body["tools"][0]["functionDeclarations"][0],
        json!({"name": "now"})
    );
}

#[test]
fn parses_text_response() {
    let body = br#"{
      "candidates": [{
        "content": {"parts": [{"text": "Paris is mild today."}], "role": "model"},
        "finishReason": "STOP",
        "avgLogprobs": -0.05,
        "index": 0,
        "safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"}]
      }],
      "usageMetadata": {"promptTokenCount": 8, "candidatesTokenCount": 6, "totalTokenCount": 30,
        "thoughtsTokenCount": 16, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 8}]},
      "modelVersion": "gemini-2.5-flash",
      "responseId": "mAitaLmkHPPlz7IPvtfUqQ4"
    }"#;
    let r = parse_generate_response(body, "gemini-2.5-flash").unwrap();
    assert_eq!(r.id, "mAitaLmkHPPlz7IPvtfUqQ4");
    assert_eq!(r.model, "gemini-2.5-flash");
    assert_eq!(r.message.text(), "Paris is mild today.");
    assert!(r.message.reasoning.is_empty());
    assert_eq!(r.stop_sequence, None);
    assert_eq!(r.finish_reason, FinishReason::Stop);
    assert_eq!(
        r.usage,
        Some(Usage {
            prompt_tokens: 8,
            completion_tokens: 22,
            total_tokens: 30
        })
    );
}

#[test]
fn parses_function_call_response() {
    let body = br#"{"candidates":[{"content":{"parts":[
        {"text":"Thinking about it","thought":true},
        {"functionCall":{"name":"get_weather","args":{"location":"Paris"}},"thoughtSignature":"CiQBVKhc7nEx..."},
        {"functionCall":{"name":"get_weather","args":{"location":"Lyon"}}}],"role":"model"},
      "finishReason":"STOP","index":0}],
      "usageMetadata":{"promptTokenCount":52,"candidatesTokenCount":10,"totalTokenCount":62},
      "modelVersion":"gemini-2.0-flash"}"#;
    let r = parse_generate_response(body, "m").unwrap();
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert!(r.message.content.is_empty(), "thoughts are not content");
    assert_eq!(r.message.tool_calls.len(), 2);
    assert_eq!(r.message.tool_calls[0].name, "get_weather");
    assert_eq!(r.message.tool_calls[0].arguments, r#"{"location":"Paris"}"#);
    assert_eq!(
        r.message.tool_calls[0].id,
        crate::wire::synthesize_call_id(0, "get_weather", r#"{"location":"Paris"}"#)
    );
    assert_ne!(r.message.tool_calls[0].id, r.message.tool_calls[1].id);
    assert_eq!(
        r.message.tool_calls[0].signature.as_deref(),
        Some("CiQBVKhc7nEx...")
    );
    assert_eq!(r.message.tool_calls[1].signature, None);
    assert_eq!(
        r.message.reasoning,
        vec![Reasoning {
            text: "Thinking about it".into(),
            signature: None,
            redacted: false
        }]
    );
    // Stable: the same answer gives the same ids.
    let again = parse_generate_response(body, "m").unwrap();
    assert_eq!(again.message.tool_calls, r.message.tool_calls);
}

#[test]
fn blocked_prompts_and_finish_reasons() {
    let body = br#"{"promptFeedback":{"blockReason":"SAFETY","safetyRatings":[]},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7},"modelVersion":"gemini-2.0-flash"}"#;
    let r = parse_generate_response(body, "m").unwrap();
    assert_eq!(r.finish_reason, FinishReason::ContentFilter);
    assert!(r.message.content.is_empty());
    assert!(parse_generate_response(br#"{"usageMetadata":{}}"#, "m").is_err());
    assert_eq!(finish_reason("MAX_TOKENS"), FinishReason::Length);
    assert_eq!(finish_reason("SAFETY"), FinishReason::ContentFilter);
    assert_eq!(finish_reason("RECITATION"), FinishReason::ContentFilter);
    assert_eq!(
        finish_reason("MALFORMED_FUNCTION_CALL"),
        FinishReason::Other
    );
}

#[test]
fn embeddings_round_trip() {
    let req = EmbedRequest {
        model: "gemini-embedding-001".into(),
        inputs: vec!["a".into(), "bc".into()],
        dimensions: Some(3),
    };
    assert_eq!(
        batch_embed_body(&req, "models/gemini-embedding-001"),
        json!({"requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 3},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "bc"}]}, "outputDimensionality": 3},
        ]})
    );
    let body = br#"{"embeddings":[{"values":[0.013168523,-0.008711934,-0.046782676]},{"values":[0.1,0.2,0.3]}]}"#;
    let r = parse_batch_embed_response(body, "gemini-embedding-001", 2).unwrap();
    assert_eq!(r.embeddings[0][0], "0.013168523".parse::<f32>().unwrap());
    assert_eq!(r.embeddings[1], vec![0.1, 0.2, 0.3]);
    assert_eq!(r.usage, None);
    assert!(parse_batch_embed_response(body, "m", 3).is_err());
}

#[test]
fn parses_model_pages() {
    let body = br#"{"models":[
      {"name":"models/gemini-2.5-flash","version":"001","displayName":"Gemini 2.5 Flash","description":"...",
       "inputTokenLimit":1048576,"outputTokenLimit":65536,
       "supportedGenerationMethods":["generateContent","countTokens","createCachedContent","batchGenerateContent"],
       "temperature":1,"topP":0.95,"topK":64,"maxTemperature":2,"thinking":true},
      {"name":"models/gemini-embedding-001","version":"001","displayName":"Gemini Embedding 001",
       "inputTokenLimit":2048,"outputTokenLimit":1,"supportedGenerationMethods":["embedContent","countTextTokens","countTokens","asyncBatchEmbedContent"]},
      {"name":"models/gemma-3-27b-it","displayName":"Gemma 3 27B","inputTokenLimit":131072,"outputTokenLimit":8192,
       "supportedGenerationMethods":["generateContent","countTokens"]},
      {"name":"models/imagen-4.0-generate-001","inputTokenLimit":480,"outputTokenLimit":8192,"supportedGenerationMethods":["predict"]}],
      "nextPageToken":"Ch5tb2RlbHMvZ2VtaW5pLTIuMC1mbGFzaC0wMDE="}"#;
    let (models, next) = parse_model_list(body).unwrap();
    assert_eq!(
        next.as_deref(),
        Some("Ch5tb2RlbHMvZ2VtaW5pLTIuMC1mbGFzaC0wMDE=")
    );
    assert_eq!(models[0].id, "gemini-2.5-flash");
    assert_eq!(models[0].input_token_limit, Some(1_048_576));
    assert_eq!(models[0].output_token_limit, Some(65_536));
    assert_eq!(
        models[0].capabilities(),
        Capabilities::CHAT
            | Capabilities::STREAMING
            | Capabilities::TOOLS
            | Capabilities::JSON_MODE
            | Capabilities::VISION
    );
    assert_eq!(models[1].capabilities(), Capabilities::EMBEDDINGS);
    assert_eq!(
        models[2].capabilities(),
        Capabilities::CHAT | Capabilities::STREAMING
    );
    assert!(models[3].capabilities().is_empty());
    let (models, next) = parse_model_list(b"{}").unwrap();
    assert!(models.is_empty() && next.is_none());
    assert!(parse_model_list(br#"{"error":{"code":500}}"#).is_err());
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
        .collect()
}

#[test]
fn maps_http_errors() {
    let quota = br#"{
      "error": {
        "code": 429,
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
          {"@type": "type.googleapis.com/google.rpc.QuotaFailure",
           "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                           "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                           "quotaDimensions": {"location": "global", "model": "gemini-2.0-flash"}, "quotaValue": "15"}]},
          {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "Learn more", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
          {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "34s"}
        ]
      }
    }"#;
    match error_from_response(429, &[], quota) {
        ProviderError::RateLimited(r) => {
            assert_eq!(r.retry_after_ms, Some(34_000));
            assert!(r.message.contains("exceeded your current quota"));
        }
        other => panic!("{other:?}"),
    }
    let bare = br#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#;
    match error_from_response(429, &headers(&[("retry-after", "3")]), bare) {
        ProviderError::RateLimited(r) => assert_eq!(r.retry_after_ms, Some(3000)),
        other => panic!("{other:?}"),
    }
    let fractional = br#"{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","message":"x","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.5s"}]}}"#;
    match error_from_response(429, &[], fractional) {
        ProviderError::RateLimited(r) => assert_eq!(r.retry_after_ms, Some(1500)),
        other => panic!("{other:?}"),
    }

    let too_long = br#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#;
    assert!(matches!(
        error_from_response(400, &[], too_long),
        ProviderError::ContextTooLong(_)
    ));
    let bad_key = br#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT",
      "details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com",
      "metadata":{"service":"generativelanguage.googleapis.com"}}]}}"#;
    assert!(matches!(
        error_from_response(400, &[], bad_key),
        ProviderError::Auth(_)
    ));
    let invalid = br#"{"error":{"code":400,"message":"* GenerateContentRequest.contents: contents is not specified\n","status":"INVALID_ARGUMENT"}}"#;
    assert!(matches!(
        error_from_response(400, &[], invalid),
        ProviderError::BadRequest(_)
    ));
    let location = br#"{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}"#;
    assert!(matches!(
        error_from_response(400, &[], location),
        ProviderError::Auth(_)
    ));
    let denied = br#"{"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.","status":"PERMISSION_DENIED"}}"#;
    assert!(matches!(
        error_from_response(403, &[], denied),
        ProviderError::Auth(_)
    ));
    let missing = br#"{"error":{"code":404,"message":"models/gemini-9 is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.","status":"NOT_FOUND"}}"#;
    assert!(matches!(
        error_from_response(404, &[], missing),
        ProviderError::NotFound(_)
    ));
    let internal = br#"{"error":{"code":500,"message":"An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting","status":"INTERNAL"}}"#;
    assert!(matches!(
        error_from_response(500, &[], internal),
        ProviderError::UpstreamUnavailable(_)
    ));
    let overloaded = br#"{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}"#;
    assert!(
        matches!(error_from_response(503, &[], overloaded), ProviderError::UpstreamUnavailable(m) if m.contains("overloaded"))
    );
    let deadline = br#"{"error":{"code":504,"message":"Deadline expired before operation could complete.","status":"DEADLINE_EXCEEDED"}}"#;
    assert!(matches!(
        error_from_response(504, &[], deadline),
        ProviderError::Timeout(_)
    ));
    let array = br#"[{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}]"#;
    assert!(matches!(
        error_from_response(429, &[], array),
        ProviderError::RateLimited(_)
    ));
    assert!(
        matches!(error_from_response(502, &[], b"<html>Bad Gateway</html>"), ProviderError::UpstreamUnavailable(m) if m.contains("Bad Gateway"))
    );
}

/// A streamed answer as `:streamGenerateContent?alt=sse` sends it (CRLF
/// line ends, no end marker, usage on every event).
const TEXT_STREAM: &str = concat!(
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hel\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 12,\"candidatesTokenCount\": 1,\"totalTokenCount\": 13},\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"resp-1\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"lo world\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 12,\"candidatesTokenCount\": 2,\"totalTokenCount\": 14},\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"resp-1\"}\r\n\r\n",
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 12,\"candidatesTokenCount\": 3,\"totalTokenCount\": 15},\"modelVersion\": \"gemini-2.0-flash\",\"responseId\": \"resp-1\"}\r\n\r\n",
);

#[test]
fn streams_text_in_any_chunking() {
    for size in [1, 7, 100, 4096] {
        let mut s = SseGenerateStream::new(FakeBody::new(TEXT_STREAM, size), "gemini-2.0-flash");
        let (chunks, error) = collect(&mut s);
        assert!(error.is_none(), "{size}: {error:?}");
        let text: String = chunks.iter().filter_map(|c| c.content.clone()).collect();
        assert_eq!(text, "Hello world");
        assert_eq!(chunks.len(), 3);
        assert!(chunks.iter().all(|c| c.id == "resp-1"));
        let last = chunks.last().unwrap();
        assert_eq!(last.finish_reason, Some(FinishReason::Stop));
        assert_eq!(last.usage.as_ref().unwrap().total_tokens, 15);
        assert!(
            chunks[..2].iter().all(|c| c.usage.is_none()),
            "usage only at the end"
        );
        assert!(s.next().is_none());
    }
}

#[test]
fn streams_function_calls_whole() {
    let text = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"calculator\",\"args\": {\"expression\": \"2+2\"}}}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 20,\"candidatesTokenCount\": 5,\"totalTokenCount\": 25},\"modelVersion\": \"gemini-2.0-flash\"}\r\n\r\n";
    let (chunks, error) = collect(&mut SseGenerateStream::new(FakeBody::new(text, 16), "m"));
    assert!(error.is_none());
    assert_eq!(chunks.len(), 1);
    let d = &chunks[0].tool_calls[0];
    assert_eq!(d.index, 0);
    assert_eq!(d.name.as_deref(), Some("calculator"));
    assert_eq!(d.arguments, r#"{"expression":"2+2"}"#);
    assert_eq!(
        d.id.as_deref(),
        Some(crate::wire::synthesize_call_id(0, "calculator", r#"{"expression":"2+2"}"#).as_str()),
        "the same id as a non-streamed answer gives"
    );
    assert_eq!(chunks[0].finish_reason, Some(FinishReason::ToolCalls));
}

#[test]
fn streams_thoughts_and_signatures() {
    let text = concat!(
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Let me \",\"thought\": true}],\"role\": \"model\"},\"index\": 0}],\"responseId\": \"r\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"add.\",\"thought\": true}],\"role\": \"model\"},\"index\": 0}],\"responseId\": \"r\"}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"functionCall\": {\"name\": \"calculator\",\"args\": {\"expression\": \"2+2\"}},\"thoughtSignature\": \"sig-1\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"responseId\": \"r\"}\r\n\r\n",
    );
    let (chunks, error) = collect(&mut SseGenerateStream::new(FakeBody::new(text, 13), "m"));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks.len(), 3);
    assert!(chunks.iter().all(|c| c.content.is_none()));
    let reasoning: Vec<_> = chunks
        .iter()
        .flat_map(|c| &c.reasoning)
        .map(|d| (d.index, d.text.as_str(), d.signature.as_deref()))
        .collect();
    assert_eq!(reasoning, [(0, "Let me ", None), (0, "add.", None)]);
    let d = &chunks[2].tool_calls[0];
    assert_eq!(d.signature.as_deref(), Some("sig-1"));
    assert_eq!(chunks[2].finish_reason, Some(FinishReason::ToolCalls));

    // Gemini 3 may sign a text answer in a last event with empty text.
    let text = concat!(
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}],\"role\": \"model\"},\"index\": 0}]}\r\n\r\n",
        "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"\",\"thoughtSignature\": \"sig-2\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}]}\r\n\r\n",
    );
    let (chunks, error) = collect(&mut SseGenerateStream::new(FakeBody::new(text, 64), "m"));
    assert!(error.is_none(), "{error:?}");
    assert_eq!(chunks[0].content.as_deref(), Some("Hi"));
    assert_eq!(chunks[1].content, None);
    assert_eq!(
        chunks[1].reasoning,
        vec![ReasoningDelta {
            index: 0,
            text: String::new(),
            signature: Some("sig-2".into()),
            redacted: false
        }]
    );
    assert_eq!(chunks[1].finish_reason, Some(FinishReason::Stop));
}

#[test]
fn cut_stream_and_errors() {
    let cut = &TEXT_STREAM[..TEXT_STREAM.find("\"finishReason\"").unwrap()];
    let (chunks, error) = collect(&mut SseGenerateStream::new(FakeBody::new(cut, 64), "m"));
    assert_eq!(chunks.len(), 2);
    assert!(matches!(error, Some(ProviderError::UpstreamUnavailable(_))));

    // Cut at an event boundary: still no finish reason.
    let two = TEXT_STREAM
        .split_inclusive("\r\n\r\n")
        .take(2)
        .collect::<String>();
    let (_, error) = collect(&mut SseGenerateStream::new(FakeBody::new(&two, 64), "m"));
    assert!(matches!(error, Some(ProviderError::UpstreamUnavailable(_))));

    let mut body = FakeBody::new(&two, 64);
    body.error_at_end = Some(HttpError::from_code(&ErrorCode::ConnectionReadTimeout, "g"));
    let (_, error) = collect(&mut SseGenerateStream::new(body, "m"));
    assert!(matches!(error, Some(ProviderError::Timeout(_))));

    let in_stream = "data: {\"error\": {\"code\": 503, \"message\": \"The model is overloaded. Please try again later.\", \"status\": \"UNAVAILABLE\"}}\r\n\r\n";
    let (_, error) = collect(&mut SseGenerateStream::new(
        FakeBody::new(in_stream, 64),
        "m",
    ));
    assert!(
        matches!(error, Some(ProviderError::UpstreamUnavailable(m)) if m.contains("overloaded"))
    );
}

#[test]
fn chunks_received_together_are_pulled_together() {
    check_batching(
        &|body| Box::new(SseGenerateStream::new(body, "gemini-2.0-flash")),
        TEXT_STREAM,
        false,
    );
}
