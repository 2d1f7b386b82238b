//! Errors that reach a client: each has a stable machine-readable code, an
//! HTTP status and a human message. Host code returns these; the server turns
//! them into `{"error": {"code", "message"}}`.

use http::StatusCode;

/// A failure of a plugin call, named after the plugin so an operator sees at once
/// which component misbehaved.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no plugin named `{0}` is loaded")]
    PluginNotFound(String),
    #[error("plugin `{plugin}` is a {actual} plugin, not a {expected} plugin")]
    WrongKind {
        plugin: String,
        expected: &'static str,
        actual: &'static str,
    },
    #[error("plugin `{plugin}` exceeded its time limit of {limit_ms} ms")]
    Timeout { plugin: String, limit_ms: u64 },
    #[error("plugin `{plugin}` exceeded its memory limit of {limit_mb} MiB")]
    MemoryLimit { plugin: String, limit_mb: u64 },
    #[error("plugin `{plugin}` is at its limit of {limit} concurrent calls")]
    Busy { plugin: String, limit: usize },
    #[error("plugin `{plugin}` trapped: {message}")]
    Trap { plugin: String, message: String },
    #[error("plugin `{plugin}` could not be instantiated: {message}")]
    Instantiate { plugin: String, message: String },
}

/// A failure of a provider call: the provider's own typed error, or the call
/// itself failed (trap, timeout, limit).
#[derive(Debug, thiserror::Error)]
pub enum ProviderCallError {
    #[error("{0:?}")]
    Provider(crate::bindings::llm_types::ProviderError),
    #[error(transparent)]
    Call(#[from] CallError),
}

impl CallError {
    /// The stable code clients match on.
    pub fn code(&self) -> &'static str {
        match self {
            CallError::PluginNotFound(_) => "plugin_not_found",
            CallError::WrongKind { .. } => "plugin_wrong_kind",
            CallError::Timeout { .. } => "plugin_timeout",
            CallError::MemoryLimit { .. } => "plugin_memory_limit",
            CallError::Busy { .. } => "plugin_busy",
            CallError::Trap { .. } => "plugin_trap",
            CallError::Instantiate { .. } => "plugin_instantiate_failed",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            CallError::PluginNotFound(_) => StatusCode::NOT_FOUND,
            CallError::WrongKind { .. } => StatusCode::BAD_REQUEST,
            CallError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            CallError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            CallError::MemoryLimit { .. }
            | CallError::Trap { .. }
            | CallError::Instantiate { .. } => StatusCode::BAD_GATEWAY,
        }
    }
}

/// The node's one error shape, `{"error": {"code": ..., "message": ...}}`:
/// HTTP answers, tool results an LLM reads, WebSocket replies.
pub fn error_document(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "error": error_fields(code, message) })
}

/// The inside of [`error_document`], for a reply that carries more fields.
pub fn error_fields(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({ "code": code, "message": message })
}

/// An error answer of the HTTP server.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 400 `invalid_request`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    /// 405 `method_not_allowed`, naming the method and the path.
    pub fn method_not_allowed(method: &http::Method, path: &str) -> Self {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )
    }

    /// A JSON request body as `T`; else 400 `invalid_request` saying why.
    pub fn parse_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))
    }

    /// The JSON body: `{"error": {"code": ..., "message": ...}}`.
    pub fn body(&self) -> String {
        error_document(self.code, &self.message).to_string()
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> Self {
        ApiError::new(e.status(), e.code(), e.to_string())
    }
}

/// A tool error's stable code and message, as every API shows it.
pub fn tool_error_parts(e: &crate::bindings::tool_types::ToolError) -> (&'static str, String) {
    use crate::bindings::tool_types::ToolError;
    match e {
        ToolError::NotFound(m) => ("tool_not_found", m.clone()),
        ToolError::InvalidArguments(m) => ("invalid_arguments", m.clone()),
        ToolError::Failed(m) => ("tool_failed", m.clone()),
        ToolError::PluginFailed(m) => ("plugin_failed", m.clone()),
        ToolError::Denied(m) => ("forbidden", m.clone()),
    }
}
