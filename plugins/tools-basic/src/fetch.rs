//! The `http_fetch` tool: one outbound HTTP request through the host.
//!
//! Which hosts are reachable is the operator's decision, made in the
//! plugin's `permissions.http`; the host enforces it and a refusal comes back
//! as a failed call saying so.

use hanzo_node_sdk::http::{self, HttpError, Method, Request};
use hanzo_node_sdk::log;
use hanzo_node_sdk::tool::ToolError;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Default cap on the returned body.
pub const DEFAULT_MAX_BYTES: u64 = 1024 * 1024;
/// Largest cap a caller may ask for.
pub const MAX_MAX_BYTES: u64 = 8 * 1024 * 1024;

/// The tool's arguments.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Args {
    pub url: String,
    #[serde(default)]
    pub method: FetchMethod,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    pub body: Option<String>,
    pub max_bytes: Option<u64>,
}

/// The methods the tool allows; anything that changes remote state beyond a
/// POST is deliberately left out.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum FetchMethod {
    #[default]
    #[serde(rename = "GET")]
    Get,
    #[serde(rename = "HEAD")]
    Head,
    #[serde(rename = "POST")]
    Post,
}

/// JSON Schema of the arguments.
pub fn parameters_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "url": {
                "type": "string",
                "description": "Absolute http:// or https:// URL",
            },
            "method": { "type": "string", "enum": ["GET", "HEAD", "POST"], "default": "GET" },
            "headers": {
                "type": "object",
                "additionalProperties": { "type": "string" },
                "description": "Request headers",
            },
            "body": { "type": "string", "description": "Request body (POST)" },
            "max_bytes": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_MAX_BYTES,
                "default": DEFAULT_MAX_BYTES,
                "description": "Longest body returned; longer bodies are truncated",
            },
        },
        "required": ["url"],
        "additionalProperties": false,
    })
}

/// JSON Schema of the result.
pub fn result_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "status": { "type": "integer" },
            "headers": { "type": "object", "additionalProperties": { "type": "string" } },
            "body": { "type": "string" },
            "truncated": { "type": "boolean" },
        },
        "required": ["status", "headers", "body", "truncated"],
    })
}

impl Args {
    /// Checks what the schema cannot express and builds the request.
    pub fn into_request(self) -> Result<(Request, usize), ToolError> {
        let max_bytes = self.max_bytes.unwrap_or(DEFAULT_MAX_BYTES);
        if max_bytes > MAX_MAX_BYTES {
            return Err(ToolError::InvalidArguments(format!(
                "max_bytes must be at most {MAX_MAX_BYTES}"
            )));
        }
        let method = match self.method {
            FetchMethod::Get => Method::Get,
            FetchMethod::Head => Method::Head,
            FetchMethod::Post => Method::Post,
        };
        if self.body.is_some() && self.method != FetchMethod::Post {
            return Err(ToolError::InvalidArguments(
                "body is only allowed with method POST".to_string(),
            ));
        }
        let mut request = Request::new(method, self.url)
            // Leave room inside the plugin's 30 s call limit to report a
            // timeout instead of being killed by it.
            .connect_timeout(Duration::from_secs(10))
            .first_byte_timeout(Duration::from_secs(20))
            .between_bytes_timeout(Duration::from_secs(20));
        for (name, value) in self.headers {
            request = request.header(name, value);
        }
        if let Some(body) = self.body {
            request = request.body(body.into_bytes());
        }
        Ok((request, max_bytes as usize))
    }
}

/// Runs the tool.
pub fn fetch(args: Args) -> Result<Value, ToolError> {
    let url = args.url.clone();
    let is_head = args.method == FetchMethod::Head;
    let (request, max_bytes) = args.into_request()?;
    let method = http::method_name(request.method()).to_string();
    let shown = redacted(&url);
    let failed = |e: HttpError| {
        log::warn!("http_fetch {method} {shown}: {e}");
        ToolError::Failed(format!("fetching {url} failed: {e}"))
    };
    let mut response = request.send().map_err(failed)?;
    let status = response.status();
    log::info!("http_fetch {method} {shown}: HTTP {status}");
    let headers = headers_json(response.headers());
    let (body, truncated) = if is_head {
        (Vec::new(), false)
    } else {
        response.body_mut().read_up_to(max_bytes).map_err(failed)?
    };
    Ok(json!({
        "status": status,
        "headers": headers,
        "body": body_text(body, truncated),
        "truncated": truncated,
    }))
}

/// The URL without its query and fragment, for logs: query strings often
/// carry credentials.
fn redacted(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Headers as an object; repeated fields are joined with `, ` as HTTP allows.
pub fn headers_json(headers: &[(String, Vec<u8>)]) -> Value {
    let mut out = Map::new();
    for (name, value) in headers {
        let name = name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(value);
        match out.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push_str(", ");
                existing.push_str(&value);
            }
            _ => {
                out.insert(name, Value::String(value.into_owned()));
            }
        }
    }
    Value::Object(out)
}

/// The body as text. A truncated body may end inside a UTF-8 sequence; that
/// partial character is dropped rather than shown as a replacement mark.
pub fn body_text(mut body: Vec<u8>, truncated: bool) -> String {
    if truncated
        && let Err(e) = std::str::from_utf8(&body)
        && e.error_len().is_none()
    {
        body.truncate(e.valid_up_to());
    }
    match String::from_utf8(body) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanzo_node_sdk::tool::parse_args;

    #[test]
    fn parses_arguments() {
        let args: Args = parse_args(r#"{"url":"https://example.com"}"#).unwrap();
        assert_eq!(args.method, FetchMethod::Get);
        let (request, max) = args.into_request().unwrap();
        assert_eq!(max, DEFAULT_MAX_BYTES as usize);
        assert_eq!(request.url(), "https://example.com");

        let args: Args = parse_args(
            r#"{"url":"http://127.0.0.1:9/x","method":"POST","headers":{"a":"b"},"body":"hi","max_bytes":10}"#,
        )
        .unwrap();
        let (request, max) = args.into_request().unwrap();
        assert_eq!(max, 10);
        assert!(matches!(request.method(), Method::Post));
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse_args::<Args>(r#"{"url":"x","method":"DELETE"}"#).is_err());
        assert!(parse_args::<Args>(r#"{"url":"x","extra":1}"#).is_err());
        assert!(parse_args::<Args>(r#"{}"#).is_err());
        let too_big: Args = parse_args(r#"{"url":"x","max_bytes":9000000}"#).unwrap();
        assert!(matches!(
            too_big.into_request(),
            Err(ToolError::InvalidArguments(_))
        ));
        let body_on_get: Args = parse_args(r#"{"url":"x","body":"b"}"#).unwrap();
        assert!(matches!(
            body_on_get.into_request(),
            Err(ToolError::InvalidArguments(_))
        ));
    }

    #[test]
    fn logs_urls_without_queries() {
        assert_eq!(redacted("https://h/p?key=secret#x"), "https://h/p");
        assert_eq!(redacted("https://h/p"), "https://h/p");
    }

    #[test]
    fn joins_repeated_headers() {
        let headers = vec![
            ("Set-Cookie".to_string(), b"a=1".to_vec()),
            ("content-type".to_string(), b"text/html".to_vec()),
            ("set-cookie".to_string(), b"b=2".to_vec()),
        ];
        assert_eq!(
            headers_json(&headers),
            json!({"set-cookie": "a=1, b=2", "content-type": "text/html"})
        );
    }

    #[test]
    fn truncated_utf8_is_trimmed() {
        let mut bytes = "héllo".as_bytes().to_vec();
        bytes.truncate(2); // "h" plus the first byte of "é"
        assert_eq!(body_text(bytes.clone(), true), "h");
        assert_eq!(body_text(bytes, false), "h\u{fffd}");
    }

    #[test]
    fn without_a_host_the_call_fails_cleanly() {
        let args: Args = parse_args(r#"{"url":"https://example.com"}"#).unwrap();
        match fetch(args) {
            Err(ToolError::Failed(m)) => {
                assert!(m.starts_with("fetching https://example.com failed"))
            }
            other => panic!("{other:?}"),
        }
    }
}
