//! `GET /v2/openapi.json`: the OpenAPI 3.1 description of every `/v2` route,
//! the host's own included. The document is a static file (`openapi.json`
//! beside this one), sent as written; the tests below keep it in step with
//! the router.

use crate::routes::{Reply, Request};

/// The OpenAPI document.
pub const DOCUMENT: &str = include_str!("openapi.json");

/// Answers `/v2/openapi.json`.
pub fn route(request: &Request) -> Reply {
    match request.method {
        "GET" => Reply {
            raw: Some(DOCUMENT),
            ..Reply::ok(serde_json::Value::Null)
        },
        method => Reply::method_not_allowed(method, "GET"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::PREFIXES;
    use crate::routes::fake::{FakeNode, code, send};
    use serde_json::Value;
    use std::collections::BTreeSet;

    /// Every `/v2` route: the host's, then this plugin's.
    const ROUTES: &[(&str, &str)] = &[
        ("GET", "/v2/health"),
        ("GET", "/v2/plugins"),
        ("GET", "/v2/plugins/{name}"),
        ("GET", "/v2/usage"),
        ("GET", "/v2/deployments"),
        ("GET", "/v2/ws"),
        ("GET", "/v2/tenants"),
        ("POST", "/v2/tenants"),
        ("GET", "/v2/tenants/{name}"),
        ("POST", "/v2/tenants/{name}/keys"),
        ("DELETE", "/v2/tenants/{name}/keys/{id}"),
        ("GET", "/v2/tool-settings"),
        ("GET", "/v2/tool-settings/{name}"),
        ("PUT", "/v2/tool-settings/{name}"),
        ("DELETE", "/v2/tool-settings/{name}"),
        ("POST", "/v2/attestation"),
        ("POST", "/v2/attestation/verify"),
        ("GET", "/v2/keys"),
        ("POST", "/v2/keys"),
        ("GET", "/v2/keys/{name}"),
        ("DELETE", "/v2/keys/{name}"),
        ("POST", "/v2/keys/{name}/rotate"),
        ("GET", "/v2/openapi.json"),
        ("GET", "/v2/tools/list"),
        ("GET", "/v2/tools/{name}"),
        ("POST", "/v2/tools/execute"),
        ("GET", "/v2/jobs"),
        ("POST", "/v2/jobs"),
        ("GET", "/v2/jobs/{id}"),
        ("GET", "/v2/jobs/{id}/status"),
        ("GET", "/v2/jobs/{id}/results"),
        ("GET", "/v2/jobs/{id}/messages"),
        ("POST", "/v2/jobs/{id}/cancel"),
        ("POST", "/v2/jobs/{id}/fork"),
        ("POST", "/v2/jobs/{id}/branch"),
        ("POST", "/v2/jobs/{id}/retry"),
        ("GET", "/v2/agents/list"),
        ("POST", "/v2/agents/create"),
        ("GET", "/v2/agents/{id}"),
        ("PUT", "/v2/agents/{id}"),
        ("PATCH", "/v2/agents/{id}"),
        ("DELETE", "/v2/agents/{id}"),
        ("GET", "/v2/collections"),
        ("POST", "/v2/collections"),
        ("GET", "/v2/collections/{name}"),
        ("DELETE", "/v2/collections/{name}"),
        ("POST", "/v2/collections/{name}/records"),
        ("POST", "/v2/collections/{name}/delete"),
        ("POST", "/v2/collections/{name}/search"),
        ("POST", "/v2/embeddings/generate"),
        ("POST", "/v2/embeddings/search"),
    ];

    const METHODS: &[&str] = &[
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is valid JSON")
    }

    #[test]
    fn is_openapi_3_1_with_the_schemas() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["info"]["title"].is_string());
        for schema in [
            "Job",
            "JobSpec",
            "JobMessage",
            "Agent",
            "AgentSpec",
            "Collection",
            "SearchRequest",
            "Embeddings",
            "Error",
        ] {
            assert!(
                doc["components"]["schemas"][schema].is_object(),
                "missing schema {schema}"
            );
        }
    }

    #[test]
    fn lists_every_route_and_no_other() {
        let doc = document();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if METHODS.contains(&method.as_str()) {
                    documented.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        let expected: BTreeSet<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(documented, expected);
    }

    #[test]
    fn every_reference_resolves() {
        fn walk(value: &Value, doc: &Value) {
            match value {
                Value::Object(map) => {
                    if let Some(Value::String(target)) = map.get("$ref") {
                        let pointer = target.strip_prefix('#').expect("a local $ref");
                        assert!(doc.pointer(pointer).is_some(), "dangling $ref {target}");
                    }
                    map.values().for_each(|v| walk(v, doc));
                }
                Value::Array(items) => items.iter().for_each(|v| walk(v, doc)),
                _ => {}
            }
        }
        let doc = document();
        walk(&doc, &doc);
    }

    /// Each documented route of this plugin reaches a handler (neither 404
    /// `not_found` nor 405), and each path under its prefixes that the
    /// router answers is documented.
    #[test]
    fn matches_the_router() {
        for (method, template) in ROUTES {
            if !PREFIXES.iter().any(|p| template.starts_with(p)) {
                continue;
            }
            let path = template
                .replace("{id}", "job_1")
                .replace("{name}", "calculator");
            let path = if template.starts_with("/v2/agents/{id}") {
                template.replace("{id}", "agent_1")
            } else {
                path
            };
            let body = matches!(*method, "POST" | "PUT" | "PATCH").then_some("{}");
            let r = send(&FakeNode::default(), method, &path, body);
            assert!(
                r.status != 405 && code(&r) != "not_found",
                "{method} {path}: {} {}",
                r.status,
                r.body
            );
        }
    }

    #[test]
    fn served_as_written() {
        let r = send(&FakeNode::default(), "GET", "/v2/openapi.json", None);
        assert_eq!((r.status, r.raw), (200, Some(DOCUMENT)));
        assert_eq!(r.body_text(), DOCUMENT);
        let r = send(&FakeNode::default(), "POST", "/v2/openapi.json", None);
        assert_eq!((r.status, r.allow), (405, Some("GET")));
    }
}
