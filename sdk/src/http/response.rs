//! A response: its head, and its body read whole or as JSON.

#[cfg(target_arch = "wasm32")]
use super::body::Source;
use super::{Body, HttpError, HttpErrorKind};
#[cfg(target_arch = "wasm32")]
use wasip2::http::types::IncomingResponse;

/// A response: status and headers, with the body still to be read.
#[derive(Debug)]
pub struct Response {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, Vec<u8>)>,
    pub(super) body: Body,
}

impl Response {
    #[cfg(target_arch = "wasm32")]
    pub(super) fn from_incoming(
        response: IncomingResponse,
        authority: String,
    ) -> Result<Self, HttpError> {
        let status = response.status();
        let headers = {
            // The fields are a child of the response: take a copy and drop them.
            let fields = response.headers();
            fields.entries()
        };
        let body = response
            .consume()
            .map_err(|()| HttpError::new(HttpErrorKind::Other, "response body already taken"))?;
        let stream = body
            .stream()
            .map_err(|()| HttpError::new(HttpErrorKind::Other, "response stream already taken"))?;
        Ok(Response {
            status,
            headers,
            body: Body {
                source: Source::Wasi {
                    stream,
                    _body: body,
                    _response: response,
                },
                authority,
            },
        })
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// True for 2xx statuses.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// All header fields, in the order received (names are lower-case).
    pub fn headers(&self) -> &[(String, Vec<u8>)] {
        &self.headers
    }

    /// The first value of header `name` (case-insensitive), if it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    /// The body, for incremental reading.
    pub fn body_mut(&mut self) -> &mut Body {
        &mut self.body
    }

    /// Splits off the body, for incremental reading after the head is used.
    pub fn into_body(self) -> Body {
        self.body
    }

    /// The whole body; [`HttpErrorKind::BodyTooLarge`] beyond `limit` bytes.
    pub fn bytes(mut self, limit: usize) -> Result<Vec<u8>, HttpError> {
        self.body.read_to_end(limit)
    }

    /// The whole body as text (invalid UTF-8 is replaced).
    pub fn text(self, limit: usize) -> Result<String, HttpError> {
        let bytes = self.bytes(limit)?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }

    /// The whole body decoded from JSON.
    pub fn json<T: serde::de::DeserializeOwned>(self, limit: usize) -> Result<T, HttpError> {
        let authority = self.body.authority.clone();
        let bytes = self.bytes(limit)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            HttpError::new(
                HttpErrorKind::Protocol,
                format!("response from {authority} is not the expected JSON: {e}"),
            )
        })
    }
}

/// The first value of header `name` in `headers` (case-insensitive), if it
/// is valid UTF-8.
pub fn header_value<'a>(headers: &'a [(String, Vec<u8>)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| std::str::from_utf8(v).ok())
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_headers_case_insensitively() {
        let headers = vec![
            ("content-type".to_string(), b"text/plain".to_vec()),
            ("Retry-After".to_string(), b" 2 ".to_vec()),
        ];
        assert_eq!(header_value(&headers, "retry-after"), Some("2"));
        assert_eq!(header_value(&headers, "x-missing"), None);
    }
}
