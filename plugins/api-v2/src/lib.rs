//! `api-v2`: the node's tool API over HTTP.
//!
//! | Method | Path                 | Answer                                   |
//! |--------|----------------------|------------------------------------------|
//! | GET    | `/v2/tools/list`     | `{"tools":[tool, ...]}`                  |
//! | GET    | `/v2/tools/{name}`   | one tool, or 404 `tool_not_found`        |
//! | POST   | `/v2/tools/execute`  | `{"tool":name,"result":<JSON>}`          |
//!
//! A tool is `{"name","description","plugin","parameters","result"}` with the
//! schemas as JSON values (`result` is null when the tool declares none).
//! Errors are `{"error":{"code","message"}}`; every response is JSON.

mod routes;

use hanzo_node_sdk::api::{self, Handler, IncomingRequest, ResponseOutparam};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The HTTP handler.
pub struct ApiV2;

impl Handler for ApiV2 {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = api::method_name(&request.method()).to_string();
        let (path, _query) = api::path_and_query(&request);
        let reply = routes::route(&routes::HostCatalog, &method, &path, || {
            api::read_body(&request, MAX_BODY_BYTES)
        });
        let allow;
        let headers: &[(&str, &str)] = match reply.allow {
            Some(methods) => {
                allow = [("allow", methods)];
                &allow
            }
            None => &[],
        };
        api::respond_json_with(out, reply.status, headers, &reply.body);
    }
}

hanzo_node_sdk::export_api!(ApiV2);
