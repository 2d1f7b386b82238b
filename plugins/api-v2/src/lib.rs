//! `api-v2`: the node's REST API for tools, jobs, agents, vector
//! collections and embeddings, over the host's `tools`, `jobs`, `agents`,
//! `vectors` and `llm` interfaces.
//!
//! | Method | Path                          | Answer                                               |
//! |--------|-------------------------------|------------------------------------------------------|
//! | GET    | `/v2/tools/list`              | `{"tools":[tool, ...]}`                              |
//! | GET    | `/v2/tools/{name}`            | one tool, or 404 `tool_not_found`                    |
//! | POST   | `/v2/tools/execute`           | `{"tool":name,"result":<JSON>}`                      |
//! | POST   | `/v2/jobs`                    | 201 `{"job":job,"existing":false}`; 200 with `existing: true` when the idempotency key (body field, else `Idempotency-Key` header) matched |
//! | GET    | `/v2/jobs?state=&kind=&before=&limit=` | `{"jobs":[job, ...],"next":id\|null}`       |
//! | GET    | `/v2/jobs/{id}`               | job                                                  |
//! | GET    | `/v2/jobs/{id}/status`        | `{"id","state","attempts","error","next_attempt_ms","updated_ms"}` |
//! | GET    | `/v2/jobs/{id}/results`       | `{"id","state","result","error","messages":[message, ...]}` |
//! | GET    | `/v2/jobs/{id}/messages?after=&limit=` | `{"messages":[message, ...]}`               |
//! | POST   | `/v2/jobs/{id}/cancel`        | job                                                  |
//! | POST   | `/v2/jobs/{id}/fork`          | body `{"message":n,"append"?:text}`: 201 job         |
//! | POST   | `/v2/jobs/{id}/branch`        | body `{"message":n}`: 201 job                        |
//! | POST   | `/v2/jobs/{id}/retry`         | the same as `branch`                                 |
//! | GET    | `/v2/agents/list`             | `{"agents":[agent, ...]}`                            |
//! | POST   | `/v2/agents/create`           | body agent spec: 201 agent                           |
//! | GET    | `/v2/agents/{id}`             | agent                                                |
//! | PUT, PATCH | `/v2/agents/{id}`         | the fields given replace the stored ones: agent      |
//! | DELETE | `/v2/agents/{id}`             | `{"deleted":true}`, or 404 `agent_not_found`         |
//! | GET    | `/v2/collections?namespace=`  | `{"collections":[collection, ...]}`                  |
//! | POST   | `/v2/collections`             | body `{"name","dimension"?,"metric"?,"fields"?,"model"?}`: 201 collection |
//! | GET    | `/v2/collections/{name}`      | collection, or 404 `collection_not_found`            |
//! | DELETE | `/v2/collections/{name}`      | `{"deleted":true}`                                   |
//! | POST   | `/v2/collections/{name}/records` | body `{"records":[{"id","vector"?,"text"?,"metadata"?}]}`: `{"upserted":n}` |
//! | POST   | `/v2/collections/{name}/delete`  | body `{"ids":[...]}`: `{"deleted":n}`             |
//! | POST   | `/v2/collections/{name}/search`  | as `/v2/embeddings/search`                        |
//! | POST   | `/v2/embeddings/generate`     | body `{"input","model"?}`: `{"model","dimension","embeddings","usage"}` |
//! | POST   | `/v2/embeddings/search`       | body `{"collection","text"?,"vector"?,"filter"?,"k"?,"mode"?}`: `{"collection","hits":[hit, ...]}` |
//! | GET    | `/v2/openapi.json`            | the OpenAPI 3.1 document of every `/v2` route        |
//!
//! A tool is `{"name","description","plugin","parameters","result"}` with the
//! schemas as JSON values (`result` is null when the tool declares none). Jobs,
//! job specs, messages, agents and agent specs have the JSON shapes of
//! [`hanzo_node_sdk::jobs`] and [`hanzo_node_sdk::agents`] (the host's
//! WebSocket shows the same); `openapi.json` describes them all.
//!
//! Errors are `{"error":{"code","message"}}`; every response is JSON. Codes:
//! `invalid_json` and `invalid_request` (400), `forbidden` (403, a permission
//! the manifest lacks), `not_found`, `tool_not_found`, `job_not_found`,
//! `agent_not_found`, `collection_not_found`, `model_not_found` (404),
//! `method_not_allowed` (405, with `allow`), `conflict`, `collection_exists`
//! (409), `body_too_large` (413), `quota_exceeded` (429), `store_error`
//! (500), the router's errors for embeddings, and the tool errors of
//! `/v2/tools/execute`.

mod openapi;
mod routes;

use hanzo_node_sdk::api::{self, Handler, IncomingRequest, ResponseOutparam};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The HTTP handler.
pub struct ApiV2;

impl Handler for ApiV2 {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let method = api::method_name(&request.method()).to_string();
        let (path, query) = api::path_and_query(&request);
        let idempotency_key = api::header(&request, "idempotency-key");
        let reply = routes::route(
            &routes::HostNode,
            &routes::Request {
                method: &method,
                path: &path,
                query: query.as_deref(),
                idempotency_key: idempotency_key.as_deref(),
            },
            || api::read_body(&request, MAX_BODY_BYTES),
        );
        let mut response = api::JsonResponse::raw(reply.status, reply.body_text());
        if let Some(methods) = reply.allow {
            response = response.header("allow", methods);
        }
        response.send(out);
    }
}

hanzo_node_sdk::export_api!(ApiV2);
