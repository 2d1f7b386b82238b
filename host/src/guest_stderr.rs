//! A plugin's standard error, kept as its last few KiB so that a crash can
//! be reported with the guest's own words. Language runtimes print their
//! failure there just before they trap: componentize-py writes the Python
//! traceback of an uncaught exception, then aborts; a Rust panic prints its
//! message. Without it the host sees only `unreachable` and a wasm backtrace.
//!
//! Nothing is forwarded to the node's own output (a plugin cannot flood the
//! operator's log through stderr); writes never fail and never block: past
//! [`TAIL_BYTES`], the oldest bytes are dropped.

use bytes::Bytes;
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// How much of the end of a plugin's stderr is kept.
pub const TAIL_BYTES: usize = 8 * 1024;

/// The tail of one store's stderr; clones share it.
#[derive(Clone, Default)]
pub struct StderrTail(Arc<Mutex<VecDeque<u8>>>);

impl StderrTail {
    fn push(&self, bytes: &[u8]) {
        let mut buf = crate::lock(&self.0);
        let bytes = &bytes[bytes.len().saturating_sub(TAIL_BYTES)..];
        let over = (buf.len() + bytes.len()).saturating_sub(TAIL_BYTES);
        buf.drain(..over);
        buf.extend(bytes);
    }

    /// What was written, lossily decoded and trimmed; none when nothing was.
    pub fn text(&self) -> Option<String> {
        let buf = crate::lock(&self.0);
        if buf.is_empty() {
            return None;
        }
        let (a, b) = buf.as_slices();
        let text = String::from_utf8_lossy(&[a, b].concat()).trim().to_string();
        (!text.is_empty()).then_some(text)
    }

    /// Forgets what was written (a reused store starts each call afresh).
    pub fn clear(&self) {
        crate::lock(&self.0).clear();
    }
}

impl IsTerminal for StderrTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for StderrTail {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl OutputStream for StderrTail {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl Pollable for StderrTail {
    fn ready<'a, 'b>(&'a mut self) -> Pin<Box<dyn Future<Output = ()> + Send + 'b>>
    where
        'a: 'b,
    {
        Box::pin(async {})
    }
}

impl tokio::io::AsyncWrite for StderrTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_tail() {
        let t = StderrTail::default();
        assert_eq!(t.text(), None);
        t.push(b"first\n");
        assert_eq!(t.text().as_deref(), Some("first"));
        t.push(&vec![b'x'; TAIL_BYTES]);
        t.push(b"ValueError: boom\n");
        let text = t.text().unwrap();
        assert!(text.ends_with("ValueError: boom"));
        assert!(!text.contains("first"));
        assert_eq!(text.len(), TAIL_BYTES - 1);
        t.clear();
        assert_eq!(t.text(), None);
    }
}
