//! Routing, over the [`Catalog`], [`Jobs`] and [`Agents`] traits so that the
//! handlers can be tested without a host. One module per resource; this one
//! dispatches on the path and holds what they share.

pub mod agents;
pub mod jobs;
pub mod tools;
pub mod vectors;

pub use agents::Agents;
pub use jobs::Jobs;
pub use tools::Catalog;
pub use vectors::Vectors;

use hanzo_node_sdk::api::{BodyError, error_body, percent_decode};
use serde_json::Value;

/// The path prefixes this plugin serves: the manifest's `routes` (a test
/// keeps the two in step).
#[cfg(test)]
pub const PREFIXES: &[&str] = &[
    "/v2/tools",
    "/v2/jobs",
    "/v2/agents",
    "/v2/collections",
    "/v2/embeddings",
    "/v2/openapi.json",
];

/// What the handlers need of the node.
pub trait Node: Catalog + Jobs + Agents + Vectors {}

impl<T: Catalog + Jobs + Agents + Vectors> Node for T {}

/// The node this plugin runs in: the host's `tools`, `jobs`, `agents`,
/// `vectors` and `llm`.
pub struct HostNode;

/// A request, as far as the handlers look at it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The query string, without the `?`.
    pub query: Option<&'a str>,
    /// The `Idempotency-Key` header.
    pub idempotency_key: Option<&'a str>,
}

/// A response to send.
#[derive(Debug, PartialEq)]
pub struct Reply {
    pub status: u16,
    /// The `allow` header of a 405.
    pub allow: Option<&'static str>,
    pub body: Value,
    /// A JSON document sent as is instead of `body` (the OpenAPI document).
    pub raw: Option<&'static str>,
}

impl Reply {
    pub fn ok(body: Value) -> Reply {
        Reply::with_status(200, body)
    }

    pub fn created(body: Value) -> Reply {
        Reply::with_status(201, body)
    }

    pub fn with_status(status: u16, body: Value) -> Reply {
        Reply {
            status,
            allow: None,
            body,
            raw: None,
        }
    }

    pub fn error(status: u16, code: &str, message: impl AsRef<str>) -> Reply {
        Reply::with_status(status, error_body(code, message.as_ref()))
    }

    pub fn not_found(path: &str) -> Reply {
        Reply::error(404, "not_found", format!("no such endpoint: {path}"))
    }

    pub fn method_not_allowed(method: &str, allow: &'static str) -> Reply {
        Reply {
            allow: Some(allow),
            ..Reply::error(
                405,
                "method_not_allowed",
                format!("{method} is not allowed here; use {allow}"),
            )
        }
    }

    /// The bytes of the body.
    pub fn body_text(&self) -> String {
        match self.raw {
            Some(raw) => raw.to_string(),
            None => self.body.to_string(),
        }
    }
}

/// Answers one request. `read_body` is only called for requests that take
/// a body.
pub fn route(
    node: &impl Node,
    request: &Request,
    read_body: impl FnOnce() -> Result<Vec<u8>, BodyError>,
) -> Reply {
    let path = request.path;
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Reply::not_found(path);
    };
    // A trailing slash is tolerated; empty segments are not.
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let segments: Vec<&str> = rest.split('/').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Reply::not_found(path);
    }
    let decoded: Vec<String> = segments[1..].iter().map(|s| percent_decode(s)).collect();
    let rest: Vec<&str> = decoded.iter().map(String::as_str).collect();
    match segments[0] {
        "tools" => tools::route(node, request, &rest, read_body),
        "jobs" => jobs::route(node, request, &rest, read_body),
        "agents" => agents::route(node, request, &rest, read_body),
        "collections" => vectors::collections(node, request, &rest, read_body),
        "embeddings" => vectors::embeddings(node, request, &rest, read_body),
        "openapi.json" if rest.is_empty() => crate::openapi::route(request),
        _ => Reply::not_found(path),
    }
}

/// Reads the body as JSON, or the error reply: 413 `body_too_large`, 400
/// `invalid_json`.
pub fn read_json(read_body: impl FnOnce() -> Result<Vec<u8>, BodyError>) -> Result<Value, Reply> {
    let body = match read_body() {
        Ok(body) => body,
        Err(BodyError::TooLarge(limit)) => {
            return Err(Reply::error(
                413,
                "body_too_large",
                format!("the request body is larger than {limit} bytes"),
            ));
        }
        Err(e @ BodyError::Read(_)) => {
            return Err(Reply::error(400, "invalid_request", e.to_string()));
        }
    };
    serde_json::from_slice(&body).map_err(|e| {
        Reply::error(
            400,
            "invalid_json",
            format!("the body is not valid JSON: {e}"),
        )
    })
}

/// A node for tests: canned tools (see [`tools::fake`]), jobs and agents in
/// memory (the `Jobs` and `Agents` impls are in their modules).
#[cfg(test)]
pub mod fake {
    use super::*;
    use std::cell::RefCell;

    #[derive(Default)]
    pub struct FakeNode {
        pub jobs: RefCell<jobs::fake::State>,
        pub agents: RefCell<agents::fake::State>,
        pub vectors: RefCell<vectors::fake::State>,
    }

    /// Sends a request to `node`.
    pub fn send(node: &FakeNode, method: &str, path_and_query: &str, body: Option<&str>) -> Reply {
        send_with(node, method, path_and_query, None, body)
    }

    /// [`send`] with an `Idempotency-Key` header.
    pub fn send_with(
        node: &FakeNode,
        method: &str,
        path_and_query: &str,
        idempotency_key: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let request = Request {
            method,
            path,
            query,
            idempotency_key,
        };
        let body = body.map(|b| b.as_bytes().to_vec());
        route(node, &request, move || {
            Ok(body.unwrap_or_else(|| panic!("{method} {path} should read no body")))
        })
    }

    /// The error code of a reply ("" when it is not an error).
    pub fn code(reply: &Reply) -> &str {
        reply.body["error"]["code"].as_str().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::fake::*;
    use super::*;

    #[test]
    fn unknown_paths() {
        let node = FakeNode::default();
        for path in [
            "/",
            "/v2",
            "/v2/",
            "/v2/other",
            "/v2/toolsx/list",
            "/v2/jobsx",
            "/v2/openapi.json/x",
            "/v2//jobs",
            "/v2/jobs//status",
            "/v1/jobs",
        ] {
            let r = send(&node, "GET", path, None);
            assert_eq!((r.status, code(&r)), (404, "not_found"), "{path}");
        }
    }

    #[test]
    fn oversized_bodies() {
        let node = FakeNode::default();
        for path in [
            "/v2/tools/execute",
            "/v2/jobs",
            "/v2/agents/create",
            "/v2/jobs/j/fork",
        ] {
            let request = Request {
                method: "POST",
                path,
                ..Request::default()
            };
            let r = route(&node, &request, || Err(BodyError::TooLarge(1 << 20)));
            assert_eq!((r.status, code(&r)), (413, "body_too_large"), "{path}");
        }
    }

    #[test]
    fn manifest_routes_are_the_prefixes() {
        let manifest = include_str!("../plugin.toml");
        let routes = manifest
            .lines()
            .find_map(|l| l.strip_prefix("routes = "))
            .expect("plugin.toml declares routes");
        let routes: Vec<String> = serde_json::from_str(routes).unwrap();
        assert_eq!(routes, PREFIXES);
        for permission in [
            "tools = true",
            "jobs = true",
            "agents = true",
            "vectors = true",
            "llm = true",
        ] {
            assert!(manifest.lines().any(|l| l == permission), "{permission}");
        }
    }
}
