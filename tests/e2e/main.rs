//! End-to-end tests: the real `hanzo-node` binary or the real runtime, real
//! plugins built from this repository (`make plugins`), real HTTP on
//! 127.0.0.1, real redb files. Upstream LLM services are replaced by local
//! servers speaking their wire formats (the `mock-upstream` crate).

mod common;
mod mock_openai;

mod api_openai;
mod auth;
mod bad_input;
mod cli;
mod coding_agents;
mod compat_api;
mod conformance;
mod connections;
mod containers;
mod fairness;
mod faults;
mod fetch_limits;
mod grants;
mod hot_swap;
mod jobs;
mod jobs_crash;
mod jobs_http;
mod js_plugins;
mod limits;
mod loader;
mod mcp;
mod mcp_client;
mod mcp_stdio;
mod multimodal;
mod plugin_new;
mod provider_openai;
mod python_plugins;
mod restart;
mod reuse;
mod router;
mod sandbox;
mod tee;
mod tenant_plugins;
mod tenants;
mod tools_api;
mod vectors;
