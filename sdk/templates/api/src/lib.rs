//! `{{name}}`: an HTTP API handler for Hanzo Node (a `wasi:http` incoming
//! handler with the node's interfaces). It serves under `/{{name}}`:
//! - `GET /{{name}}/hello`: a JSON greeting;
//! - `POST /{{name}}/notes` with `{"key", "text"}`: stores a note in kv
//!   (the calling tenant's own namespace);
//! - `GET /{{name}}/notes/{key}`: reads it back;
//! - `GET /{{name}}/tools`: the tools the calling tenant may use.

use hanzo_node_sdk::api::{self, Handler, IncomingRequest, JsonResponse, ResponseOutparam};
use hanzo_node_sdk::{kv, tools};
use serde_json::json;

const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct Plugin;

impl Handler for Plugin {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = api::method_name(&request.method()).to_string();
        let (path, _query) = api::path_and_query(&request);
        let rest = path.strip_prefix("/{{name}}").unwrap_or(&path);
        let (status, body) = match (method.as_str(), rest) {
            ("GET", "/hello") => (200, json!({"hello": "from {{name}}"})),
            ("POST", "/notes") => match api::read_body(&request, MAX_BODY_BYTES) {
                Ok(bytes) => store(&bytes),
                Err(e) => (413, api::error_body("body_too_large", &e.to_string())),
            },
            ("GET", r) if r.starts_with("/notes/") => {
                match kv::get(&r["/notes/".len()..]) {
                    Ok(Some(text)) => (200, json!({"text": String::from_utf8_lossy(&text)})),
                    Ok(None) => (404, api::error_body("not_found", "no such note")),
                    Err(e) => (500, api::error_body("kv_error", &format!("{e:?}"))),
                }
            }
            ("GET", "/tools") => match tools::list() {
                Ok(list) => (200, json!({"tools": list.iter().map(|t| &t.spec.name).collect::<Vec<_>>()})),
                Err(e) => (403, api::error_body("forbidden", &format!("{e:?}"))),
            },
            _ => (404, api::error_body("not_found", &format!("no route for {path}"))),
        };
        JsonResponse::new(status, &body).send(out);
    }
}

/// Stores `{"key", "text"}` in kv.
fn store(bytes: &[u8]) -> (u16, serde_json::Value) {
    #[derive(serde::Deserialize)]
    struct Note {
        key: String,
        text: String,
    }
    match serde_json::from_slice::<Note>(bytes) {
        Ok(n) => match kv::set(&n.key, n.text.as_bytes()) {
            Ok(()) => (201, json!({"stored": n.key})),
            Err(e) => (500, api::error_body("kv_error", &format!("{e:?}"))),
        },
        Err(e) => (400, api::error_body("invalid_json", &e.to_string())),
    }
}

hanzo_node_sdk::export_api!(Plugin);
