//! Incremental newline-delimited JSON decoder (NDJSON / JSON Lines), the
//! streaming format of Ollama and several other inference servers.
//!
//! Feed it the body in chunks of any size and pop one decoded value per
//! line. Blank lines are skipped and `\r\n` is accepted. A last line without
//! a trailing newline becomes available once [`Decoder::finish`] is called at
//! the end of the stream.
//!
//! ```
//! use hanzo_node_sdk::ndjson::Decoder;
//! use serde_json::Value;
//!
//! let mut decoder = Decoder::new();
//! decoder.feed(b"{\"n\":1}\n{\"n\"").unwrap();
//! let first: Value = decoder.next_value().unwrap().unwrap();
//! assert_eq!(first["n"], 1);
//! decoder.feed(b":2}").unwrap();
//! assert!(decoder.next_value::<Value>().is_none()); // line not ended yet
//! decoder.finish();
//! assert_eq!(decoder.next_value::<Value>().unwrap().unwrap()["n"], 2);
//! ```

use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::fmt;

/// Default cap on one line, so a stream that never ends a line cannot
/// exhaust the plugin's memory.
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Why a line could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// A line is longer than the decoder's limit (in bytes).
    LineTooLong(usize),
    /// A line is not valid JSON for the requested type.
    InvalidJson {
        /// 1-based line number in the stream, blank lines included.
        line: u64,
        /// The parser's message.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LineTooLong(limit) => write!(f, "NDJSON line longer than {limit} bytes"),
            Error::InvalidJson { line, message } => {
                write!(f, "invalid JSON on NDJSON line {line}: {message}")
            }
        }
    }
}

impl std::error::Error for Error {}

/// Incremental decoder state.
#[derive(Debug)]
pub struct Decoder {
    partial: Vec<u8>,
    lines: VecDeque<(u64, Vec<u8>)>,
    line_number: u64,
    max_line_bytes: usize,
    finished: bool,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the [`DEFAULT_MAX_LINE_BYTES`] limit.
    pub fn new() -> Self {
        Self::with_limit(DEFAULT_MAX_LINE_BYTES)
    }

    /// A decoder that rejects lines over `max_line_bytes`.
    pub fn with_limit(max_line_bytes: usize) -> Self {
        Decoder {
            partial: Vec::new(),
            lines: VecDeque::new(),
            line_number: 0,
            max_line_bytes,
            finished: false,
        }
    }

    /// Consumes the next chunk of the stream.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<(), Error> {
        let mut rest = chunk;
        while let Some(pos) = rest.iter().position(|&b| b == b'\n') {
            self.append(&rest[..pos])?;
            let line = std::mem::take(&mut self.partial);
            self.push_line(line);
            rest = &rest[pos + 1..];
        }
        self.append(rest)
    }

    /// Marks the end of the stream: a final line without a newline is
    /// decoded too.
    pub fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            let line = std::mem::take(&mut self.partial);
            if !line.is_empty() {
                self.push_line(line);
            }
        }
    }

    /// True when bytes of an unterminated line are buffered.
    pub fn has_partial_line(&self) -> bool {
        self.partial.iter().any(|b| !b.is_ascii_whitespace())
    }

    /// The next complete line decoded as `T`; `None` until one is complete.
    pub fn next_value<T: DeserializeOwned>(&mut self) -> Option<Result<T, Error>> {
        let (line, bytes) = self.lines.pop_front()?;
        Some(
            serde_json::from_slice(&bytes).map_err(|e| Error::InvalidJson {
                line,
                message: e.to_string(),
            }),
        )
    }

    fn append(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if self.partial.len() + bytes.len() > self.max_line_bytes {
            return Err(Error::LineTooLong(self.max_line_bytes));
        }
        self.partial.extend_from_slice(bytes);
        Ok(())
    }

    fn push_line(&mut self, mut line: Vec<u8>) {
        self.line_number += 1;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            return;
        }
        self.lines.push_back((self.line_number, line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn drain(d: &mut Decoder) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = d.next_value::<Value>() {
            out.push(v.unwrap());
        }
        out
    }

    #[test]
    fn lines_across_chunks() {
        let mut d = Decoder::new();
        let text = b"{\"a\":1}\r\n\n  \n{\"b\":[1,2]}\n{\"c\":\"x\"}";
        let mut all = Vec::new();
        for chunk in text.chunks(3) {
            d.feed(chunk).unwrap();
            all.extend(drain(&mut d));
        }
        assert_eq!(all, vec![json!({"a":1}), json!({"b":[1,2]})]);
        assert!(d.has_partial_line());
        d.finish();
        assert_eq!(drain(&mut d), vec![json!({"c":"x"})]);
        assert!(!d.has_partial_line());
    }

    #[test]
    fn typed_values() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Chunk {
            done: bool,
        }
        let mut d = Decoder::new();
        d.feed(b"{\"done\":false}\n{\"done\":true}\n").unwrap();
        assert_eq!(
            d.next_value::<Chunk>().unwrap().unwrap(),
            Chunk { done: false }
        );
        assert_eq!(
            d.next_value::<Chunk>().unwrap().unwrap(),
            Chunk { done: true }
        );
    }

    #[test]
    fn invalid_line_reports_its_number() {
        let mut d = Decoder::new();
        d.feed(b"{\"a\":1}\n\nnot json\n").unwrap();
        assert!(d.next_value::<Value>().unwrap().is_ok());
        match d.next_value::<Value>().unwrap() {
            Err(Error::InvalidJson { line, .. }) => assert_eq!(line, 3),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn line_limit() {
        let mut d = Decoder::with_limit(8);
        assert!(d.feed(b"{\"a\":1}\n").is_ok());
        assert_eq!(d.feed(b"{\"abcdefgh\""), Err(Error::LineTooLong(8)));
    }
}
