//! What a failed upstream call means for routing (`Disposition`: fatal,
//! failover, retry), and the `LlmError`s the router answers with.

use crate::bindings::llm::LlmError;
use crate::bindings::llm_types::{ProviderError, RateLimit};
use crate::error::{CallError, ProviderCallError};
use std::time::Duration;

/// What the router does after a failed upstream call.
#[derive(Debug, PartialEq)]
pub(super) enum Disposition {
    /// The request itself is wrong: no other deployment will do better.
    Fatal,
    /// Try another deployment, but not this one again for this request.
    Failover,
    /// Try another deployment, or this one again after the delay.
    Retry(Option<Duration>),
}

pub(super) fn disposition(e: &ProviderCallError) -> Disposition {
    match e {
        ProviderCallError::Provider(p) => match p {
            ProviderError::RateLimited(r) => Retry(r.retry_after_ms.map(Duration::from_millis)),
            ProviderError::UpstreamUnavailable(_) | ProviderError::Timeout(_) => Retry(None),
            // Another deployment may hold another key or another plugin version.
            // Or take what this one cannot (an image, for a 0.2.0 plugin).
            ProviderError::Auth(_)
            | ProviderError::Internal(_)
            | ProviderError::NotFound(_)
            | ProviderError::Unsupported(_) => Failover,
            ProviderError::BadRequest(_) | ProviderError::ContextTooLong(_) => Fatal,
        },
        ProviderCallError::Call(c) => match c {
            CallError::Timeout { .. } | CallError::Busy { .. } => Retry(None),
            _ => Failover,
        },
    }
}
use Disposition::*;

pub(super) fn llm_error(e: ProviderCallError) -> LlmError {
    match e {
        ProviderCallError::Provider(p) => LlmError::Provider(p),
        ProviderCallError::Call(c) => LlmError::Provider(match c {
            CallError::Timeout { .. } => ProviderError::Timeout(c.to_string()),
            CallError::Busy { .. } => ProviderError::UpstreamUnavailable(c.to_string()),
            other => ProviderError::Internal(other.to_string()),
        }),
    }
}

pub(super) fn rate_limited(wait: Duration, message: String) -> LlmError {
    LlmError::RateLimited(RateLimit {
        retry_after_ms: Some(wait.as_millis() as u64),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_classified_for_routing() {
        let p = |e| ProviderCallError::Provider(e);
        assert_eq!(
            disposition(&p(ProviderError::RateLimited(RateLimit {
                retry_after_ms: Some(1500),
                message: String::new()
            }))),
            Retry(Some(Duration::from_millis(1500)))
        );
        assert_eq!(
            disposition(&p(ProviderError::UpstreamUnavailable(String::new()))),
            Retry(None)
        );
        assert_eq!(
            disposition(&p(ProviderError::Timeout(String::new()))),
            Retry(None)
        );
        assert_eq!(
            disposition(&p(ProviderError::Auth(String::new()))),
            Failover
        );
        assert_eq!(
            disposition(&p(ProviderError::BadRequest(String::new()))),
            Fatal
        );
        assert_eq!(
            disposition(&p(ProviderError::ContextTooLong(String::new()))),
            Fatal
        );
        assert_eq!(
            disposition(&ProviderCallError::Call(CallError::PluginNotFound(
                "x".into()
            ))),
            Failover
        );
    }
}
