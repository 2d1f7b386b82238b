//! End-to-end tests: the real `hanzo-node` binary or the real runtime, real
//! plugins built from this repository (`make plugins`), real HTTP on
//! 127.0.0.1, real redb files. Upstream LLM services are replaced by a local
//! server speaking the OpenAI wire format.

mod common;
mod mock_anthropic;
mod mock_gemini;
mod mock_ollama;
mod mock_openai;
mod mock_server;

mod api_openai;
mod bad_input;
mod cli;
mod compat_api;
mod conformance;
mod connections;
mod fairness;
mod faults;
mod fetch_limits;
mod hot_swap;
mod jobs;
mod jobs_crash;
mod jobs_http;
mod limits;
mod loader;
mod provider_openai;
mod restart;
mod reuse;
mod router;
mod sandbox;
mod tools_api;
