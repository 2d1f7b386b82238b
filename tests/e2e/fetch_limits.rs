//! `hanzo:node/fetch` reads a whole answer in the host, outside the plugin's
//! memory limit: a 1 GiB answer, declared or streamed, must fail with
//! `body-too-large` at the plugin's own memory limit (32 MiB for
//! `http-probe`), and the node's memory high-water mark must stay far below
//! the answer's size.

use crate::common::{Dirs, Node, install, set};
use crate::connections::proc_status_kb;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, StreamBody};
use hyper::Response;
use hyper::body::Frame;
use mock_upstream::{Body, MockServer, Recorded};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::client_async;
use tokio_tungstenite::tungstenite::Message;

const GIB: u64 = 1 << 30;
const CHUNK: usize = 64 * 1024;
static ZEROS: [u8; CHUNK] = [0; CHUNK];

/// `/declared`: 1 GiB with its `content-length`; `/streamed`: 1 GiB chunked;
/// anything else: 1 KiB.
fn huge(req: &Recorded) -> Response<Body> {
    let size = match req.path.as_str() {
        "/declared" | "/streamed" => GIB,
        _ => 1024,
    };
    let chunks = size.div_ceil(CHUNK as u64);
    let frames = futures::stream::iter(0..chunks).map(move |i| {
        let n = (size - i * CHUNK as u64).min(CHUNK as u64) as usize;
        Ok::<_, std::io::Error>(Frame::data(Bytes::from_static(&ZEROS[..n])))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(frames)));
    if req.path != "/streamed" {
        r.headers_mut()
            .insert("content-length", size.to_string().parse().unwrap());
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_fetch_answer_fails_at_the_plugins_memory_limit_and_rss_stays_flat() {
    let upstream = MockServer::start(huge).await;
    let grant = format!("127.0.0.1:{}", upstream.addr.port());
    let dirs = Dirs::new();
    install(&dirs.plugins, "http-probe", "http-probe", |m| {
        set(
            m,
            "permissions",
            "http",
            toml::Value::Array(vec![toml::Value::String(grant.clone())]),
        );
        set(m, "limits", "timeout_ms", toml::Value::Integer(60_000));
    });
    // The operator grants the loopback address the manifest requests.
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        format!("[plugins.http-probe]\nhttp = [\"{grant}\"]\n"),
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let addr = node.base.strip_prefix("http://").unwrap().to_string();
    let tcp = TcpStream::connect(&addr).await.unwrap();
    let (mut ws, _) = client_async(format!("ws://{addr}/v2/ws"), tcp)
        .await
        .unwrap();
    let mut call = async |path: &str| -> Value {
        let request = json!({
            "type": "ToolExecute", "request_id": path, "tool": "fetch",
            "arguments": {"url": format!("http://{grant}{path}"), "via": "fetch", "max_bytes": GIB},
        });
        ws.send(Message::text(request.to_string())).await.unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(120), ws.next())
                .await
                .expect("no answer in time")
                .unwrap()
                .unwrap();
            if let Message::Text(t) = frame {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["request_id"] == path {
                    return v;
                }
            }
        }
    };

    // A small answer goes through.
    let ok = call("/small").await;
    assert_eq!(ok["result"]["bytes"], 1024, "{ok}");
    let hwm_before = proc_status_kb(node.pid(), "VmHWM");
    for path in ["/declared", "/streamed"] {
        let r = call(path).await;
        let message = r["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("BodyTooLarge") && message.contains(&(32u64 << 20).to_string()),
            "{path}: {r}"
        );
    }
    let grew_mib = proc_status_kb(node.pid(), "VmHWM").saturating_sub(hwm_before) / 1024;
    eprintln!("the node's memory high-water mark grew by {grew_mib} MiB");
    assert!(
        grew_mib < 256,
        "a 1 GiB answer raised the node's high-water mark by {grew_mib} MiB"
    );
    // The node and the plugin still work.
    assert_eq!(call("/small").await["result"]["bytes"], 1024);
}
