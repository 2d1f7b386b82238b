//! Test plugin `api-crash`, an API handler that misbehaves on request:
//! `GET /crash/panic` traps, `GET /crash/spin` never answers (the host's time
//! limit must end it), `GET /crash/silent` returns without setting a response,
//! `GET /crash/forbidden-header` answers with a header the host refuses next to
//! one it keeps, anything else answers `{"ok":true}`.

use hanzo_node_sdk::api::{self, Handler, IncomingRequest, ResponseOutparam};

struct ApiCrash;

impl Handler for ApiCrash {
    fn handle(request: IncomingRequest, out: ResponseOutparam) {
        let (path, _) = api::path_and_query(&request);
        match path.as_str() {
            "/crash/panic" => panic!("this handler always panics"),
            "/crash/spin" => {
                let mut counter: u64 = 0;
                loop {
                    counter = std::hint::black_box(counter.wrapping_add(1));
                }
            }
            "/crash/silent" => drop(out),
            "/crash/forbidden-header" => {
                api::JsonResponse::new(200, &serde_json::json!({"ok": true}))
                    .header("upgrade", "h2c")
                    .header("x-kept", "yes")
                    .send(out)
            }
            _ => api::respond_json(out, 200, &serde_json::json!({"ok": true})),
        }
    }
}

hanzo_node_sdk::export_api!(ApiCrash);
