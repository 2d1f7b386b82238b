//! Outbound HTTP. A [`Request`] goes out one of three ways, all under the
//! same host policy, keep-alive pool and timeouts:
//! [`fetch`](Request::fetch) (`hanzo:node/fetch`, the whole answer in one
//! host call), [`open`](Request::open) (`hanzo:node/fetch`, the head in one
//! call and the body read as it arrives) and [`send`](Request::send) (the
//! standard `wasi:http/outgoing-handler`, some thirty calls).
//!
//! The host decides which hosts a plugin may reach (the manifest's
//! `permissions.http`); a refused request fails with
//! [`HttpErrorKind::Denied`]. Everything here blocks the calling export until
//! the host has answered, which is the model of a synchronous component call.
//!
//! ```no_run
//! use hanzo_node_sdk::http::{HttpError, Request};
//! use std::time::Duration;
//!
//! fn create_item() -> Result<serde_json::Value, HttpError> {
//!     // At most 1 MiB of JSON; larger bodies are an error, not a truncation.
//!     let limit = 1 << 20;
//!     let response = Request::post("https://api.example.com/v1/items")
//!         .header("accept", "application/json")
//!         .json(&serde_json::json!({"name": "x"}))
//!         .first_byte_timeout(Duration::from_secs(30))
//!         .fetch(limit)?;
//!     response.json(limit)
//! }
//! ```

mod body;
mod error;
mod request;
mod response;
#[cfg(target_arch = "wasm32")]
mod transport;

pub(crate) use body::read_blocking;
pub use body::{Body, READ_CHUNK_BYTES, ReadChunk};
pub use error::{HttpError, HttpErrorKind};
pub use request::{Request, method_name};
pub use response::{Response, header_value};
pub use wasip2::http::types::{ErrorCode, Method};
