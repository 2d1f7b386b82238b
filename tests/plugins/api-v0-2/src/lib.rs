//! Test plugin `api-v0-2`: an API plugin built against `hanzo:node@0.2.0`
//! (`wit/since_v0.2.0`) with wit-bindgen alone, as one released before 0.3.0
//! was.
//!
//! - `GET /old/chat?model=M`: asks the router (`llm@0.2.0`, text messages)
//!   for an answer to "hi from 0.2.0" and answers
//!   `{"text": ..., "provider": ..., "finish": ...}`.
//! - `GET /old/tools`: the names of the node's tools (`tools@0.2.0`).

wit_bindgen::generate!({
    path: "../../../wit/since_v0.2.0",
    world: "hanzo:node/api",
    generate_all,
});

use exports::wasi::http::incoming_handler::Guest;
use hanzo::node::llm::{self, CallOptions};
use hanzo::node::llm_types::{ChatRequest, Message, Role};
use hanzo::node::tools;
use wasi::http::types::{
    Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct ApiV02;

fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn chat(model: &str) -> (u16, String) {
    let request = ChatRequest {
        model: model.to_string(),
        messages: vec![Message {
            role: Role::User,
            content: "hi from 0.2.0".into(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
        }],
        tools: Vec::new(),
        tool_choice: None,
        temperature: None,
        top_p: None,
        max_tokens: None,
        stop: Vec::new(),
        json_mode: false,
        extra: None,
    };
    match llm::chat(&request, CallOptions { bypass_cache: true }) {
        Ok(r) => (
            200,
            format!(
                "{{\"text\":{},\"provider\":{},\"finish\":{}}}",
                quote(&r.response.message.content),
                quote(&r.route.provider),
                quote(&format!("{:?}", r.response.finish_reason)),
            ),
        ),
        Err(e) => (502, format!("{{\"error\":{}}}", quote(&format!("{e:?}")))),
    }
}

fn tool_names() -> (u16, String) {
    match tools::list() {
        Ok(list) => {
            let names: Vec<String> = list.iter().map(|t| quote(&t.spec.name)).collect();
            (200, format!("{{\"tools\":[{}]}}", names.join(",")))
        }
        Err(e) => (502, format!("{{\"error\":{}}}", quote(&format!("{e:?}")))),
    }
}

impl Guest for ApiV02 {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let path = request.path_with_query().unwrap_or_default();
        let (status, body) = match path.split_once('?') {
            Some(("/old/chat", query)) => chat(query.strip_prefix("model=").unwrap_or("old")),
            None if path == "/old/tools" => tool_names(),
            _ => (404, "{\"error\":\"not found\"}".to_string()),
        };
        let headers = Fields::new();
        let _ = headers.set("content-type", &[b"application/json".to_vec()]);
        let response = OutgoingResponse::new(headers);
        let _ = response.set_status_code(status);
        let Ok(outgoing) = response.body() else {
            return;
        };
        ResponseOutparam::set(out, Ok(response));
        if let Ok(stream) = outgoing.write() {
            for piece in body.as_bytes().chunks(4096) {
                let _ = stream.blocking_write_and_flush(piece);
            }
        }
        let _ = OutgoingBody::finish(outgoing, None);
    }
}

export!(ApiV02);
