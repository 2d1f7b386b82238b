//! `make bench-conns`: what an idle connection costs the node, and whether the
//! memory comes back. Starts `hanzo-node serve` (no plugins) with
//! `server.max_connections = N` and reads its RSS from `/proc/<pid>/status`:
//! at rest, with N idle `/v2/ws` WebSockets (each having answered one ping),
//! after they closed; the same with N idle keep-alive HTTP connections (each
//! having served one `GET /v2/health`); and how the node answers connections
//! past its cap. `CONNS=n` sets N (default 5000), all on 127.0.0.1.

use futures_util::{SinkExt, StreamExt};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{WebSocketStream, client_async_with_config};

const WAIT: Duration = Duration::from_secs(30);

struct Node {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Node {
    fn start(max_connections: usize) -> Node {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        let config = dir.path().join("node.toml");
        std::fs::write(
            &config,
            format!("[server]\nmax_connections = {max_connections}\n"),
        )
        .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_hanzo-node"))
            .args(["serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(&config)
            .arg("--plugins")
            .arg(dir.path().join("plugins"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .env("HANZO_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start hanzo-node");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let addr = loop {
            line.clear();
            assert!(out.read_line(&mut line).unwrap() > 0, "the node exited");
            if let Some(url) = line.trim().strip_prefix("listening on http://") {
                break url.to_string();
            }
        };
        Node {
            child,
            addr,
            _dir: dir,
        }
    }

    fn rss_kb(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .unwrap()
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .unwrap()
    }

    /// RSS once it stopped falling for two seconds (at most `WAIT`): the
    /// node trims its heap a quiet second after a burst of closes.
    async fn settled_rss_kb(&self) -> u64 {
        let deadline = Instant::now() + WAIT;
        let mut low = self.rss_kb();
        let mut low_since = Instant::now();
        while Instant::now() < deadline && low_since.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let now = self.rss_kb();
            if now < low {
                low = now;
                low_since = Instant::now();
            }
        }
        low
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Ws = WebSocketStream<TcpStream>;

async fn websockets(addr: &str, n: usize) -> Vec<Ws> {
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (mut ws, _) = tokio::time::timeout(
            WAIT,
            client_async_with_config(format!("ws://{addr}/v2/ws"), tcp, Some(config)),
        )
        .await
        .unwrap()
        .unwrap();
        ws.send(Message::Ping(b"hi".to_vec().into())).await.unwrap();
        all.push(ws);
    }
    for ws in &mut all {
        loop {
            match tokio::time::timeout(WAIT, ws.next()).await.unwrap() {
                Some(Ok(Message::Pong(_))) => break,
                Some(Ok(_)) => {}
                other => panic!("no pong: {other:?}"),
            }
        }
    }
    all
}

/// A keep-alive connection that has served one request; its status.
async fn http_get(addr: &str) -> (TcpStream, u16) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /v2/health HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 2048];
    // The answers are small: the head and the JSON body arrive together.
    while !got.ends_with(b"}") {
        let n = tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let status = String::from_utf8_lossy(&got[9..12]).parse().unwrap();
    (s, status)
}

fn per_conn(base: u64, with: u64, n: usize) -> f64 {
    with.saturating_sub(base) as f64 / n as f64
}

fn main() {
    let n: usize = std::env::var("CONNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    hanzo_node::conns::raise_open_files_limit(2 * n + 1024);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let node = Node::start(n);
        // Warm-up: what is set up once (runtimes, arenas, timers).
        drop(websockets(&node.addr, 200).await);
        let base = node.settled_rss_kb().await;

        let open = websockets(&node.addr, n).await;
        let with = node.rss_kb();
        // Past the cap.
        let mut refused = 0;
        for _ in 0..100 {
            if http_get(&node.addr).await.1 == 503 {
                refused += 1;
            }
        }
        drop(open);
        let after = node.settled_rss_kb().await;
        println!("idle WebSockets ({n}, server.max_connections = {n}):");
        println!(
            "  RSS at rest                 {:>8.1} MB",
            base as f64 / 1024.0
        );
        println!(
            "  RSS with {n:>5} WebSockets    {:>8.1} MB   {:.1} KB per connection",
            with as f64 / 1024.0,
            per_conn(base, with, n)
        );
        println!("  connections past the cap    {refused}/100 answered 503 too_many_connections");
        println!(
            "  RSS after they closed       {:>8.1} MB   ({:+.1} MB from rest)",
            after as f64 / 1024.0,
            (after as f64 - base as f64) / 1024.0
        );

        let base = after;
        let mut open = Vec::with_capacity(n);
        for _ in 0..n {
            let (s, status) = http_get(&node.addr).await;
            assert_eq!(status, 200);
            open.push(s);
        }
        let with = node.rss_kb();
        drop(open);
        let after = node.settled_rss_kb().await;
        println!("idle keep-alive HTTP/1.1 connections ({n}):");
        println!(
            "  RSS with {n:>5} connections   {:>8.1} MB   {:.1} KB per connection",
            with as f64 / 1024.0,
            per_conn(base, with, n)
        );
        println!(
            "  RSS after they closed       {:>8.1} MB   ({:+.1} MB from rest)",
            after as f64 / 1024.0,
            (after as f64 - base as f64) / 1024.0
        );
    });
}
