//! Client connections against the real binary: a request head sent half-way
//! or not at all and an idle keep-alive connection are closed after their
//! timeouts while a slow request is not; past `server.max_connections`
//! (WebSockets included) new connections get `503 too_many_connections` and
//! the node serves again once they close; a request head over 64 KiB gets
//! 431; an idle WebSocket costs a few KB and the memory comes back after a
//! burst; `/v2/ws` refuses other sites' pages; a chunked body over
//! `max_body_bytes` gets 413. Every wait is bounded; no assertion is about
//! time.

use crate::common::{Dirs, Node, install};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::{WebSocketStream, client_async, client_async_with_config};

/// The bound on every wait for the node to do something.
const WAIT: Duration = Duration::from_secs(30);

fn node_with(dirs: &Dirs, config: &str) -> Node {
    let path = dirs.root.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    Node::start(dirs, &["--config", path.to_str().unwrap()])
}

fn addr(node: &Node) -> String {
    node.base.strip_prefix("http://").unwrap().to_string()
}

/// Reads until the node closes the connection; what it sent before. Panics
/// if it is still open after [`WAIT`].
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(WAIT, s.read(&mut buf)).await {
            Err(_) => panic!(
                "the node kept the connection open (sent so far: {:?})",
                String::from_utf8_lossy(&got)
            ),
            Ok(Ok(0)) | Ok(Err(_)) => return got,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Sends `GET path` on `s` (keep-alive) and reads one response: its status
/// and JSON body (the node answers with a content-length).
async fn get_on(s: &mut TcpStream, path: &str) -> (u16, Value) {
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    read_response(s).await
}

async fn read_response(s: &mut TcpStream) -> (u16, Value) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&got[..end]).to_string();
            let status: u16 = head.split(' ').nth(1).unwrap().parse().unwrap();
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or_else(|| panic!("no content-length in {head}"));
            while got.len() < end + 4 + length {
                let n = tokio::time::timeout(WAIT, s.read(&mut buf))
                    .await
                    .expect("the response did not come")
                    .unwrap();
                assert!(n > 0, "closed mid-response");
                got.extend_from_slice(&buf[..n]);
            }
            let body = serde_json::from_slice(&got[end + 4..end + 4 + length]).unwrap();
            return (status, body);
        }
        let n = tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .expect("the response did not come")
            .unwrap();
        assert!(
            n > 0,
            "closed before a response: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_heads_and_idle_connections_are_closed_but_slow_requests_are_not() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    let node = node_with(
        &dirs,
        "[server]\nheader_read_timeout_ms = 300\nidle_timeout_ms = 600\n",
    );
    let addr = addr(&node);

    // Slowloris: half a request head, then nothing.
    let mut half = TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /v2/health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-a: 1\r\n")
        .await
        .unwrap();
    // Fewer bytes than hyper needs to tell HTTP/1 from HTTP/2.
    let mut tiny = TcpStream::connect(&addr).await.unwrap();
    tiny.write_all(b"GET /").await.unwrap();
    // Nothing at all.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    // One request, then idle on a keep-alive connection.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    assert_eq!(get_on(&mut idle, "/v2/health").await.0, 200);

    // A request in flight for longer than both timeouts, on a raw connection.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let body = json!({"tool": "slow_answer", "arguments": {"ms": 2000}}).to_string();
    slow.write_all(
        format!(
            "POST /v2/tools/execute HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();

    for (what, s) in [
        ("half a head", &mut half),
        ("a few bytes", &mut tiny),
        ("nothing", &mut silent),
        ("an idle keep-alive connection", &mut idle),
    ] {
        let sent = read_to_close(s).await;
        assert!(
            sent.is_empty() || sent.starts_with(b"HTTP/1.1 408"),
            "{what}: {:?}",
            String::from_utf8_lossy(&sent)
        );
    }
    let (status, answer) = read_response(&mut slow).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["tool"], "slow_answer", "{answer}");
    // The slow request's connection is kept for the next one.
    assert_eq!(get_on(&mut slow, "/v2/health").await.0, 200);
    // And the node serves new connections.
    let mut fresh = TcpStream::connect(&addr).await.unwrap();
    assert_eq!(get_on(&mut fresh, "/v2/health").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_head_over_64_kib_gets_431() {
    let dirs = Dirs::new();
    let node = Node::start(&dirs, &[]);
    let addr = addr(&node);
    let head = |pad: usize| {
        format!(
            "GET /v2/health HTTP/1.1\r\nhost: 127.0.0.1\r\nx-pad: {}\r\n\r\n",
            "a".repeat(pad)
        )
    };
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(head(100 * 1024).as_bytes()).await.unwrap();
    let sent = read_to_close(&mut s).await;
    assert!(
        sent.starts_with(b"HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&sent)
    );
    let mut s = TcpStream::connect(&addr).await.unwrap();
    s.write_all(head(32 * 1024).as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut s).await.0, 200);
}

type Ws = WebSocketStream<TcpStream>;

async fn ws_connect(addr: &str) -> Ws {
    let tcp = TcpStream::connect(addr).await.unwrap();
    // Small client buffers: a thousand of these live in the test process.
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (ws, response) = tokio::time::timeout(
        WAIT,
        client_async_with_config(format!("ws://{addr}/v2/ws"), tcp, Some(config)),
    )
    .await
    .expect("the WebSocket handshake timed out")
    .expect("the WebSocket handshake failed");
    assert_eq!(response.status(), 101);
    ws
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_connection_cap_new_connections_get_503_until_some_close() {
    let dirs = Dirs::new();
    let node = node_with(&dirs, "[server]\nmax_connections = 6\n");
    let addr = addr(&node);

    // Four keep-alive connections and two WebSockets fill the node.
    let mut http = Vec::new();
    for _ in 0..4 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        assert_eq!(get_on(&mut s, "/v2/health").await.0, 200);
        http.push(s);
    }
    let mut ws = vec![ws_connect(&addr).await, ws_connect(&addr).await];

    let refused = |what: &'static str| {
        let addr = addr.clone();
        async move {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            let (status, body) = get_on(&mut s, "/v2/health").await;
            assert_eq!(status, 503, "{what}: {body}");
            assert_eq!(
                body["error"]["code"], "too_many_connections",
                "{what}: {body}"
            );
            assert!(body["error"]["message"].is_string(), "{what}: {body}");
            // And the connection is closed.
            read_to_close(&mut s).await;
        }
    };
    for _ in 0..3 {
        refused("over the cap").await;
    }
    // A WebSocket handshake past the cap is refused the same way.
    let tcp = TcpStream::connect(&addr).await.unwrap();
    match client_async(format!("ws://{addr}/v2/ws"), tcp).await {
        Err(WsError::Http(r)) => assert_eq!(r.status(), 503),
        other => panic!("expected a 503, got {:?}", other.map(|(_, r)| r.status())),
    }
    // The connections in place still work.
    assert_eq!(get_on(&mut http[0], "/v2/health").await.0, 200);
    ws[0]
        .send(Message::Ping(b"x".to_vec().into()))
        .await
        .unwrap();

    // Closing a WebSocket frees its place.
    let closed = ws.pop().unwrap();
    drop(closed);
    let mut again = None;
    for _ in 0..600 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        if get_on(&mut s, "/v2/health").await.0 == 200 {
            again = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let again = again.expect("a closed WebSocket's place was never freed");
    refused("full again").await;

    // Once everything closes, the node serves as many as before.
    drop((http, ws, again));
    let mut served = Vec::new();
    for _ in 0..600 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        if get_on(&mut s, "/v2/health").await.0 == 200 {
            served.push(s);
            if served.len() == 6 {
                break;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_eq!(
        served.len(),
        6,
        "the closed connections' places were not freed"
    );
    refused("full with new ones").await;
}

/// `field` (in kB) of `/proc/<pid>/status`.
pub fn proc_status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap()
}

/// Opens `n` WebSockets, each answering a ping (so the node has set up and
/// used each one).
async fn open_websockets(addr: &str, n: usize) -> Vec<Ws> {
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        let mut ws = ws_connect(addr).await;
        ws.send(Message::Ping(b"hi".to_vec().into())).await.unwrap();
        all.push(ws);
    }
    for ws in &mut all {
        loop {
            match tokio::time::timeout(WAIT, ws.next()).await {
                Ok(Some(Ok(Message::Pong(_)))) => break,
                Ok(Some(Ok(_))) => {}
                other => panic!("no pong: {other:?}"),
            }
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_websocket_costs_a_few_kb_and_memory_comes_back() {
    const N: usize = 1000;
    hanzo_node::conns::raise_open_files_limit(2 * N + 1024);
    let dirs = Dirs::new();
    let node = Node::start(&dirs, &[]);
    let addr = addr(&node);
    let rss = || proc_status_kb(node.pid(), "VmRSS");

    // Warm up: whatever is set up once (tasks, buffers, the allocator's arenas).
    drop(open_websockets(&addr, 200).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let baseline = rss();
    let open = open_websockets(&addr, N).await;
    let with = rss();
    let per_conn = with.saturating_sub(baseline) as f64 / N as f64;
    eprintln!("RSS {baseline} kB, with {N} idle WebSockets {with} kB: {per_conn:.1} kB each");
    assert!(
        per_conn < 32.0,
        "an idle WebSocket costs {per_conn:.1} kB (RSS {baseline} → {with} kB for {N})"
    );

    drop(open);
    // The node trims its heap a quiet second after a burst of closes.
    let mut after = rss();
    for _ in 0..100 {
        if after <= baseline + (with - baseline) / 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = rss();
    }
    eprintln!("RSS after they closed: {after} kB");
    assert!(
        after <= baseline + (with.saturating_sub(baseline)) / 4,
        "RSS stayed at {after} kB after the WebSockets closed (baseline {baseline} kB, {with} kB with them)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_from_other_sites_pages_are_refused() {
    let dirs = Dirs::new();
    let node = node_with(
        &dirs,
        "[ws]\nallowed_origins = [\"https://app.example.com\"]\n",
    );
    let addr = addr(&node);
    let port = addr.rsplit_once(':').unwrap().1.to_string();

    let handshake = |origin: Option<String>| {
        let addr = addr.clone();
        async move {
            let mut request = format!("ws://{addr}/v2/ws").into_client_request().unwrap();
            if let Some(o) = origin {
                request.headers_mut().insert("origin", o.parse().unwrap());
            }
            let tcp = TcpStream::connect(&addr).await.unwrap();
            match client_async(request, tcp).await {
                Ok((_, r)) => (r.status().as_u16(), Value::Null),
                Err(WsError::Http(r)) => {
                    let status = r.status().as_u16();
                    let body = r.into_body().map(|b| serde_json::from_slice(&b).unwrap());
                    (status, body.unwrap_or(Value::Null))
                }
                Err(e) => panic!("{e}"),
            }
        }
    };
    // No Origin (not a browser), the node's own, and the operator's.
    assert_eq!(handshake(None).await.0, 101);
    assert_eq!(
        handshake(Some(format!("http://127.0.0.1:{port}"))).await.0,
        101
    );
    assert_eq!(
        handshake(Some("https://app.example.com".into())).await.0,
        101
    );
    // Any other page.
    for origin in [
        "https://evil.example".to_string(),
        format!("http://localhost:{port}"),
        "http://127.0.0.1".to_string(),
        format!("https://127.0.0.1.evil.example:{port}"),
        "null".to_string(),
    ] {
        let (status, body) = handshake(Some(origin.clone())).await;
        assert_eq!(status, 403, "{origin}: {body}");
        assert_eq!(
            body["error"]["code"], "origin_not_allowed",
            "{origin}: {body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_the_limit_gets_413() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    let node = node_with(&dirs, "max_body_bytes = 1024\n");
    let c = crate::common::client();
    let url = node.url("/v2/tools/execute");
    let big = json!({"tool": "noop", "arguments": {"pad": "x".repeat(4096)}}).to_string();
    let small = json!({"tool": "noop"}).to_string();
    let chunked = |text: String| {
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = text
            .into_bytes()
            .chunks(256)
            .map(|c| Ok(c.to_vec()))
            .collect();
        reqwest::Body::wrap_stream(futures::stream::iter(chunks))
    };
    for (what, body) in [
        ("declared", reqwest::Body::from(big.clone())),
        ("chunked", chunked(big.clone())),
    ] {
        let r = c.post(&url).body(body).send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        assert_eq!(status, 413, "{what}: {body}");
        assert_eq!(body["error"]["code"], "body_too_large", "{what}: {body}");
    }
    // Under the limit, chunked or not, the plugin answers.
    for body in [reqwest::Body::from(small.clone()), chunked(small)] {
        let r = c.post(&url).body(body).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
}
