//! The bare forwarder: the least an LLM gateway does, as a user would write
//! it with hyper. It reads the request body, parses the JSON, rewrites
//! `model` (the bench alias to the upstream's model), and forwards it over a
//! pooled keep-alive client, streaming the answer back as it comes. No
//! routing, no auth, no plugins: the cost floor a gateway is measured against
//! (`gateway-bench forward`, started by the harness as its own process).

use bytes::Bytes;
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::net::SocketAddr;

type Body = BoxBody<Bytes, hyper::Error>;

/// The model the forwarder asks the upstream for, whatever the client named.
pub const UPSTREAM_MODEL: &str = "gpt-4o-mini";

/// Serves on 127.0.0.1:`port` until killed; `threads` tokio workers.
pub fn run(upstream: SocketAddr, port: u16, threads: usize) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Full<Bytes>> = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1024)
            .build(connector);
        let url: hyper::Uri = format!("http://{upstream}/v1/chat/completions").parse()?;
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            let client = client.clone();
            let url = url.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let client = client.clone();
                    let url = url.clone();
                    async move { Ok::<_, Infallible>(forward(&client, url, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

fn error(status: StatusCode, message: String) -> Response<Body> {
    let body = serde_json::json!({"error": {"message": message}}).to_string();
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed())
        .expect("a valid response")
}

async fn forward(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: hyper::Uri,
    req: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let mut json: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    match json.as_object_mut() {
        Some(o) => {
            o.insert("model".into(), UPSTREAM_MODEL.into());
        }
        None => return error(StatusCode::BAD_REQUEST, "not a JSON object".into()),
    }
    let body = Bytes::from(serde_json::to_vec(&json).expect("a Value serializes"));
    let mut up = Request::builder()
        .method(hyper::Method::POST)
        .uri(url)
        .header(hyper::header::CONTENT_TYPE, "application/json");
    if let Some(auth) = parts.headers.get(hyper::header::AUTHORIZATION) {
        up = up.header(hyper::header::AUTHORIZATION, auth);
    }
    let up = up.body(Full::new(body)).expect("a valid request");
    match client.request(up).await {
        Ok(resp) => resp.map(BodyExt::boxed),
        Err(e) => error(StatusCode::BAD_GATEWAY, e.to_string()),
    }
}
