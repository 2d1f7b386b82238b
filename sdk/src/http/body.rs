//! A response body read as it arrives, from whichever host API brought it.

use super::error::{fetch_error, stream_error};
use super::{HttpError, HttpErrorKind};
use std::fmt;
use wasip2::http::types::{IncomingBody, IncomingResponse};
use wasip2::io::streams::{InputStream, StreamError};

/// Bytes requested from the host per read of a response body.
pub const READ_CHUNK_BYTES: usize = 64 * 1024;

/// Something a response body can be read from chunk by chunk. [`Body`]
/// implements it; the stream decoders in [`crate::openai`] are generic over
/// it so that they can be tested without a host.
pub trait ReadChunk {
    /// The next chunk of bytes, or `None` at the end of the body. Blocks
    /// until data is available.
    fn read_chunk(&mut self) -> Result<Option<Vec<u8>>, HttpError>;
}

/// A response body being received.
pub struct Body {
    pub(super) source: Source,
    pub(super) authority: String,
}

/// Where a body's bytes come from.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(super) enum Source {
    /// What is left of a body the host delivered whole
    /// ([`Request::fetch`](super::Request::fetch)).
    Whole(Vec<u8>),
    /// A body read through `hanzo:node/fetch`
    /// ([`Request::open`](super::Request::open)).
    Fetched(crate::wit::hanzo::node::fetch::Body),
    /// A `wasi:http` body ([`Request::send`](super::Request::send)). Field
    /// order is drop order: the stream is a child of the body, which came
    /// from the response.
    Wasi {
        stream: InputStream,
        _body: IncomingBody,
        _response: IncomingResponse,
    },
    /// Read to its end, failed, or released.
    Done,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body")
            .field("from", &self.authority)
            .field("done", &matches!(self.source, Source::Done))
            .finish()
    }
}

impl Body {
    /// A body already read whole, from `authority` (`host[:port]`).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn whole(bytes: Vec<u8>, authority: String) -> Body {
        Body {
            source: Source::Whole(bytes),
            authority,
        }
    }

    /// The next chunk of at most `max` bytes, or `None` at the end. Blocks
    /// until data arrives or the body ends; a between-bytes timeout or a
    /// broken connection is an error.
    pub fn read_chunk_max(&mut self, max: usize) -> Result<Option<Vec<u8>>, HttpError> {
        let max = max.max(1);
        let read = match &mut self.source {
            Source::Done => return Ok(None),
            Source::Whole(whole) if !whole.is_empty() => {
                let rest = whole.split_off(max.min(whole.len()));
                return Ok(Some(std::mem::replace(whole, rest)));
            }
            Source::Whole(_) => Ok(None),
            Source::Fetched(body) => body
                .read(u32::try_from(max).unwrap_or(u32::MAX))
                .map_err(|e| fetch_error(e, &self.authority)),
            Source::Wasi { stream, .. } => read_blocking(stream, max as u64)
                .map_err(|e| stream_error(e, &self.authority, "reading the response from")),
        };
        if !matches!(read, Ok(Some(_))) {
            self.finish();
        }
        read
    }

    /// Reads the rest of the body; [`HttpErrorKind::BodyTooLarge`] once it
    /// exceeds `limit` bytes.
    pub fn read_to_end(&mut self, limit: usize) -> Result<Vec<u8>, HttpError> {
        let (bytes, truncated) = self.read_up_to(limit)?;
        if truncated {
            self.finish();
            return Err(HttpError::new(
                HttpErrorKind::BodyTooLarge,
                format!(
                    "the response from {} is larger than {limit} bytes",
                    self.authority
                ),
            ));
        }
        Ok(bytes)
    }

    /// Reads at most `limit` bytes; the flag is true when the body had more
    /// (the rest is left unread).
    pub fn read_up_to(&mut self, limit: usize) -> Result<(Vec<u8>, bool), HttpError> {
        if let Source::Whole(whole) = &mut self.source {
            let mut whole = std::mem::take(whole);
            self.finish();
            let more = whole.len() > limit;
            whole.truncate(limit);
            return Ok((whole, more));
        }
        let mut out = Vec::new();
        // Ask for one byte past the limit to learn whether there is more.
        while out.len() <= limit {
            let want = (limit + 1 - out.len()).min(READ_CHUNK_BYTES);
            match self.read_chunk_max(want)? {
                Some(chunk) => out.extend_from_slice(&chunk),
                None => return Ok((out, false)),
            }
        }
        out.truncate(limit);
        Ok((out, true))
    }

    /// The host this body comes from (`host[:port]`), for messages.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Releases the body's handles early.
    fn finish(&mut self) {
        self.source = Source::Done;
    }
}

/// The next bytes (at most `max`) of a `wasi:io` input stream, waiting
/// until some arrive; `None` at the end. Any other stream
/// error is the caller's to describe.
pub(crate) fn read_blocking(
    stream: &InputStream,
    max: u64,
) -> Result<Option<Vec<u8>>, StreamError> {
    loop {
        // One host call that waits for data, where `read`, `subscribe`,
        // `block`, dropping the pollable and `read` again took five.
        match stream.blocking_read(max) {
            // Only a spurious wake-up ends with nothing read; ask again.
            Ok(bytes) if bytes.is_empty() => continue,
            Ok(bytes) => return Ok(Some(bytes)),
            Err(StreamError::Closed) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
}

impl ReadChunk for Body {
    fn read_chunk(&mut self) -> Result<Option<Vec<u8>>, HttpError> {
        self.read_chunk_max(READ_CHUNK_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_body_reads_like_a_streamed_one() {
        let mut body = Body::whole(b"hello world".to_vec(), "h".into());
        assert_eq!(body.read_chunk_max(5).unwrap().unwrap(), b"hello");
        assert_eq!(body.read_chunk().unwrap().unwrap(), b" world");
        assert_eq!(body.read_chunk().unwrap(), None);
        assert_eq!(body.read_chunk().unwrap(), None);

        let mut body = Body::whole(b"hello world".to_vec(), "h".into());
        assert_eq!(body.read_up_to(5).unwrap(), (b"hello".to_vec(), true));
        let mut body = Body::whole(b"hello".to_vec(), "h".into());
        assert_eq!(body.read_to_end(5).unwrap(), b"hello");
        let mut body = Body::whole(b"hello!".to_vec(), "example.com".into());
        let e = body.read_to_end(5).unwrap_err();
        assert_eq!(e.kind(), HttpErrorKind::BodyTooLarge);
        assert!(e.message().contains("example.com"), "{e}");
        let mut body = Body::whole(Vec::new(), "h".into());
        assert_eq!(body.read_to_end(5).unwrap(), b"");
    }
}
