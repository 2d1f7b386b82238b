//! Errors as the endpoints answer them: one [`ApiError`] with an HTTP status
//! and a [`Kind`], rendered in each API's own format by [`crate::openai`] and
//! [`crate::anthropic`].

use hanzo_node_sdk::llm::{LlmError, ProviderError, RateLimit};

/// What went wrong, independent of the wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The client's request is malformed or asks for something unsupported (400).
    InvalidRequest,
    /// The prompt does not fit the model's context window (400).
    ContextTooLong,
    /// No such model or endpoint (404).
    NotFound,
    /// Wrong method for the endpoint (405).
    MethodNotAllowed,
    /// The operator has not granted this plugin what the request needs (403).
    Forbidden,
    /// The tenant's spend budget is used up (402).
    OverBudget,
    /// The request body is too large (413).
    TooLarge,
    /// A rate limit is exhausted (429).
    RateLimited,
    /// The node failed (500).
    Internal,
    /// The upstream failed, or refused the node's own credentials (502).
    BadGateway,
    /// No upstream is available right now (503).
    Unavailable,
    /// The upstream did not answer in time (504).
    Timeout,
}

/// An error answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub kind: Kind,
    pub message: String,
    /// The request field at fault, when there is one (OpenAI's `param`).
    pub param: Option<String>,
    /// A stable machine-readable code (OpenAI's `code`).
    pub code: Option<&'static str>,
    /// For 429: how long the client should wait.
    pub retry_after_ms: Option<u64>,
    /// For 405: the allowed methods.
    pub allow: Option<&'static str>,
}

impl ApiError {
    pub fn new(status: u16, kind: Kind, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
            retry_after_ms: None,
            allow: None,
        }
    }

    /// A 400 about request field `param`.
    pub fn invalid(param: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            param: Some(param.into()),
            ..ApiError::new(400, Kind::InvalidRequest, message)
        }
    }

    /// A 400 about the request as a whole.
    pub fn invalid_body(message: impl Into<String>) -> ApiError {
        ApiError::new(400, Kind::InvalidRequest, message)
    }

    pub fn with_code(mut self, code: &'static str) -> ApiError {
        self.code = Some(code);
        self
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(404, Kind::NotFound, message)
    }

    pub fn method_not_allowed(method: &str, allow: &'static str) -> ApiError {
        ApiError {
            allow: Some(allow),
            ..ApiError::new(
                405,
                Kind::MethodNotAllowed,
                format!("{method} is not allowed here; use {allow}"),
            )
        }
    }

    /// The router's error as the client should see it.
    ///
    /// The client's credentials are the node's business, not the upstream's:
    /// an upstream that refuses the node's key is a misconfigured deployment,
    /// answered 502, never 401 (which would tell the client its own key is wrong).
    pub fn from_llm(error: &LlmError) -> ApiError {
        match error {
            LlmError::Denied(m) => {
                ApiError::new(403, Kind::Forbidden, m.clone()).with_code("forbidden")
            }
            LlmError::OverBudget(m) => {
                ApiError::new(402, Kind::OverBudget, m.clone()).with_code("budget_exhausted")
            }
            LlmError::UnknownModel(m) => ApiError {
                param: Some("model".into()),
                ..ApiError::new(404, Kind::NotFound, m.clone())
            }
            .with_code("model_not_found"),
            LlmError::Unsupported(m) => {
                ApiError::new(400, Kind::InvalidRequest, m.clone()).with_code("unsupported_request")
            }
            LlmError::RateLimited(limit) => rate_limited(limit),
            LlmError::Provider(e) => ApiError::from_provider(e),
        }
    }

    fn from_provider(error: &ProviderError) -> ApiError {
        match error {
            ProviderError::RateLimited(limit) => rate_limited(limit),
            ProviderError::ContextTooLong(m) => ApiError {
                param: Some("messages".into()),
                ..ApiError::new(400, Kind::ContextTooLong, m.clone())
            }
            .with_code("context_length_exceeded"),
            ProviderError::Auth(m) => ApiError::new(
                502,
                Kind::BadGateway,
                format!(
                    "the upstream provider refused the node's credentials; the deployment is \
                     misconfigured (this is not about your API key): {m}"
                ),
            )
            .with_code("upstream_auth_failed"),
            ProviderError::BadRequest(m) => ApiError::new(400, Kind::InvalidRequest, m.clone()),
            ProviderError::NotFound(m) => {
                ApiError::new(404, Kind::NotFound, m.clone()).with_code("model_not_found")
            }
            ProviderError::UpstreamUnavailable(m) => {
                ApiError::new(503, Kind::Unavailable, m.clone()).with_code("upstream_unavailable")
            }
            ProviderError::Timeout(m) => {
                ApiError::new(504, Kind::Timeout, m.clone()).with_code("upstream_timeout")
            }
            ProviderError::Internal(m) => {
                ApiError::new(502, Kind::BadGateway, m.clone()).with_code("provider_error")
            }
            // The client sent what no deployment's upstream takes.
            ProviderError::Unsupported(m) => {
                ApiError::new(400, Kind::InvalidRequest, m.clone()).with_code("unsupported_content")
            }
        }
    }

    /// Headers that go with the error: `retry-after` (whole seconds, at
    /// least 1) and `retry-after-ms` on a 429, `allow` on a 405.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if self.status == 429 {
            let ms = self.retry_after_ms.unwrap_or(1000);
            out.push(("retry-after".into(), ms.div_ceil(1000).max(1).to_string()));
            out.push(("retry-after-ms".into(), ms.to_string()));
        }
        if let Some(allow) = self.allow {
            out.push(("allow".into(), allow.into()));
        }
        out
    }
}

fn rate_limited(limit: &RateLimit) -> ApiError {
    ApiError {
        retry_after_ms: limit.retry_after_ms,
        ..ApiError::new(429, Kind::RateLimited, limit.message.clone())
    }
    .with_code("rate_limit_exceeded")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(e: ProviderError) -> ApiError {
        ApiError::from_llm(&LlmError::Provider(e))
    }

    #[test]
    fn statuses_of_router_errors() {
        let e = ApiError::from_llm(&LlmError::UnknownModel("no model `x`".into()));
        assert_eq!(
            (e.status, e.kind, e.code),
            (404, Kind::NotFound, Some("model_not_found"))
        );
        assert_eq!(e.param.as_deref(), Some("model"));
        assert_eq!(
            ApiError::from_llm(&LlmError::Unsupported("no tools".into())).status,
            400
        );
        let cases = [
            (
                ProviderError::ContextTooLong("long".into()),
                400,
                Some("context_length_exceeded"),
            ),
            (
                ProviderError::Auth("401".into()),
                502,
                Some("upstream_auth_failed"),
            ),
            (ProviderError::BadRequest("bad".into()), 400, None),
            (
                ProviderError::NotFound("gone".into()),
                404,
                Some("model_not_found"),
            ),
            (
                ProviderError::UpstreamUnavailable("500".into()),
                503,
                Some("upstream_unavailable"),
            ),
            (
                ProviderError::Timeout("slow".into()),
                504,
                Some("upstream_timeout"),
            ),
            (
                ProviderError::Internal("oops".into()),
                502,
                Some("provider_error"),
            ),
        ];
        for (error, status, code) in cases {
            let e = provider(error.clone());
            assert_eq!((e.status, e.code), (status, code), "{error:?}");
        }
    }

    #[test]
    fn upstream_auth_is_not_the_clients_fault() {
        let e = provider(ProviderError::Auth("Incorrect API key provided".into()));
        assert_eq!(e.status, 502);
        assert!(e.message.contains("misconfigured"), "{}", e.message);
        assert!(e.message.contains("Incorrect API key provided"));
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        for error in [
            LlmError::RateLimited(RateLimit {
                retry_after_ms: Some(2500),
                message: "tenant limit".into(),
            }),
            LlmError::Provider(ProviderError::RateLimited(RateLimit {
                retry_after_ms: Some(2500),
                message: "upstream limit".into(),
            })),
        ] {
            let e = ApiError::from_llm(&error);
            assert_eq!(e.status, 429);
            assert_eq!(
                e.headers(),
                vec![
                    ("retry-after".to_string(), "3".to_string()),
                    ("retry-after-ms".to_string(), "2500".to_string())
                ]
            );
        }
        let unknown = ApiError::from_llm(&LlmError::RateLimited(RateLimit {
            retry_after_ms: None,
            message: "busy".into(),
        }));
        assert_eq!(unknown.headers()[0], ("retry-after".into(), "1".into()));
    }
}
