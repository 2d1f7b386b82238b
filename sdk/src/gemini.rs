//! The Gemini API wire format (`generativelanguage.googleapis.com`,
//! `v1beta`): `models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse` bodies from the WIT types, responses and
//! stream events back into them, `:countTokens`, `:batchEmbedContents`, the
//! model list, and the mapping of Google's RPC errors onto [`ProviderError`].
//!
//! How the WIT conversation maps onto `contents`:
//! - system messages become `systemInstruction` (text only);
//! - user turns are role `user`, assistant turns role `model`, with tool
//!   calls as `functionCall` parts; a `role::tool` message is a
//!   `functionResponse` part in a `user` turn; consecutive turns of the same
//!   role are merged;
//! - content parts: text is a `text` part; an image or document with its
//!   bytes (or a `data:` URL) is `inlineData`, one with a URL `fileData`
//!   (its media type guessed from the URL's extension); `detail` and
//!   `title` have no Gemini field and are dropped;
//! - Gemini's function calls have no ids: each gets a stable synthesized id
//!   (`call_` + a hash of its position, name and arguments), and a tool
//!   result is mapped back to its function by the name of the call with that
//!   id in the conversation (or the message's own `name`);
//! - thoughts (`"thought": true` parts) are the message's reasoning, sent
//!   back as thought parts before the turn's content; a `thoughtSignature`
//!   is kept where Gemini put it: on a function call as the tool call's
//!   `signature`, on a thought as its reasoning's, and on any other part as
//!   a reasoning entry without text (sent back on the turn's first text
//!   part);
//! - Gemini 3 models want the `thoughtSignature` of their function calls
//!   back: a first function call of an earlier model turn that has none
//!   (another provider's, say) is sent with Google's documented
//!   `skip_thought_signature_validator` instead;
//! - tool parameter schemas are reduced to the OpenAPI subset that
//!   `functionDeclarations` accepts (local `$ref`s inlined, type lists to
//!   `nullable`, unsupported keywords dropped);
//! - `json-mode` is `responseMimeType: application/json`.

use crate::content::{base64_encode, parse_data_url, part_kind, text_content};
use crate::http::ReadChunk;
use crate::provider::{
    Blob, Capabilities, ChatChunk, ChatRequest, ChatResponse, ChatStream, ContentPart,
    EmbedRequest, EmbedResponse, FinishReason, MediaSource, Message, ProviderError, RateLimit,
    Reasoning, ReasoningDelta, Role, ToolCall, ToolCallDelta, ToolChoice, Usage,
};
use crate::wire::{self, Pulled, SseSource};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::task::Poll;

/// Request fields that `extra` may not override.
const RESERVED_FIELDS: &[&str] = &["contents"];
/// Fields of `extra` merged into ours instead of replacing them.
const DEEP_FIELDS: &[&str] = &["generationConfig", "toolConfig"];

/// The thought signature Google documents for function calls that have no
/// real one.
pub const SKIP_THOUGHT_SIGNATURE: &str = "skip_thought_signature_validator";

/// How deep a parameter schema is followed (and `$ref`s inlined).
const MAX_SCHEMA_DEPTH: usize = 16;

// ---------------------------------------------------------------- requests

/// The path of a model, `models/{id}` (or `tunedModels/{id}`), from the
/// request's model id with or without its `models/` prefix. Characters
/// outside `[A-Za-z0-9._-]` are refused, since the id goes into the URL.
pub fn model_path(model: &str) -> Result<String, ProviderError> {
    let (collection, id) = if let Some(id) = model.strip_prefix("tunedModels/") {
        ("tunedModels", id)
    } else {
        ("models", model.strip_prefix("models/").unwrap_or(model))
    };
    let valid = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if !valid {
        return Err(ProviderError::BadRequest(format!(
            "`{model}` is not a Gemini model id"
        )));
    }
    Ok(format!("{collection}/{id}"))
}

/// True for models that validate the thought signatures of function calls
/// (Gemini 3 and later).
pub fn requires_thought_signatures(model: &str) -> bool {
    let id = model.rsplit('/').next().unwrap_or(model);
    let Some(rest) = id.strip_prefix("gemini-") else {
        return false;
    };
    let major: String = rest.chars().take_while(char::is_ascii_digit).collect();
    major.parse::<u32>().is_ok_and(|m| m >= 3)
}

/// The body of `:generateContent` and `:streamGenerateContent`.
pub fn generate_content_body(request: &ChatRequest) -> Result<Value, ProviderError> {
    let mut body = Map::new();
    let mut system = Vec::new();
    for (index, message) in request.messages.iter().enumerate() {
        if message.role == Role::System {
            let text = text_only(index, message, "a system instruction")?;
            if !text.trim().is_empty() {
                system.push(json!({ "text": text }));
            }
        }
    }
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({ "parts": system }));
    }
    body.insert(
        "contents".into(),
        contents_json(
            &request.messages,
            requires_thought_signatures(&request.model),
        )?
        .into(),
    );

    if !request.tools.is_empty() {
        let mut declarations = Vec::with_capacity(request.tools.len());
        for tool in &request.tools {
            let mut d = Map::new();
            d.insert("name".into(), tool.name.clone().into());
            if !tool.description.is_empty() {
                d.insert("description".into(), tool.description.clone().into());
            }
            let schema = wire::tool_parameters(tool)?;
            let parameters = schema_for_gemini(&schema, &schema, 0);
            // An object without properties is refused: leave it out.
            let has_properties = parameters
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| !p.is_empty());
            if has_properties || parameters.get("type").is_some_and(|t| t != "object") {
                d.insert("parameters".into(), parameters);
            }
            declarations.push(Value::Object(d));
        }
        body.insert(
            "tools".into(),
            json!([{ "functionDeclarations": declarations }]),
        );
    }
    if let Some(choice) = &request.tool_choice {
        let config = match choice {
            ToolChoice::Auto => json!({ "mode": "AUTO" }),
            ToolChoice::None => json!({ "mode": "NONE" }),
            ToolChoice::Required => json!({ "mode": "ANY" }),
            ToolChoice::Named(name) => json!({ "mode": "ANY", "allowedFunctionNames": [name] }),
        };
        if !request.tools.is_empty() || matches!(choice, ToolChoice::Named(_)) {
            body.insert(
                "toolConfig".into(),
                json!({ "functionCallingConfig": config }),
            );
        }
    }

    let mut generation = Map::new();
    if let Some(t) = request.temperature {
        generation.insert("temperature".into(), wire::float_json("temperature", t)?);
    }
    if let Some(p) = request.top_p {
        generation.insert("topP".into(), wire::float_json("top-p", p)?);
    }
    if let Some(max) = request.max_tokens {
        generation.insert("maxOutputTokens".into(), max.into());
    }
    if !request.stop.is_empty() {
        generation.insert("stopSequences".into(), request.stop.clone().into());
    }
    if request.json_mode {
        generation.insert("responseMimeType".into(), "application/json".into());
    }
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    wire::merge_extra(
        &mut body,
        request.extra.as_deref(),
        "gemini",
        RESERVED_FIELDS,
        DEEP_FIELDS,
    )?;
    Ok(Value::Object(body))
}

fn contents_json(messages: &[Message], sign_calls: bool) -> Result<Vec<Value>, ProviderError> {
    let names = wire::tool_names_by_id(messages);
    let mut turns: Vec<(&'static str, Vec<Value>)> = Vec::new();
    for (index, message) in messages.iter().enumerate() {
        let (role, parts) = match message.role {
            Role::System => continue,
            Role::User => ("user", content_parts(index, &message.content)?),
            Role::Assistant => ("model", model_parts(index, message, sign_calls)?),
            Role::Tool => {
                let name = wire::tool_result_name(&names, message).ok_or_else(|| {
                    ProviderError::BadRequest(format!(
                        "message {index}: Gemini matches tool results by function name, and no \
                         earlier tool call has the id {:?}; set the message's `name`",
                        message.tool_call_id.as_deref().unwrap_or("")
                    ))
                })?;
                let text = text_only(index, message, "a function response")?;
                let response = match serde_json::from_str::<Value>(&text) {
                    Ok(object @ Value::Object(_)) => object,
                    Ok(other) => json!({ "output": other }),
                    Err(_) => json!({ "output": text }),
                };
                (
                    "user",
                    vec![json!({ "functionResponse": { "name": name, "response": response } })],
                )
            }
        };
        if parts.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(parts),
            _ => turns.push((role, parts)),
        }
    }
    if turns.is_empty() {
        return Err(ProviderError::BadRequest(
            "the request has no user or assistant message".to_string(),
        ));
    }
    Ok(turns
        .into_iter()
        .map(|(role, parts)| json!({ "role": role, "parts": parts }))
        .collect())
}

/// The text of a message that Gemini takes only as text (`what` it
/// becomes); an image or document in it is unsupported.
fn text_only(index: usize, message: &Message, what: &str) -> Result<String, ProviderError> {
    match message
        .content
        .iter()
        .find(|p| !matches!(p, ContentPart::Text(_)))
    {
        Some(part) => Err(ProviderError::Unsupported(format!(
            "message {index}: Gemini takes only text in {what}, not {} parts; send the {} in a \
             user message",
            part_kind(part),
            part_kind(part)
        ))),
        None => Ok(message.text()),
    }
}

/// A user or model turn's content parts.
fn content_parts(index: usize, content: &[ContentPart]) -> Result<Vec<Value>, ProviderError> {
    let mut parts = Vec::with_capacity(content.len());
    for part in content {
        match part {
            ContentPart::Text(t) if t.is_empty() => {}
            ContentPart::Text(t) => parts.push(json!({ "text": t })),
            ContentPart::Image(image) => {
                parts.push(media_part(index, &image.source, "image/jpeg")?);
            }
            ContentPart::Document(document) => {
                parts.push(media_part(index, &document.source, "application/pdf")?);
            }
        }
    }
    Ok(parts)
}

/// Bytes (also from a `data:` URL) as `inlineData`; a URL as `fileData`,
/// which Gemini fetches (a Files API URI, `gs://`, or http(s)), with its
/// media type from the URL's extension, else `default_type`.
fn media_part(
    index: usize,
    source: &MediaSource,
    default_type: &str,
) -> Result<Value, ProviderError> {
    let inline = |blob: &Blob| {
        json!({
            "inlineData": { "mimeType": blob.media_type, "data": base64_encode(&blob.data) }
        })
    };
    match source {
        MediaSource::Inline(blob) => Ok(inline(blob)),
        MediaSource::Url(url) if url.starts_with("data:") => match parse_data_url(url) {
            Some(blob) => Ok(inline(&blob)),
            None => Err(ProviderError::Unsupported(format!(
                "message {index}: only base64 `data:` URLs can be sent to Gemini"
            ))),
        },
        MediaSource::Url(url) => Ok(json!({
            "fileData": {
                "mimeType": media_type_of_url(url).unwrap_or(default_type),
                "fileUri": url,
            }
        })),
    }
}

/// The media type of a URL's file, from its extension, for the types
/// Gemini reads.
fn media_type_of_url(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let name = path.rsplit('/').next().unwrap_or(path);
    let (_, extension) = name.rsplit_once('.')?;
    Some(match extension.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "heic" => "image/heic",
        "heif" => "image/heif",
        "pdf" => "application/pdf",
        "txt" => "text/plain",
        "md" => "text/md",
        "html" | "htm" => "text/html",
        "csv" => "text/csv",
        "xml" => "text/xml",
        "rtf" => "text/rtf",
        _ => return None,
    })
}

/// A model turn: its thoughts, content and function calls, each with the
/// signature Gemini gave it.
fn model_parts(
    index: usize,
    message: &Message,
    sign_calls: bool,
) -> Result<Vec<Value>, ProviderError> {
    let mut parts = Vec::new();
    // Signatures that Gemini gave on a text part, not on a thought.
    let mut text_signatures = Vec::new();
    // Gemini never redacts reasoning: a redacted entry is another
    // provider's, and means nothing here.
    for reasoning in message.reasoning.iter().filter(|r| !r.redacted) {
        if !reasoning.text.is_empty() {
            let mut part = json!({ "text": reasoning.text, "thought": true });
            if let Some(signature) = &reasoning.signature {
                part["thoughtSignature"] = signature.clone().into();
            }
            parts.push(part);
        } else if let Some(signature) = &reasoning.signature {
            text_signatures.push(signature);
        }
    }
    let thoughts = parts.len();
    parts.extend(content_parts(index, &message.content)?);
    // Gemini checks the signatures of function calls only: one with no text
    // part to go on is dropped.
    if let Some(signature) = text_signatures.first()
        && let Some(part) = parts[thoughts..]
            .iter_mut()
            .find(|p| p.get("text").is_some())
    {
        part["thoughtSignature"] = (*signature).clone().into();
    }
    for (n, call) in message.tool_calls.iter().enumerate() {
        let mut part = json!({
            "functionCall": {
                "name": call.name,
                "args": wire::arguments_object(index, &call.name, &call.arguments)?,
            }
        });
        let signature = call
            .signature
            .as_deref()
            .or((sign_calls && n == 0).then_some(SKIP_THOUGHT_SIGNATURE));
        if let Some(signature) = signature {
            part["thoughtSignature"] = signature.into();
        }
        parts.push(part);
    }
    Ok(parts)
}

/// Keywords `functionDeclarations` schemas accept besides the ones
/// rewritten below.
const SCHEMA_KEYWORDS: &[&str] = &[
    "title",
    "description",
    "nullable",
    "maxItems",
    "minItems",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "default",
    "minimum",
    "maximum",
    "propertyOrdering",
];

/// A JSON Schema reduced to what Gemini's `Schema` accepts. `root` is the
/// whole schema, for resolving local `$ref`s (`#/$defs/..`,
/// `#/definitions/..`).
pub fn schema_for_gemini(schema: &Value, root: &Value, depth: usize) -> Value {
    let Value::Object(s) = schema else {
        return json!({});
    };
    if depth > MAX_SCHEMA_DEPTH {
        return json!({});
    }
    if let Some(reference) = s.get("$ref").and_then(Value::as_str) {
        let target = reference
            .strip_prefix('#')
            .and_then(|pointer| root.pointer(pointer));
        let mut resolved = match target {
            Some(t) => schema_for_gemini(t, root, depth + 1),
            None => json!({}),
        };
        // Siblings of $ref (a description, say) still apply.
        if let Some(description) = s.get("description")
            && let Some(obj) = resolved.as_object_mut()
        {
            obj.insert("description".into(), description.clone());
        }
        return resolved;
    }
    let mut out = Map::new();
    for key in SCHEMA_KEYWORDS {
        if let Some(v) = s.get(*key) {
            out.insert((*key).to_string(), v.clone());
        }
    }
    match s.get("type") {
        Some(Value::String(t)) => {
            out.insert("type".into(), t.clone().into());
        }
        Some(Value::Array(types)) => {
            let non_null: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
            if non_null.len() < types.len() {
                out.insert("nullable".into(), true.into());
            }
            match non_null.as_slice() {
                [one] => {
                    out.insert("type".into(), (*one).clone());
                }
                [] => {}
                many => {
                    let any: Vec<Value> = many.iter().map(|t| json!({ "type": t })).collect();
                    out.insert("anyOf".into(), any.into());
                }
            }
        }
        _ => {}
    }
    let string_values = |v: &Value| {
        v.as_array()
            .filter(|a| a.iter().all(Value::is_string))
            .cloned()
    };
    if let Some(values) = s.get("enum").and_then(string_values) {
        out.insert("enum".into(), values.into());
        out.entry("format").or_insert("enum".into());
        out.entry("type").or_insert("string".into());
    } else if let Some(Value::String(c)) = s.get("const") {
        out.insert("enum".into(), json!([c]));
        out.insert("format".into(), "enum".into());
        out.entry("type").or_insert("string".into());
    }
    if let Some(Value::String(format)) = s.get("format") {
        let supported = matches!(
            format.as_str(),
            "date-time" | "enum" | "int32" | "int64" | "float" | "double"
        );
        if supported {
            out.entry("format").or_insert(format.clone().into());
        }
    }
    if let Some(Value::Object(properties)) = s.get("properties") {
        let mapped: Map<String, Value> = properties
            .iter()
            .map(|(k, v)| (k.clone(), schema_for_gemini(v, root, depth + 1)))
            .collect();
        out.insert("properties".into(), mapped.into());
        out.entry("type").or_insert("object".into());
    }
    match s.get("items") {
        Some(items @ Value::Object(_)) => {
            out.insert("items".into(), schema_for_gemini(items, root, depth + 1));
        }
        Some(Value::Array(tuple)) if !tuple.is_empty() => {
            out.insert(
                "items".into(),
                schema_for_gemini(&tuple[0], root, depth + 1),
            );
        }
        _ => {}
    }
    let alternatives = s
        .get("anyOf")
        .or_else(|| s.get("oneOf"))
        .and_then(Value::as_array);
    if let Some(alternatives) = alternatives {
        let mut mapped = Vec::new();
        for alt in alternatives {
            if alt.get("type").is_some_and(|t| t == "null") {
                out.insert("nullable".into(), true.into());
            } else {
                mapped.push(schema_for_gemini(alt, root, depth + 1));
            }
        }
        match mapped.len() {
            0 => {}
            1 => {
                if let Value::Object(only) = mapped.remove(0) {
                    for (k, v) in only {
                        out.entry(k).or_insert(v);
                    }
                }
            }
            _ => {
                out.insert("anyOf".into(), mapped.into());
            }
        }
    }
    if let Some(Value::Array(all)) = s.get("allOf") {
        for part in all {
            if let Value::Object(p) = schema_for_gemini(part, root, depth + 1) {
                for (k, v) in p {
                    out.entry(k).or_insert(v);
                }
            }
        }
    }
    Value::Object(out)
}

/// The body of `:batchEmbedContents` for `request` against `model_path`
/// (from [`model_path`]).
pub fn batch_embed_body(request: &EmbedRequest, model_path: &str) -> Value {
    let requests: Vec<Value> = request
        .inputs
        .iter()
        .map(|text| {
            let mut r = json!({
                "model": model_path,
                "content": { "parts": [{ "text": text }] },
            });
            if let Some(d) = request.dimensions {
                r["outputDimensionality"] = d.into();
            }
            r
        })
        .collect();
    json!({ "requests": requests })
}

/// The body of `:countTokens`: the whole `generateContent` request, so that
/// the system instruction and the tools are counted too.
pub fn count_tokens_body(request: &ChatRequest) -> Result<Value, ProviderError> {
    let mut generate = generate_content_body(request)?;
    // Required inside `generateContentRequest`.
    generate["model"] = model_path(&request.model)?.into();
    Ok(json!({ "generateContentRequest": generate }))
}

// ---------------------------------------------------------------- responses

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "camelCase")]
struct WireUsage {
    #[serde(default)]
    prompt_token_count: u32,
    #[serde(default)]
    candidates_token_count: u32,
    #[serde(default)]
    thoughts_token_count: u32,
    #[serde(default)]
    tool_use_prompt_token_count: u32,
    #[serde(default)]
    total_token_count: u32,
}

impl From<WireUsage> for Usage {
    /// Thinking tokens are billed as output, so they count as completion.
    fn from(u: WireUsage) -> Usage {
        let prompt = u
            .prompt_token_count
            .saturating_add(u.tool_use_prompt_token_count);
        let completion = u
            .candidates_token_count
            .saturating_add(u.thoughts_token_count);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: if u.total_token_count == 0 {
                prompt.saturating_add(completion)
            } else {
                u.total_token_count
            },
        }
    }
}

#[derive(Deserialize, Default)]
struct WireContent {
    #[serde(default)]
    parts: Vec<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireCandidate {
    #[serde(default)]
    content: Option<WireContent>,
    #[serde(default)]
    finish_reason: Option<String>,
    #[serde(default)]
    index: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireResponse {
    #[serde(default)]
    candidates: Vec<WireCandidate>,
    #[serde(default)]
    usage_metadata: Option<WireUsage>,
    #[serde(default)]
    model_version: Option<String>,
    #[serde(default)]
    response_id: Option<String>,
    #[serde(default)]
    prompt_feedback: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

/// Maps a `finishReason`.
pub fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        // MALFORMED_FUNCTION_CALL, LANGUAGE, OTHER, FINISH_REASON_UNSPECIFIED...
        _ => FinishReason::Other,
    }
}

/// What some parts of a candidate hold: text, function calls and
/// reasoning, in order.
#[derive(Default)]
struct ReadParts {
    text: String,
    calls: Vec<ToolCall>,
    reasoning: Vec<ReasoningDelta>,
}

/// Reads a candidate's parts, in one go or event by event for a stream
/// (the state carries over, so both give the same calls and reasoning).
#[derive(Default)]
struct PartReader {
    /// Function calls read so far; they number the synthesized ids.
    calls: usize,
    /// Reasoning entries started so far.
    reasoning: u32,
    /// The last part was a thought without a signature: a next thought
    /// continues it.
    open: bool,
}

impl PartReader {
    fn read(&mut self, parts: &[Value]) -> ReadParts {
        let mut out = ReadParts::default();
        for part in parts {
            let text = part.get("text").and_then(Value::as_str);
            let signature = part
                .get("thoughtSignature")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            if part.get("thought").and_then(Value::as_bool) == Some(true) {
                let text = text.unwrap_or("");
                if text.is_empty() && signature.is_none() {
                    continue;
                }
                if !self.open {
                    self.reasoning += 1;
                }
                // A signature ends the thought it signs.
                self.open = signature.is_none();
                self.push_reasoning(&mut out, text, signature);
                continue;
            }
            self.open = false;
            if let Some(call) = part.get("functionCall") {
                let name = call["name"].as_str().unwrap_or("").to_string();
                let arguments = match call.get("args") {
                    None | Some(Value::Null) => "{}".to_string(),
                    Some(args) => args.to_string(),
                };
                let id = call
                    .get("id")
                    .and_then(Value::as_str)
                    .filter(|id| !id.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| wire::synthesize_call_id(self.calls, &name, &arguments));
                self.calls += 1;
                out.calls.push(ToolCall {
                    id,
                    name,
                    arguments,
                    signature,
                });
                continue;
            }
            if let Some(t) = text {
                out.text.push_str(t);
            }
            if signature.is_some() {
                // Signed text: the signature is reasoning of its own.
                self.reasoning += 1;
                self.push_reasoning(&mut out, "", signature);
            }
        }
        out
    }

    /// Adds to the current reasoning entry.
    fn push_reasoning(&self, out: &mut ReadParts, text: &str, signature: Option<String>) {
        let index = self.reasoning - 1;
        match out.reasoning.last_mut() {
            Some(last) if last.index == index => {
                last.text.push_str(text);
                last.signature = signature;
            }
            _ => out.reasoning.push(ReasoningDelta {
                index,
                text: text.to_string(),
                signature,
                redacted: false,
            }),
        }
    }
}

fn first_candidate(candidates: Vec<WireCandidate>) -> Option<WireCandidate> {
    let mut candidates = candidates;
    let at = candidates
        .iter()
        .position(|c| c.index.unwrap_or(0) == 0)
        .unwrap_or(0);
    (at < candidates.len()).then(|| candidates.swap_remove(at))
}

fn blocked_prompt(feedback: &Option<Value>) -> bool {
    feedback
        .as_ref()
        .and_then(|f| f.get("blockReason"))
        .is_some_and(|r| !r.is_null())
}

/// Parses a `:generateContent` response. A prompt blocked by the safety
/// filters is an empty answer with finish reason content-filter.
pub fn parse_generate_response(
    body: &[u8],
    requested_model: &str,
) -> Result<ChatResponse, ProviderError> {
    let value: Value = serde_json::from_slice(body).map_err(wire::invalid_upstream)?;
    let wire: WireResponse = serde_json::from_value(value).map_err(wire::invalid_upstream)?;
    if let Some(error) = wire.error.as_ref().filter(|e| !e.is_null()) {
        return Err(error_from_object(error, &[], None));
    }
    let blocked = blocked_prompt(&wire.prompt_feedback);
    let candidate = first_candidate(wire.candidates);
    if candidate.is_none() && !blocked {
        return Err(wire::invalid_upstream("no candidates"));
    }
    let read = candidate
        .as_ref()
        .and_then(|c| c.content.as_ref())
        .map(|c| PartReader::default().read(&c.parts))
        .unwrap_or_default();
    let finish = match candidate.as_ref().and_then(|c| c.finish_reason.as_deref()) {
        _ if blocked => FinishReason::ContentFilter,
        // Gemini says STOP when it calls functions.
        Some("STOP") | None if !read.calls.is_empty() => FinishReason::ToolCalls,
        Some(reason) => finish_reason(reason),
        None => FinishReason::Stop,
    };
    Ok(ChatResponse {
        id: wire.response_id.unwrap_or_default(),
        model: wire
            .model_version
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| requested_model.to_string()),
        message: Message {
            role: Role::Assistant,
            content: text_content(read.text),
            tool_calls: read.calls,
            tool_call_id: None,
            name: None,
            // One read: one delta per entry.
            reasoning: read
                .reasoning
                .into_iter()
                .map(|r| Reasoning {
                    text: r.text,
                    signature: r.signature,
                    redacted: r.redacted,
                })
                .collect(),
        },
        finish_reason: finish,
        // Gemini does not say which stop sequence ended an answer.
        stop_sequence: None,
        usage: wire.usage_metadata.map(Usage::from),
    })
}

/// Parses a `:countTokens` response (`{"totalTokens": N}`).
pub fn parse_count_tokens_response(body: &[u8]) -> Result<u32, ProviderError> {
    let value: Value = serde_json::from_slice(body).map_err(wire::invalid_upstream)?;
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        return Err(error_from_object(error, &[], None));
    }
    value
        .get("totalTokens")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| wire::invalid_upstream("no `totalTokens` count"))
}

/// Parses a `:batchEmbedContents` response for `expected` inputs.
pub fn parse_batch_embed_response(
    body: &[u8],
    requested_model: &str,
    expected: usize,
) -> Result<EmbedResponse, ProviderError> {
    #[derive(Deserialize)]
    struct Embedding {
        values: Vec<f32>,
    }
    #[derive(Deserialize)]
    struct Wire {
        embeddings: Vec<Embedding>,
    }
    let wire: Wire = serde_json::from_slice(body).map_err(wire::invalid_upstream)?;
    if wire.embeddings.len() != expected {
        return Err(wire::invalid_upstream(format!(
            "{} embeddings for {expected} inputs",
            wire.embeddings.len()
        )));
    }
    Ok(EmbedResponse {
        model: requested_model.to_string(),
        embeddings: wire.embeddings.into_iter().map(|e| e.values).collect(),
        // The API reports no token counts for embeddings.
        usage: None,
    })
}

/// One model of `GET /v1beta/models`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelEntry {
    /// The id without `models/`.
    pub id: String,
    pub display_name: Option<String>,
    pub input_token_limit: Option<u32>,
    pub output_token_limit: Option<u32>,
    pub methods: Vec<String>,
}

impl ModelEntry {
    /// Capabilities from `supportedGenerationMethods`: `generateContent`
    /// is chat with streaming (and, for Gemini models, tools, JSON mode and
    /// images); `embedContent` is embeddings.
    pub fn capabilities(&self) -> Capabilities {
        let has = |m: &str| self.methods.iter().any(|x| x == m);
        let mut c = Capabilities::empty();
        if has("generateContent") {
            c |= Capabilities::CHAT | Capabilities::STREAMING;
            if self.id.starts_with("gemini-") && !self.id.contains("-tts") {
                c |= Capabilities::TOOLS | Capabilities::JSON_MODE | Capabilities::VISION;
            }
        }
        if has("embedContent") || has("batchEmbedContents") {
            c |= Capabilities::EMBEDDINGS;
        }
        c
    }
}

/// One page of `GET /v1beta/models`: the models and the next page's token.
pub fn parse_model_list(body: &[u8]) -> Result<(Vec<ModelEntry>, Option<String>), ProviderError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Item {
        name: String,
        #[serde(default)]
        display_name: Option<String>,
        #[serde(default)]
        input_token_limit: Option<u32>,
        #[serde(default)]
        output_token_limit: Option<u32>,
        #[serde(default)]
        supported_generation_methods: Vec<String>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Page {
        #[serde(default)]
        models: Vec<Item>,
        #[serde(default)]
        next_page_token: Option<String>,
    }
    let value: Value = serde_json::from_slice(body).map_err(wire::invalid_upstream)?;
    if value.get("models").is_none() && value.as_object().is_none_or(|o| !o.is_empty()) {
        return Err(wire::invalid_upstream("model list without `models`"));
    }
    let page: Page = serde_json::from_value(value).map_err(wire::invalid_upstream)?;
    Ok((
        page.models
            .into_iter()
            .map(|m| ModelEntry {
                id: m
                    .name
                    .strip_prefix("models/")
                    .unwrap_or(&m.name)
                    .to_string(),
                display_name: m.display_name,
                input_token_limit: m.input_token_limit,
                output_token_limit: m.output_token_limit,
                methods: m.supported_generation_methods,
            })
            .collect(),
        page.next_page_token.filter(|t| !t.is_empty()),
    ))
}

// ---------------------------------------------------------------- errors

/// `retryDelay` of a `google.rpc.RetryInfo` detail (`"34s"`, `"1.5s"`).
pub fn retry_delay_ms(error: &Value) -> Option<u64> {
    error
        .get("details")?
        .as_array()?
        .iter()
        .filter(|d| {
            d.get("@type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("google.rpc.RetryInfo"))
        })
        .find_map(|d| d.get("retryDelay").and_then(Value::as_str))
        .and_then(|delay| delay.trim().strip_suffix('s'))
        .and_then(|secs| secs.parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| (s * 1000.0).round() as u64)
}

/// The `reason` of a `google.rpc.ErrorInfo` detail.
fn error_reason(error: &Value) -> Option<&str> {
    error
        .get("details")?
        .as_array()?
        .iter()
        .find_map(|d| d.get("reason").and_then(Value::as_str))
}

/// Maps a Google RPC error object (`{"code","message","status","details"}`)
/// with the HTTP status it came with, if any.
fn error_from_object(
    error: &Value,
    headers: &[(String, Vec<u8>)],
    http_status: Option<u16>,
) -> ProviderError {
    let detail = error
        .get("message")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| error.to_string());
    let status = error.get("status").and_then(Value::as_str).unwrap_or("");
    let code = http_status.or_else(|| {
        error
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
    });
    let message = match http_status {
        Some(s) => wire::status_message(s, &detail),
        None => format!("upstream error: {detail}"),
    };
    let reason = error_reason(error).unwrap_or("");
    if code == Some(429) || status == "RESOURCE_EXHAUSTED" {
        return ProviderError::RateLimited(RateLimit {
            retry_after_ms: retry_delay_ms(error)
                .or_else(|| crate::upstream::retry_after_ms(headers)),
            message,
        });
    }
    if reason == "API_KEY_INVALID"
        || detail.contains("API key not valid")
        || matches!(
            status,
            "UNAUTHENTICATED" | "PERMISSION_DENIED" | "FAILED_PRECONDITION"
        )
        || matches!(code, Some(401 | 403))
    {
        return ProviderError::Auth(message);
    }
    if status == "NOT_FOUND" || code == Some(404) {
        return ProviderError::NotFound(message);
    }
    if status == "DEADLINE_EXCEEDED" || matches!(code, Some(408 | 504)) {
        return ProviderError::Timeout(message);
    }
    if status == "INVALID_ARGUMENT" || status == "OUT_OF_RANGE" || code == Some(400) {
        return if wire::mentions_context_overflow(&detail) {
            ProviderError::ContextTooLong(message)
        } else {
            ProviderError::BadRequest(message)
        };
    }
    match code {
        Some(c) if (400..500).contains(&c) => ProviderError::BadRequest(message),
        _ => ProviderError::UpstreamUnavailable(message),
    }
}

/// Maps a non-2xx response: 429 `RESOURCE_EXHAUSTED` rate-limited (delay
/// from the `RetryInfo` detail, else `retry-after`), 400
/// `INVALID_ARGUMENT` context-too-long when it is about the token limit,
/// else bad-request (but an invalid API key, which Google answers with 400
/// too, is auth), 401/403 auth, 404 not-found, 504 timeout, 5xx
/// upstream-unavailable.
pub fn error_from_response(
    status: u16,
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> ProviderError {
    let value = serde_json::from_slice::<Value>(body).ok();
    // `{"error":{...}}`, or (from some streaming endpoints) `[{"error":{...}}]`.
    let error = value.as_ref().and_then(|v| match v {
        Value::Array(items) => items.first().and_then(|i| i.get("error")),
        other => other.get("error"),
    });
    match error {
        Some(error) if error.is_object() => error_from_object(error, headers, Some(status)),
        _ => {
            let detail = match &value {
                Some(Value::Object(o)) => o
                    .get("error")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| wire::quote_body(body)),
                _ => wire::quote_body(body),
            };
            error_from_object(&json!({ "message": detail }), headers, Some(status))
        }
    }
}

// ---------------------------------------------------------------- streaming

/// A streamed `:streamGenerateContent?alt=sse` answer: one chunk per SSE
/// event (each a partial `GenerateContentResponse`): text parts become
/// `content`, thoughts reasoning deltas (a thought continues the previous
/// event's until one is signed), each function call one complete tool-call
/// delta with its signature (Gemini does not split them), and the event
/// with the `finishReason` the chunk with the finish reason and the usage.
///
/// Gemini sends no end marker: the stream ends with the body. A body that
/// ends before a finish reason arrived is an upstream-unavailable error
/// (the answer was cut).
pub struct SseGenerateStream<R: ReadChunk> {
    source: SseSource<R>,
    model: String,
    id: Option<String>,
    parts: PartReader,
    finished: bool,
    done: bool,
}

impl<R: ReadChunk> SseGenerateStream<R> {
    /// A stream over `source` (a 2xx response body) for a request to
    /// `requested_model`.
    pub fn new(source: R, requested_model: impl Into<String>) -> Self {
        SseGenerateStream {
            source: SseSource::new(source),
            model: requested_model.into(),
            id: None,
            parts: PartReader::default(),
            finished: false,
            done: false,
        }
    }

    fn fail(&mut self, error: ProviderError) -> Option<Result<ChatChunk, ProviderError>> {
        self.done = true;
        Some(Err(error))
    }

    fn on_data(&mut self, data: &str) -> Result<Option<ChatChunk>, ProviderError> {
        let value: Value = serde_json::from_str(data).map_err(wire::invalid_upstream)?;
        let wire: WireResponse = serde_json::from_value(value).map_err(wire::invalid_upstream)?;
        if let Some(error) = wire.error.as_ref().filter(|e| !e.is_null()) {
            return Err(error_from_object(error, &[], None));
        }
        // Every event repeats the response id; keep the first.
        let id = self
            .id
            .get_or_insert_with(|| wire.response_id.clone().unwrap_or_default())
            .clone();
        if let Some(model) = wire.model_version.filter(|m| !m.is_empty()) {
            self.model = model;
        }
        let mut chunk = ChatChunk {
            id,
            model: self.model.clone(),
            content: None,
            tool_calls: Vec::new(),
            reasoning: Vec::new(),
            finish_reason: None,
            stop_sequence: None,
            usage: None,
        };
        let blocked = blocked_prompt(&wire.prompt_feedback);
        let candidate = first_candidate(wire.candidates);
        if let Some(content) = candidate.as_ref().and_then(|c| c.content.as_ref()) {
            let first_call = self.parts.calls;
            let read = self.parts.read(&content.parts);
            chunk.content = Some(read.text).filter(|t| !t.is_empty());
            chunk.reasoning = read.reasoning;
            chunk.tool_calls = read
                .calls
                .into_iter()
                .enumerate()
                .map(|(i, call)| ToolCallDelta {
                    index: (first_call + i) as u32,
                    id: Some(call.id),
                    name: Some(call.name),
                    arguments: call.arguments,
                    signature: call.signature,
                })
                .collect();
        }
        let reason = candidate.as_ref().and_then(|c| c.finish_reason.as_deref());
        if blocked || reason.is_some() {
            chunk.finish_reason = Some(match reason {
                _ if blocked => FinishReason::ContentFilter,
                Some("STOP") if self.parts.calls > 0 => FinishReason::ToolCalls,
                Some(r) => finish_reason(r),
                None => FinishReason::Other,
            });
            chunk.usage = wire.usage_metadata.map(Usage::from);
            self.finished = true;
        }
        let empty = chunk.content.is_none()
            && chunk.tool_calls.is_empty()
            && chunk.reasoning.is_empty()
            && chunk.finish_reason.is_none();
        Ok((!empty).then_some(chunk))
    }
}

impl<R: ReadChunk> SseGenerateStream<R> {
    /// The next chunk; with `wait`, reading the body as needed, else
    /// `Pending` when the next chunk needs a read.
    fn produce(&mut self, wait: bool) -> Poll<Option<Result<ChatChunk, ProviderError>>> {
        while !self.done {
            match self.source.pull(wait) {
                Pulled::Item(event) => {
                    let data = event.data.trim();
                    if data.is_empty() || data == "[DONE]" {
                        continue;
                    }
                    match self.on_data(data) {
                        Ok(Some(chunk)) => return Poll::Ready(Some(Ok(chunk))),
                        Ok(None) => {}
                        Err(e) => return Poll::Ready(self.fail(e)),
                    }
                }
                Pulled::End { partial } => {
                    if self.finished && !partial {
                        self.done = true;
                    } else {
                        return Poll::Ready(self.fail(wire::cut_stream("finishReason")));
                    }
                }
                Pulled::Failed(e) if self.finished => {
                    crate::log::warn(&format!(
                        "stream ended with an error after finishing: {e:?}"
                    ));
                    self.done = true;
                }
                Pulled::Failed(e) => return Poll::Ready(self.fail(e)),
                Pulled::Wait => return Poll::Pending,
            }
        }
        Poll::Ready(None)
    }
}

impl<R: ReadChunk + 'static> ChatStream for SseGenerateStream<R> {
    fn next(&mut self) -> Option<Result<ChatChunk, ProviderError>> {
        wire::waited(self.produce(true))
    }

    fn try_next(&mut self) -> Poll<Option<Result<ChatChunk, ProviderError>>> {
        self.produce(false)
    }
}

#[cfg(test)]
mod tests;
