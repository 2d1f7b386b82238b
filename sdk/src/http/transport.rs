//! Sending a request through the host (wasm only): `wasi:http`'s
//! outgoing handler, or `hanzo:node/fetch` in one call.

use super::body::{Body, Source};
use super::error::{fetch_error, stream_error};
use super::request::Target;
use super::{HttpError, HttpErrorKind, Request, Response, method_name};
use std::time::Duration;
use wasip2::http::types::IncomingResponse;

pub(super) fn send(request: Request, target: Target) -> Result<Response, HttpError> {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, OutgoingBody, OutgoingRequest, RequestOptions, Scheme};

    let invalid = |what: String| HttpError::new(HttpErrorKind::InvalidRequest, what);
    let mut entries = request.headers;
    let has_length = entries
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-length"));
    // Without a length the host falls back to chunked encoding, which some
    // inference servers do not accept.
    if !request.body.is_empty() && !has_length {
        entries.push((
            "content-length".into(),
            request.body.len().to_string().into_bytes(),
        ));
    }
    // One host call for all of them; when the host refuses, find which.
    let headers = match Fields::from_list(&entries) {
        Ok(headers) => headers,
        Err(e) => {
            let probe = Fields::new();
            let rejected = entries
                .iter()
                .find(|(name, value)| probe.append(name, value).is_err())
                .map_or_else(
                    || "a header".to_string(),
                    |(name, _)| format!("header `{name}`"),
                );
            return Err(invalid(format!("{rejected} rejected: {e:?}")));
        }
    };
    let outgoing = OutgoingRequest::new(headers);
    outgoing
        .set_method(&request.method)
        .map_err(|()| invalid(format!("method {:?} rejected", request.method)))?;
    let scheme = if target.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| invalid("scheme rejected".to_string()))?;
    outgoing
        .set_authority(Some(&target.authority))
        .map_err(|()| invalid(format!("authority `{}` rejected", target.authority)))?;
    outgoing
        .set_path_with_query(Some(&target.path_with_query))
        .map_err(|()| invalid(format!("path `{}` rejected", target.path_with_query)))?;

    let options = if request.connect_timeout.is_some()
        || request.first_byte_timeout.is_some()
        || request.between_bytes_timeout.is_some()
    {
        let options = RequestOptions::new();
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        // A host that does not support a timeout says so with an error; the
        // request still works under the host's own limits, so carry on.
        if let Some(t) = request.connect_timeout {
            let _ = options.set_connect_timeout(Some(nanos(t)));
        }
        if let Some(t) = request.first_byte_timeout {
            let _ = options.set_first_byte_timeout(Some(nanos(t)));
        }
        if let Some(t) = request.between_bytes_timeout {
            let _ = options.set_between_bytes_timeout(Some(nanos(t)));
        }
        Some(options)
    } else {
        None
    };

    let body = outgoing
        .body()
        .map_err(|()| HttpError::new(HttpErrorKind::Other, "request body already taken"))?;
    let future = outgoing_handler::handle(outgoing, options)
        .map_err(|code| HttpError::from_code(&code, &target.authority))?;

    // Write the body after `handle`, so the host streams it out as it comes
    // instead of buffering all of it first.
    if let Err(write_error) = write_body(&body, &request.body, &target.authority) {
        drop(body);
        // A refused or failed request also breaks the body stream; the
        // response future has the real reason.
        return Err(match wait_response(&future, &target.authority) {
            Err(e) => e,
            Ok(_) => write_error,
        });
    }
    OutgoingBody::finish(body, None)
        .map_err(|code| HttpError::from_code(&code, &target.authority))?;

    let response = wait_response(&future, &target.authority)?;
    drop(future);
    Response::from_incoming(response, target.authority)
}

/// `request` as `hanzo:node/fetch` takes it.
fn fetch_request(request: Request, limit: usize) -> crate::wit::hanzo::node::fetch::Request {
    let ms = |d: Option<Duration>| d.map(|d| u32::try_from(d.as_millis()).unwrap_or(u32::MAX));
    crate::wit::hanzo::node::fetch::Request {
        method: method_name(&request.method).to_owned(),
        url: request.url,
        headers: request.headers,
        body: request.body,
        connect_timeout_ms: ms(request.connect_timeout),
        first_byte_timeout_ms: ms(request.first_byte_timeout),
        between_bytes_timeout_ms: ms(request.between_bytes_timeout),
        max_response_bytes: u32::try_from(limit).unwrap_or(u32::MAX),
    }
}

pub(super) fn fetch(request: Request, target: Target, limit: usize) -> Result<Response, HttpError> {
    let answer = crate::wit::hanzo::node::fetch::fetch(&fetch_request(request, limit))
        .map_err(|e| fetch_error(e, &target.authority))?;
    Ok(Response {
        status: answer.status,
        headers: answer.headers,
        body: Body::whole(answer.body, target.authority),
    })
}

pub(super) fn open(request: Request, target: Target, limit: usize) -> Result<Response, HttpError> {
    let (head, body) = crate::wit::hanzo::node::fetch::open(&fetch_request(request, limit))
        .map_err(|e| fetch_error(e, &target.authority))?;
    Ok(Response {
        status: head.status,
        headers: head.headers,
        body: Body {
            source: Source::Fetched(body),
            authority: target.authority,
        },
    })
}

fn write_body(
    body: &wasip2::http::types::OutgoingBody,
    bytes: &[u8],
    authority: &str,
) -> Result<(), HttpError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let stream = body
        .write()
        .map_err(|()| HttpError::new(HttpErrorKind::Other, "request body stream already taken"))?;
    // `blocking-write-and-flush` accepts at most 4096 bytes per call.
    for chunk in bytes.chunks(4096) {
        stream
            .blocking_write_and_flush(chunk)
            .map_err(|e| stream_error(e, authority, "sending the request body to"))?;
    }
    Ok(())
}

fn wait_response(
    future: &wasip2::http::types::FutureIncomingResponse,
    authority: &str,
) -> Result<IncomingResponse, HttpError> {
    loop {
        match future.get() {
            Some(Ok(Ok(response))) => return Ok(response),
            Some(Ok(Err(code))) => return Err(HttpError::from_code(&code, authority)),
            Some(Err(())) => {
                return Err(HttpError::new(
                    HttpErrorKind::Other,
                    "response already taken",
                ));
            }
            None => future.subscribe().block(),
        }
    }
}
