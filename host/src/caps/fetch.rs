//! `hanzo:node/fetch`: an outbound request in one call, its answer whole
//! (`fetch`) or read as it arrives (`open`, then one call per read). It goes
//! through the same policy check, keep-alive pool and timeouts as the
//! plugin's wasi:http requests ([`crate::outbound::send`]); only the plugin's
//! side is shorter: no fields, request, options, body, stream, future and
//! pollable resources to make, use and drop one call at a time.

use crate::bindings::fetch::{FetchError, Head, Host, HostBody, Request, Response};
use crate::bindings::resources::{BodyReader, FetchBody};
use crate::call_state::CallState;
use crate::outbound::{OutboundPolicy, TimedBody};
use bytes::Bytes;
use http::header::{HOST, HeaderName, HeaderValue};
use http_body_util::{BodyExt, Full};
use std::time::Duration;
use wasmtime::component::Resource;
use wasmtime_wasi_http::{DEFAULT_FORBIDDEN_HEADERS, Error as HttpError, RequestOptions};

impl Host for CallState {
    async fn fetch(
        &mut self,
        mut request: Request,
    ) -> wasmtime::Result<Result<Response, FetchError>> {
        let policy = self.outbound();
        // The host holds the whole answer before the plugin gets it, outside
        // the plugin's memory limit: never more than that limit could take.
        request.max_response_bytes = request
            .max_response_bytes
            .min(whole_answer_limit(self.grants.limits.memory_mb));
        Ok(fetch(&policy, request).await)
    }

    async fn open(
        &mut self,
        request: Request,
    ) -> wasmtime::Result<Result<(Head, Resource<FetchBody>), FetchError>> {
        let policy = self.outbound();
        match open(&policy, request).await {
            Ok((head, body)) => Ok(Ok((head, self.table().push(FetchBody(Box::new(body)))?))),
            Err(e) => Ok(Err(e)),
        }
    }
}

impl HostBody for CallState {
    async fn read(
        &mut self,
        body: Resource<FetchBody>,
        max: u32,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, FetchError>> {
        Ok(self.table().get_mut(&body)?.0.read(max as usize).await)
    }

    async fn drop(&mut self, body: Resource<FetchBody>) -> wasmtime::Result<()> {
        self.table().delete(body)?;
        Ok(())
    }
}

/// The largest answer `fetch` reads whole for a plugin of `memory_mb`.
fn whole_answer_limit(memory_mb: u64) -> u32 {
    memory_mb
        .saturating_mul(1 << 20)
        .try_into()
        .unwrap_or(u32::MAX)
}

/// Bytes reserved up front for a whole answer: the rest grows as it comes,
/// whatever `Content-Length` the upstream declared.
const PREALLOCATE_MAX: usize = 64 * 1024;

/// An answer's body as the plugin reads it: bounded in size, and through
/// [`TimedBody`] in the silence between bytes. Dropped before its end, the
/// `TimedBody` drains the rest so the connection stays pooled.
pub struct AnswerBody {
    body: TimedBody,
    /// Received but not yet read.
    pending: Bytes,
    /// Bytes the body may still bring.
    left: usize,
    limit: u32,
    /// `host[:port]`, for messages.
    to: String,
}

impl AnswerBody {
    /// What was received since the last read, at most `max` bytes; waits
    /// when nothing was.
    async fn read_some(&mut self, max: usize) -> Result<Option<Vec<u8>>, FetchError> {
        if self.pending.is_empty() {
            match self.next().await? {
                Some(data) => self.pending = data,
                None => return Ok(None),
            }
        }
        let n = max.clamp(1, self.pending.len());
        Ok(Some(self.pending.split_to(n).to_vec()))
    }

    /// The rest of the body.
    async fn read_all(&mut self) -> Result<Vec<u8>, FetchError> {
        let declared = http_body::Body::size_hint(&self.body).lower();
        if declared > self.left as u64 {
            return Err(FetchError::BodyTooLarge(self.limit));
        }
        let expected = usize::try_from(declared)
            .unwrap_or(usize::MAX)
            .min(self.left)
            .min(PREALLOCATE_MAX);
        let mut bytes = Vec::with_capacity(expected + self.pending.len());
        bytes.extend_from_slice(&std::mem::take(&mut self.pending));
        while let Some(data) = self.next().await? {
            bytes.extend_from_slice(&data);
        }
        Ok(bytes)
    }

    /// The next non-empty piece of data, or `None` at the end.
    async fn next(&mut self) -> Result<Option<Bytes>, FetchError> {
        while let Some(frame) = self.body.frame().await {
            let frame = frame.map_err(|e| fetch_error(e, &self.to))?;
            // Trailers end the body; an LLM API sends none.
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if data.is_empty() {
                continue;
            }
            self.left = self
                .left
                .checked_sub(data.len())
                .ok_or(FetchError::BodyTooLarge(self.limit))?;
            return Ok(Some(data));
        }
        Ok(None)
    }
}

impl BodyReader for AnswerBody {
    fn read(
        &mut self,
        max: usize,
    ) -> futures_util::future::BoxFuture<'_, Result<Option<Vec<u8>>, FetchError>> {
        Box::pin(self.read_some(max))
    }
}

async fn fetch(policy: &OutboundPolicy, request: Request) -> Result<Response, FetchError> {
    let (head, mut body) = open(policy, request).await?;
    Ok(Response {
        status: head.status,
        headers: head.headers,
        body: body.read_all().await?,
    })
}

/// Sends `request` if `policy` allows it: the answer's head, and its body to read.
async fn open(policy: &OutboundPolicy, request: Request) -> Result<(Head, AnswerBody), FetchError> {
    let url = request.url;
    let invalid = |why: String| FetchError::InvalidRequest(format!("`{url}`: {why}"));
    let uri: http::Uri = url
        .parse()
        .map_err(|e| invalid(format!("invalid URL: {e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(invalid(
            "only http:// and https:// URLs are supported".into(),
        ));
    }
    let Some(authority) = uri.authority().cloned() else {
        return Err(invalid("the URL has no host".into()));
    };
    if authority.as_str().contains('@') {
        return Err(invalid(
            "credentials in the URL are not supported; use a header".into(),
        ));
    }
    let method = http::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| invalid(format!("method `{}` is not valid", request.method)))?;

    let mut builder = http::Request::builder().method(method).uri(uri);
    let headers = builder.headers_mut().expect("a fresh builder has headers");
    headers.reserve(request.headers.len() + 1);
    for (name, value) in request.headers {
        let rejected = |why: &str| invalid(format!("header `{name}` rejected: {why}"));
        let header =
            HeaderName::from_bytes(name.as_bytes()).map_err(|_| rejected("invalid name"))?;
        // The same headers wasi:http keeps to the host (hop-by-hop ones, `host`).
        if DEFAULT_FORBIDDEN_HEADERS.contains(&header) {
            return Err(rejected("set by the host"));
        }
        let value = HeaderValue::from_bytes(&value).map_err(|_| rejected("invalid value"))?;
        headers.append(header, value);
    }
    headers.insert(
        HOST,
        HeaderValue::from_str(authority.as_str()).map_err(|_| invalid("invalid host".into()))?,
    );
    let body = Full::new(Bytes::from(request.body))
        .map_err(|never| match never {})
        .boxed_unsync();
    let outgoing = builder
        .body(body)
        .map_err(|e| invalid(format!("not a valid request: {e}")))?;
    let ms = |v: Option<u32>| v.map(|ms| Duration::from_millis(ms.into()));
    let options = RequestOptions {
        connect_timeout: ms(request.connect_timeout_ms),
        first_byte_timeout: ms(request.first_byte_timeout_ms),
        between_bytes_timeout: ms(request.between_bytes_timeout_ms),
    };

    let to = authority.as_str();
    let response = crate::outbound::send(policy, outgoing, Some(options))
        .await
        .map_err(|e| fetch_error(e, to))?;
    let (head, body) = response.into_parts();
    Ok((
        Head {
            status: head.status.as_u16(),
            headers: head
                .headers
                .iter()
                .map(|(name, value)| (name.as_str().to_owned(), value.as_bytes().to_vec()))
                .collect(),
        },
        AnswerBody {
            body,
            pending: Bytes::new(),
            left: request.max_response_bytes as usize,
            limit: request.max_response_bytes,
            to: to.to_owned(),
        },
    ))
}

/// The error a plugin sees for a failed request to `to` (`host[:port]`).
fn fetch_error(e: HttpError, to: &str) -> FetchError {
    use HttpError as E;
    let message = format!("{to}: {e}");
    match e {
        E::HttpRequestDenied | E::DestinationIpProhibited => FetchError::Denied(format!(
            "the host refused the request to {to}: it is not allowed by the plugin's permissions.http"
        )),
        E::DnsError {
            rcode: Some(why), ..
        } => FetchError::Dns(format!("DNS lookup of {to} failed: {why}")),
        E::DnsError { .. } | E::DestinationNotFound | E::InvalidDnsNameError(_) => {
            FetchError::Dns(format!("DNS lookup of {to} failed"))
        }
        E::DnsTimeout => FetchError::Timeout(format!("DNS lookup of {to} timed out")),
        E::ConnectionRefused => FetchError::ConnectionRefused(message),
        E::Connect(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            FetchError::ConnectionRefused(format!("{to}: {io}"))
        }
        E::ConnectionTimeout
        | E::ConnectionReadTimeout
        | E::ConnectionWriteTimeout
        | E::HttpResponseTimeout => FetchError::Timeout(message),
        E::Hyper(h) if h.is_timeout() => FetchError::Timeout(format!("{to}: {h}")),
        E::Tls(_) | E::TlsProtocolError | E::TlsCertificateError | E::TlsAlertReceived { .. } => {
            FetchError::Tls(message)
        }
        E::HttpRequestUriInvalid | E::HttpRequestMethodInvalid => {
            FetchError::InvalidRequest(message)
        }
        E::Connect(_)
        | E::DestinationUnavailable
        | E::DestinationIpUnroutable
        | E::ConnectionTerminated
        | E::ConnectionLimitReached
        | E::HttpResponseIncomplete => FetchError::Connection(message),
        E::Hyper(h) if h.is_incomplete_message() || h.is_closed() || h.is_canceled() => {
            FetchError::Connection(format!("{to}: {h}"))
        }
        _ => FetchError::Protocol(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            url: url.into(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
                .collect(),
            body: Vec::new(),
            connect_timeout_ms: None,
            first_byte_timeout_ms: None,
            between_bytes_timeout_ms: None,
            max_response_bytes: 1024,
        }
    }

    fn policy(hosts: &[&str]) -> OutboundPolicy {
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        OutboundPolicy::new("probe", &hosts)
    }

    #[tokio::test]
    async fn malformed_requests_are_refused_before_the_policy() {
        let p = policy(&["example.com"]);
        for (url, headers, says) in [
            ("example.com/x", &[][..], "invalid URL"),
            ("ftp://example.com/x", &[][..], "only http"),
            ("http://user:pw@example.com/", &[][..], "credentials"),
            (
                "http://example.com/",
                &[("host", "evil.com")][..],
                "header `host` rejected",
            ),
            (
                "http://example.com/",
                &[("upgrade", "h2c")][..],
                "header `upgrade` rejected",
            ),
            (
                "http://example.com/",
                &[("bad name", "1")][..],
                "header `bad name` rejected",
            ),
            (
                "http://example.com/",
                &[("x-ok", "a\nb")][..],
                "header `x-ok` rejected",
            ),
        ] {
            match fetch(&p, request(url, headers)).await {
                Err(FetchError::InvalidRequest(m)) => assert!(m.contains(says), "{url}: {m}"),
                other => panic!("{url} {headers:?}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn ungranted_hosts_are_denied() {
        match fetch(
            &policy(&["example.com"]),
            request("http://example.org/", &[]),
        )
        .await
        {
            Err(FetchError::Denied(m)) => assert!(m.contains("example.org"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
