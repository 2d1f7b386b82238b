//! Small pieces shared by both wire formats: reading fields out of a JSON
//! request with errors that name the field, number formatting, base64, SSE
//! framing.

use crate::error::ApiError;
use hanzo_node_sdk::llm::{ChatChunk, FinishReason, Usage};
use serde_json::{Map, Value};

/// What the end of a stream reports: the finish reason and usage, from
/// whichever chunks carried them (the last one that did).
#[derive(Debug, Default, Clone)]
pub struct Ending {
    pub finish: Option<FinishReason>,
    /// The stop sequence that ended the answer, when the upstream named it.
    pub stop_sequence: Option<String>,
    pub usage: Option<Usage>,
}

impl Ending {
    pub fn note(&mut self, chunk: &ChatChunk) {
        if chunk.finish_reason.is_some() {
            self.finish = chunk.finish_reason;
        }
        if chunk.stop_sequence.is_some() {
            self.stop_sequence.clone_from(&chunk.stop_sequence);
        }
        if chunk.usage.is_some() {
            self.usage = chunk.usage;
        }
    }
}

/// The request body as a JSON object.
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::invalid_body(format!(
            "We could not parse the JSON body of your request: {e}"
        ))
        .with_code("invalid_json")
    })?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::invalid_body(
            "The request body must be a JSON object.",
        )),
    }
}

/// A field that is absent or `null`.
pub fn absent(value: Option<&Value>) -> bool {
    matches!(value, None | Some(Value::Null))
}

/// A required non-empty string.
pub fn required_string(
    obj: &Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<String, ApiError> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(Value::String(_)) => Err(ApiError::invalid(
            path,
            format!("`{path}` must not be empty."),
        )),
        None | Some(Value::Null) => Err(ApiError::invalid(
            path,
            format!("Missing required parameter: `{path}`."),
        )),
        Some(other) => Err(ApiError::invalid(
            path,
            format!("`{path}` must be a string, not {}.", type_name(other)),
        )),
    }
}

/// An optional string.
pub fn optional_string(
    obj: &Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<Option<String>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::invalid(
            path,
            format!("`{path}` must be a string, not {}.", type_name(other)),
        )),
    }
}

/// An optional boolean.
pub fn optional_bool(
    obj: &Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<Option<bool>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::invalid(
            path,
            format!("`{path}` must be a boolean, not {}.", type_name(other)),
        )),
    }
}

/// An optional finite number, as the `f32` of the WIT types.
pub fn optional_f32(
    obj: &Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<Option<f32>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_f64().and_then(finite_f32) {
            Some(f) => Ok(Some(f)),
            None => Err(ApiError::invalid(
                path,
                format!("`{path}` is out of range."),
            )),
        },
        Some(other) => Err(ApiError::invalid(
            path,
            format!("`{path}` must be a number, not {}.", type_name(other)),
        )),
    }
}

/// A JSON number as the WIT `f32`, when it is finite as one.
pub fn finite_f32(f: f64) -> Option<f32> {
    (f.is_finite() && (f as f32).is_finite()).then_some(f as f32)
}

/// An optional non-negative integer that fits a `u32`.
pub fn optional_u32(
    obj: &Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<Option<u32>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let as_int = n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            });
            match as_int {
                Some(v) => u32::try_from(v)
                    .map(Some)
                    .map_err(|_| ApiError::invalid(path, format!("`{path}` is too large."))),
                None => Err(ApiError::invalid(
                    path,
                    format!("`{path}` must be a non-negative integer."),
                )),
            }
        }
        Some(other) => Err(ApiError::invalid(
            path,
            format!("`{path}` must be an integer, not {}.", type_name(other)),
        )),
    }
}

/// How a JSON value's type is named in messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An `f32` as the JSON number a person would write (`0.1`, not the
/// `0.10000000149011612` a widening to `f64` gives). Non-finite values,
/// which JSON cannot carry, become 0.
pub fn f32_json(value: f32) -> Value {
    if !value.is_finite() {
        return Value::from(0);
    }
    let shortest: f64 = value.to_string().parse().unwrap_or(value as f64);
    Value::from(shortest)
}

/// Standard base64 (with padding) of `bytes`.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for group in bytes.chunks(3) {
        let b = [
            group[0],
            *group.get(1).unwrap_or(&0),
            *group.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= group.len() {
                out.push(ALPHABET[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// One server-sent event: `event: name` (when given) and one `data:` line.
/// `data` is compact JSON, so it never holds a line break.
pub fn sse_event(event: Option<&str>, data: &str) -> String {
    match event {
        Some(name) => format!("event: {name}\ndata: {data}\n\n"),
        None => format!("data: {data}\n\n"),
    }
}

/// Characters of the ids the plugin makes up (`chatcmpl-…`, `msg_…`, `call_…`).
const ID_ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A 24-character base62 id body from random bits.
pub fn id_from_random(mut words: [u64; 3]) -> String {
    let mut out = String::with_capacity(24);
    for word in &mut words {
        for _ in 0..8 {
            out.push(ID_ALPHABET[(*word % 62) as usize] as char);
            *word /= 62;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (input, expected) in cases {
            assert_eq!(base64(input.as_bytes()), expected, "{input}");
        }
        // Floats as the OpenAI SDK decodes them: little-endian f32.
        let bytes: Vec<u8> = [1.0f32, -2.5]
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        assert_eq!(base64(&bytes), "AACAPwAAIMA=");
    }

    #[test]
    fn floats_print_short() {
        assert_eq!(f32_json(0.1).to_string(), "0.1");
        assert_eq!(f32_json(0.7).to_string(), "0.7");
        assert_eq!(f32_json(f32::NAN), json!(0));
    }

    #[test]
    fn field_readers_name_the_field() {
        let obj = parse_object(br#"{"a": "x", "n": 3.0, "neg": -1, "f": "no", "b": 1}"#).unwrap();
        assert_eq!(required_string(&obj, "a", "a").unwrap(), "x");
        let e = required_string(&obj, "missing", "model").unwrap_err();
        assert_eq!((e.status, e.param.as_deref()), (400, Some("model")));
        assert_eq!(optional_u32(&obj, "n", "n").unwrap(), Some(3));
        assert!(optional_u32(&obj, "neg", "neg").is_err());
        assert!(
            optional_f32(&obj, "f", "f")
                .unwrap_err()
                .message
                .contains("number")
        );
        assert!(optional_bool(&obj, "b", "b").is_err());
        assert!(parse_object(b"[1]").is_err());
        assert_eq!(
            parse_object(b"{oops").unwrap_err().code,
            Some("invalid_json")
        );
    }

    #[test]
    fn ids_are_base62() {
        let id = id_from_random([0, u64::MAX, 12345]);
        assert_eq!(id.len(), 24);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
    }
}
