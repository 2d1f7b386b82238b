//! A local server speaking the Gemini API as
//! generativelanguage.googleapis.com does: `GET /v1beta/models` (paged with
//! `pageToken`), `POST /v1beta/models/{model}:generateContent`,
//! `:streamGenerateContent?alt=sse` (SSE with CRLF line ends and no end
//! marker) and `:batchEmbedContents`, Google RPC error bodies (with
//! `RetryInfo` on 429), and its checks: the key in `x-goog-api-key` (never
//! the URL), roles `user`/`model`, every functionResponse answering a
//! functionCall of the turn before.
//!
//! Special model names make it misbehave: `rate-limited` (429
//! RESOURCE_EXHAUSTED, retryDelay 2s), `broken` (500 INTERNAL),
//! `overloaded` (503 UNAVAILABLE), `too-long` (400 token count), `bad-key`
//! (400 API_KEY_INVALID), `missing` (404), `cut-stream` (the stream breaks
//! mid-way), `slow-stream` (events 150 ms apart).

use crate::server::{
    Body, MockServer, Pace, Recorded, json_response, last_user_text, streamed, vector,
};
use hyper::Response;
use serde_json::{Value, json};

pub const API_KEY: &str = "gemini-test-key";
/// A page token with characters that must be escaped in a query.
pub const PAGE_TOKEN: &str = "Ch5tb2RlbHMv+Z2Vt/aW5p=";

pub async fn start() -> MockServer {
    MockServer::start(handle).await
}

pub fn base_url(mock: &MockServer) -> String {
    format!("http://{}", mock.addr)
}

fn error(code: u16, status: &str, message: &str, details: Value) -> Response<Body> {
    let mut error = json!({"code": code, "message": message, "status": status});
    if !details.is_null() {
        error["details"] = details;
    }
    json_response(code, &json!({ "error": error }))
}

fn bad_key() -> Response<Body> {
    error(
        400,
        "INVALID_ARGUMENT",
        "API key not valid. Please pass a valid API key.",
        json!([{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                "domain": "googleapis.com", "metadata": {"service": "generativelanguage.googleapis.com"}}]),
    )
}

fn handle(req: &Recorded) -> Response<Body> {
    if req.query_param("key").is_some() {
        // Allowed by Google, but the plugin must not put the key in URLs.
        return error(
            400,
            "INVALID_ARGUMENT",
            "mock: the key must not be in the URL",
            Value::Null,
        );
    }
    match req.header("x-goog-api-key") {
        Some(API_KEY) => {}
        Some(_) => return bad_key(),
        None => {
            return error(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
                Value::Null,
            );
        }
    }
    if req.method == "GET" && req.path == "/v1beta/models" {
        return models(req);
    }
    let Some((model, method)) = req
        .path
        .strip_prefix("/v1beta/models/")
        .and_then(|rest| rest.split_once(':'))
    else {
        return error(
            404,
            "NOT_FOUND",
            "Requested entity was not found.",
            Value::Null,
        );
    };
    match (req.method.as_str(), method) {
        ("POST", "generateContent") => generate(model, &req.body, None),
        ("POST", "streamGenerateContent") => {
            if req.query_param("alt").as_deref() != Some("sse") {
                return error(
                    400,
                    "INVALID_ARGUMENT",
                    "mock: only alt=sse streams",
                    Value::Null,
                );
            }
            generate(model, &req.body, Some(model))
        }
        ("POST", "batchEmbedContents") => embed(model, &req.body),
        _ => error(
            404,
            "NOT_FOUND",
            "Requested entity was not found.",
            Value::Null,
        ),
    }
}

fn models(req: &Recorded) -> Response<Body> {
    let page = match req.query_param("pageToken") {
        None => json!({"models": [
            {"name": "models/gemini-2.5-flash", "version": "001", "displayName": "Gemini 2.5 Flash",
             "inputTokenLimit": 1048576, "outputTokenLimit": 65536,
             "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
             "temperature": 1, "topP": 0.95, "topK": 64, "maxTemperature": 2, "thinking": true},
        ], "nextPageToken": PAGE_TOKEN}),
        Some(token) if token == PAGE_TOKEN => json!({"models": [
            {"name": "models/gemini-embedding-001", "version": "001", "displayName": "Gemini Embedding 001",
             "inputTokenLimit": 2048, "outputTokenLimit": 1,
             "supportedGenerationMethods": ["embedContent", "countTextTokens", "countTokens"]},
            {"name": "models/imagen-4.0-generate-001", "version": "001", "displayName": "Imagen 4",
             "inputTokenLimit": 480, "outputTokenLimit": 8192, "supportedGenerationMethods": ["predict"]},
        ]}),
        Some(_) => return error(400, "INVALID_ARGUMENT", "Invalid page token.", Value::Null),
    };
    json_response(200, &page)
}

fn part_text(content: &Value) -> Option<String> {
    let text: String = content["parts"]
        .as_array()?
        .iter()
        .filter_map(|p| p["text"].as_str())
        .collect();
    (!text.is_empty()).then_some(text)
}

fn validate(body: &Value) -> Result<(), String> {
    let contents = body["contents"]
        .as_array()
        .filter(|c| !c.is_empty())
        .ok_or("* GenerateContentRequest.contents: contents is not specified\n")?;
    for (i, c) in contents.iter().enumerate() {
        if c["role"] != "user" && c["role"] != "model" {
            return Err(format!(
                "Please use a valid role: user, model. (contents[{i}].role = {})",
                c["role"]
            ));
        }
        for p in c["parts"].as_array().into_iter().flatten() {
            if let Some(response) = p.get("functionResponse") {
                let name = &response["name"];
                let called = i > 0
                    && contents[i - 1]["role"] == "model"
                    && contents[i - 1]["parts"].as_array().is_some_and(|prev| {
                        prev.iter().any(|q| &q["functionCall"]["name"] == name)
                    });
                if !called || !response["response"].is_object() {
                    return Err("Please ensure that function response turn comes immediately after a function call turn. And the number of function response parts should be equal to number of function call parts of the function call turn.".into());
                }
            }
        }
    }
    for d in body["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["functionDeclarations"].as_array().into_iter().flatten())
    {
        if let Some(p) = d.get("parameters")
            && (p.get("additionalProperties").is_some() || p.get("$schema").is_some())
        {
            return Err("Invalid JSON payload received. Unknown name \"additionalProperties\" at 'tools[0].function_declarations[0].parameters': Cannot find field.".into());
        }
    }
    Ok(())
}

fn wants_tool_call(body: &Value) -> bool {
    let tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let last_is_question = body["contents"]
        .as_array()
        .and_then(|c| c.last())
        .is_some_and(|c| c["role"] == "user" && part_text(c).is_some());
    tools && last_is_question && body["toolConfig"]["functionCallingConfig"]["mode"] != "NONE"
}

/// A chat answer, streamed when `stream` names the model.
fn generate(model: &str, body: &Value, stream: Option<&str>) -> Response<Body> {
    match model {
        "rate-limited" => {
            return error(
                429,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
                json!([
                    {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                        {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                         "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                         "quotaDimensions": {"location": "global", "model": model}, "quotaValue": "10"}]},
                    {"@type": "type.googleapis.com/google.rpc.Help", "links": [
                        {"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]},
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2s"},
                ]),
            );
        }
        "broken" => {
            return error(
                500,
                "INTERNAL",
                "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
                Value::Null,
            );
        }
        "overloaded" => {
            return error(
                503,
                "UNAVAILABLE",
                "The model is overloaded. Please try again later.",
                Value::Null,
            );
        }
        "too-long" => {
            return error(
                400,
                "INVALID_ARGUMENT",
                "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
                Value::Null,
            );
        }
        "bad-key" => return bad_key(),
        "missing" => {
            return error(
                404,
                "NOT_FOUND",
                "models/missing is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.",
                Value::Null,
            );
        }
        _ => {}
    }
    if let Err(message) = validate(body) {
        return error(400, "INVALID_ARGUMENT", &message, Value::Null);
    }
    let tool = wants_tool_call(body);
    if let Some(model) = stream {
        return stream_answer(model, tool);
    }
    let parts = if tool {
        json!([{"functionCall": {"name": "calculator", "args": {"expression": "2+2"}}}])
    } else {
        let text = last_user_text(&body["contents"], "role", part_text);
        json!([{"text": format!("echo: {text}")}])
    };
    json_response(
        200,
        &json!({
            "candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": "STOP", "index": 0,
                            "safetyRatings": [{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"}]}],
            "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 7, "totalTokenCount": 19,
                              "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 12}]},
            "modelVersion": model, "responseId": "mockResp-gen-1"
        }),
    )
}

fn stream_answer(model: &str, tool: bool) -> Response<Body> {
    let event = |parts: Value, finish: Option<&str>, completion: u32| {
        let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
        if let Some(f) = finish {
            candidate["finishReason"] = f.into();
        }
        let data = json!({
            "candidates": [candidate],
            "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": completion, "totalTokenCount": 12 + completion},
            "modelVersion": model, "responseId": "mockResp-stream-1",
        });
        format!("data: {data}\r\n\r\n")
    };
    let events = if tool {
        vec![event(
            json!([{"functionCall": {"name": "calculator", "args": {"expression": "2+2"}}}]),
            Some("STOP"),
            3,
        )]
    } else {
        vec![
            event(json!([{"text": "Hel"}]), None, 1),
            event(json!([{"text": "lo"}]), None, 2),
            event(json!([{"text": " world"}]), Some("STOP"), 3),
        ]
    };
    let pace = match model {
        "cut-stream" => Pace::cut(2),
        "slow-stream" => Pace::slow(150),
        _ => Pace::normal(),
    };
    streamed("text/event-stream", events, pace)
}

fn embed(model: &str, body: &Value) -> Response<Body> {
    let Some(requests) = body["requests"].as_array() else {
        return error(
            400,
            "INVALID_ARGUMENT",
            "* BatchEmbedContentsRequest.requests: requests is not specified\n",
            Value::Null,
        );
    };
    let mut embeddings = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        if r["model"] != format!("models/{model}") {
            return error(
                400,
                "INVALID_ARGUMENT",
                &format!(
                    "* BatchEmbedContentsRequest.model: unexpected model name format\n* BatchEmbedContentsRequest.requests[{i}].model: model does not match the batch model"
                ),
                Value::Null,
            );
        }
        let text = part_text(&r["content"]).unwrap_or_default();
        let dims = r["outputDimensionality"].as_u64().unwrap_or(4) as usize;
        embeddings.push(json!({ "values": vector(&text, dims) }));
    }
    json_response(200, &json!({ "embeddings": embeddings }))
}
