//! Incremental Server-Sent Events decoder (the `text/event-stream` format of
//! the WHATWG HTML standard, §9.2).
//!
//! Feed it the body as it arrives, in chunks of any size, and pop complete
//! events. Lines may end in `\n`, `\r\n` or `\r` (also when the `\r` and `\n`
//! arrive in different chunks); `data:` lines of one event are joined with
//! `\n`; comment lines (`:` first) are skipped; an event is dispatched at the
//! blank line that ends it.
//!
//! ```
//! use hanzo_node_sdk::sse::Decoder;
//!
//! let mut decoder = Decoder::new();
//! decoder.feed(b"event: update\ndata: {\"a\"").unwrap();
//! assert!(decoder.next_event().is_none()); // not complete yet
//! decoder.feed(b":1}\n\n").unwrap();
//! let event = decoder.next_event().unwrap();
//! assert_eq!(event.event, "update");
//! assert_eq!(event.data, "{\"a\":1}");
//! ```

use std::collections::VecDeque;
use std::fmt;

/// Default cap on the bytes of one pending line or event, so that an
/// upstream that never ends a line cannot exhaust the plugin's memory.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 8 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field; `"message"` when the event had none.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen on the stream so far (it persists across events).
    pub id: Option<String>,
    /// A `retry:` reconnection time in milliseconds, when this event set one.
    pub retry: Option<u64>,
}

/// The stream broke the decoder's size limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooLarge {
    /// The limit in bytes.
    pub limit: usize,
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server-sent event larger than {} bytes", self.limit)
    }
}

impl std::error::Error for TooLarge {}

/// Incremental decoder state.
#[derive(Debug)]
pub struct Decoder {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous chunk ended in `\r`; a leading `\n` in the next one
    /// belongs to the same line break.
    after_cr: bool,
    /// Still at the very start of the stream (a UTF-8 BOM may follow).
    at_start: bool,
    event_type: String,
    data: String,
    has_data: bool,
    last_id: Option<String>,
    retry: Option<u64>,
    ready: VecDeque<Event>,
    max_event_bytes: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the [`DEFAULT_MAX_EVENT_BYTES`] limit.
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_EVENT_BYTES)
    }

    /// A decoder that rejects lines or events over `max_event_bytes`.
    pub fn with_limit(max_event_bytes: usize) -> Self {
        Decoder {
            line: Vec::new(),
            after_cr: false,
            at_start: true,
            event_type: String::new(),
            data: String::new(),
            has_data: false,
            last_id: None,
            retry: None,
            ready: VecDeque::new(),
            max_event_bytes,
        }
    }

    /// Consumes the next chunk of the stream.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), TooLarge> {
        if self.at_start && !chunk.is_empty() {
            // A BOM may be split across chunks: wait until 3 bytes are known.
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            self.line.extend_from_slice(chunk);
            if self.line.len() < BOM.len() && BOM.starts_with(&self.line) {
                return Ok(());
            }
            self.at_start = false;
            let pending = std::mem::take(&mut self.line);
            let body = pending.strip_prefix(BOM).unwrap_or(&pending);
            return self.feed_lines(body);
        }
        if chunk.is_empty() {
            return Ok(());
        }
        if self.after_cr && chunk[0] == b'\n' {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        self.feed_lines(chunk)
    }

    fn feed_lines(&mut self, chunk: &[u8]) -> Result<(), TooLarge> {
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            let (head, tail) = rest.split_at(pos);
            self.push_line_bytes(head)?;
            let line = std::mem::take(&mut self.line);
            self.process_line(&line)?;
            if tail[0] == b'\r' {
                match tail.get(1) {
                    Some(b'\n') => rest = &tail[2..],
                    Some(_) => rest = &tail[1..],
                    None => {
                        self.after_cr = true;
                        rest = &[];
                    }
                }
            } else {
                rest = &tail[1..];
            }
        }
        self.push_line_bytes(rest)
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) -> Result<(), TooLarge> {
        if self.line.len() + bytes.len() > self.max_event_bytes {
            return Err(TooLarge {
                limit: self.max_event_bytes,
            });
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    fn process_line(&mut self, line: &[u8]) -> Result<(), TooLarge> {
        if line.is_empty() {
            self.dispatch();
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(());
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.find(':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (&line[..], ""),
        };
        match field {
            "event" => self.event_type = value.to_string(),
            "data" => {
                if self.data.len() + value.len() + 1 > self.max_event_bytes {
                    return Err(TooLarge {
                        limit: self.max_event_bytes,
                    });
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            // The spec ignores ids containing NUL.
            "id" if !value.contains('\0') => self.last_id = Some(value.to_string()),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            // Unknown fields are ignored, per the spec.
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self) {
        let event_type = std::mem::take(&mut self.event_type);
        let retry = self.retry.take();
        if !self.has_data {
            // No data: the spec resets the event type and dispatches nothing.
            return;
        }
        self.has_data = false;
        self.ready.push_back(Event {
            event: if event_type.is_empty() {
                "message".to_string()
            } else {
                event_type
            },
            data: std::mem::take(&mut self.data),
            id: self.last_id.clone(),
            retry,
        });
    }

    /// The next complete event, in stream order.
    pub fn next_event(&mut self) -> Option<Event> {
        self.ready.pop_front()
    }

    /// True when bytes of an unfinished event are buffered. At the end of the
    /// stream such an event is discarded (the spec only dispatches at a blank
    /// line), so this tells whether the stream was cut in the middle of one.
    pub fn has_partial_event(&self) -> bool {
        !self.line.is_empty() || self.has_data || !self.event_type.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<Event> {
        let mut d = Decoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.feed(c).unwrap();
            while let Some(e) = d.next_event() {
                out.push(e);
            }
        }
        out
    }

    fn data(events: &[Event]) -> Vec<&str> {
        events.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn simple_events() {
        let ev = decode_all(&[b"data: one\n\ndata: two\n\n"]);
        assert_eq!(data(&ev), ["one", "two"]);
        assert_eq!(ev[0].event, "message");
    }

    #[test]
    fn crlf_and_cr_line_endings() {
        let ev = decode_all(&[b"event: a\r\ndata: x\r\n\r\nevent: b\rdata: y\r\r"]);
        assert_eq!(data(&ev), ["x", "y"]);
        assert_eq!(ev[0].event, "a");
        assert_eq!(ev[1].event, "b");
    }

    #[test]
    fn cr_and_lf_split_across_chunks() {
        // `\r` ends one chunk and `\n` starts the next: one line break, not two
        // (two would be a blank line and dispatch early).
        let ev = decode_all(&[b"data: a\r", b"", b"\ndata: b\r", b"\n\r", b"\n"]);
        assert_eq!(data(&ev), ["a\nb"]);
    }

    #[test]
    fn multi_line_data_is_joined_with_newlines() {
        let ev = decode_all(&[b"data: first\ndata: second\ndata\ndata:third\n\n"]);
        assert_eq!(data(&ev), ["first\nsecond\n\nthird"]);
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        let ev = decode_all(&[b": keep-alive\n\n:another\nfoo: bar\ndata: x\n\n"]);
        assert_eq!(data(&ev), ["x"]);
    }

    #[test]
    fn events_without_data_are_not_dispatched() {
        let ev = decode_all(&[b"event: ping\n\ndata: x\n\n"]);
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0].event, "message",
            "event type resets at the blank line"
        );
    }

    #[test]
    fn byte_at_a_time() {
        let input =
            b"\xEF\xBB\xBFevent: e\r\ndata: {\"k\": \"v\xC3\xA9\"}\r\nid: 7\r\nretry: 1500\r\n\r\n";
        let chunks: Vec<&[u8]> = input.chunks(1).collect();
        let ev = decode_all(&chunks);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].event, "e");
        assert_eq!(ev[0].data, "{\"k\": \"vé\"}");
        assert_eq!(ev[0].id.as_deref(), Some("7"));
        assert_eq!(ev[0].retry, Some(1500));
    }

    #[test]
    fn only_one_leading_space_is_stripped() {
        let ev = decode_all(&[b"data:  two spaces\n\n"]);
        assert_eq!(data(&ev), [" two spaces"]);
    }

    #[test]
    fn id_persists_and_retry_does_not() {
        let ev = decode_all(&[b"id: 1\nretry: 10\ndata: a\n\ndata: b\n\nretry: x\ndata: c\n\n"]);
        assert_eq!(ev[1].id.as_deref(), Some("1"));
        assert_eq!(ev[0].retry, Some(10));
        assert_eq!(ev[1].retry, None);
        assert_eq!(ev[2].retry, None, "non-digit retry is ignored");
    }

    #[test]
    fn partial_event_is_reported_at_end_of_stream() {
        let mut d = Decoder::new();
        d.feed(b"data: complete\n\ndata: cut").unwrap();
        assert_eq!(d.next_event().unwrap().data, "complete");
        assert!(d.next_event().is_none());
        assert!(d.has_partial_event());

        let mut d = Decoder::new();
        d.feed(b"data: complete\n\n").unwrap();
        assert!(!d.has_partial_event());
    }

    #[test]
    fn openai_style_stream() {
        let body = "data: {\"id\":\"1\",\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n\
                    data: {\"id\":\"1\",\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n\
                    data: [DONE]\n\n";
        let chunks: Vec<&[u8]> = body.as_bytes().chunks(7).collect();
        let ev = decode_all(&chunks);
        assert_eq!(ev.len(), 3);
        assert_eq!(ev[2].data, "[DONE]");
    }

    #[test]
    fn limit_is_enforced() {
        let mut d = Decoder::with_limit(16);
        assert!(d.feed(b"data: short\n\n").is_ok());
        assert_eq!(
            d.feed(b"data: this line is far too long"),
            Err(TooLarge { limit: 16 })
        );
        let mut d = Decoder::with_limit(16);
        d.feed(b"data: 0123456789\n").unwrap();
        assert!(
            d.feed(b"data: 0123456789\n").is_err(),
            "event data over the limit"
        );
    }

    #[test]
    fn bom_split_and_absent() {
        let ev = decode_all(&[b"\xEF", b"\xBB", b"\xBFdata: x\n\n"]);
        assert_eq!(data(&ev), ["x"]);
        let ev = decode_all(&[b"da", b"ta: y\n\n"]);
        assert_eq!(data(&ev), ["y"]);
    }
}
