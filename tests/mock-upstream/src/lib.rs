//! Mock LLM upstreams: local HTTP servers on 127.0.0.1 speaking each
//! provider's exact wire format, shared by the node's e2e tests and the
//! gateway benchmark.
//!
//! - [`openai`]: the OpenAI API, as a recording test mock with misbehaving
//!   models ([`openai::MockOpenAi`]) and as a lean load-test upstream
//!   ([`openai::LoadMock`]).
//! - [`anthropic`], [`gemini`], [`ollama`]: the Anthropic Messages, Gemini
//!   and Ollama APIs, each a [`MockServer`] with its own checks and
//!   misbehaving models.
//! - [`server`]: what they are built on: the listener, request recording,
//!   JSON and streamed responses.

pub mod anthropic;
pub mod gemini;
pub mod ollama;
pub mod openai;
pub mod server;

pub use server::{Body, MockServer, Recorded};
