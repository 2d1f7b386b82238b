//! Identity and authentication on the real binary, over real HTTP: tenants
//! and keys made with `hanzo-node tenant …` and the admin API, the levels of
//! host and plugin routes, tenants kept apart, the official OpenAI and
//! Anthropic SDKs with a tenant's key, signed requests (replay, clock
//! skew), and the defences against browsers (Host, Origin, CORS).

use crate::common::{Dirs, Node, client, eventually, install};
use crate::mock_openai::MockOpenAi;
use ed25519_dalek::Signer;
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const WAIT: Duration = Duration::from_secs(30);

/// `hanzo-node ARGS --data-dir <dirs.data>`: success, stdout, stderr.
pub(crate) fn cli(dirs: &Dirs, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hanzo-node"))
        .args(args)
        .arg("--data-dir")
        .arg(&dirs.data)
        .current_dir(dirs.root.path())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Creates `tenant` (if new) and adds a key of `scope`: its secret.
pub(crate) fn tenant_key(dirs: &Dirs, tenant: &str, scope: &str) -> String {
    let (ok, _, err) = cli(dirs, &["tenant", "create", tenant]);
    assert!(ok || err.contains("already exists"), "{err}");
    let (ok, out, err) = cli(dirs, &["tenant", "key", "add", tenant, "--scope", scope]);
    assert!(ok, "{err}");
    let secret = out.trim().to_string();
    assert!(secret.starts_with("hk_"), "{out}");
    secret
}

/// A request with `key` as its bearer (none: no credential): status, headers, JSON body.
async fn call(
    method: reqwest::Method,
    url: String,
    key: Option<&str>,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut rb = client().request(method, url);
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub(crate) async fn get(node: &Node, path: &str, key: Option<&str>) -> (u16, Value) {
    let (s, _, v) = call(reqwest::Method::GET, node.url(path), key, None).await;
    (s, v)
}

pub(crate) async fn delete(node: &Node, path: &str, key: Option<&str>) -> (u16, Value) {
    let (s, _, v) = call(reqwest::Method::DELETE, node.url(path), key, None).await;
    (s, v)
}

pub(crate) async fn post(node: &Node, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
    let (s, _, v) = call(reqwest::Method::POST, node.url(path), key, Some(body)).await;
    (s, v)
}

/// Calls a tool through `/v2/tools/execute` as the tenant of `key`.
async fn tool(node: &Node, key: &str, name: &str, arguments: Value) -> Value {
    let (s, v) = post(
        node,
        "/v2/tools/execute",
        Some(key),
        json!({"tool": name, "arguments": arguments}),
    )
    .await;
    assert_eq!(s, 200, "{name}: {v}");
    v["result"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_routes_levels_and_tenant_management() {
    let dirs = Dirs::new();
    // An api plugin's route raised to admin by its manifest.
    install(&dirs.plugins, "api-v2", "api-v2", |m| {
        let levels = m["route_levels"].as_table_mut().unwrap();
        levels.insert("/v2/tools".into(), toml::Value::String("admin".into()));
    });
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    let user = tenant_key(&dirs, "acme", "user");
    let admin = tenant_key(&dirs, "ops", "admin");
    let node = Node::start(&dirs, &[]);

    // Public: health (with the node's identity) and the API's description.
    let (s, health) = get(&node, "/v2/health", None).await;
    assert_eq!(s, 200, "{health}");
    assert_eq!(health["auth"], "keys");
    let pk = health["identity"]["public_key"].as_str().unwrap();
    assert!(pk.len() == 64 && hex::decode(pk).is_ok(), "{health}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dirs.data.join("identity.ed25519"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(get(&node, "/v2/openapi.json", None).await.0, 200);

    // Admin routes: 401 without a key, 403 with a user's, 200 with an admin's.
    for path in [
        "/v2/plugins",
        "/v2/plugins/api-v2",
        "/v2/deployments",
        "/v2/tenants",
        "/v2/tool-settings",
        "/v2/tool-settings/echo",
        "/v2/tools/list",
    ] {
        let (s, h, v) = call(reqwest::Method::GET, node.url(path), None, None).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{path}: {v}"
        );
        assert!(
            h["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer"),
            "{path}"
        );
        let (s, v) = get(&node, path, Some(&user)).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{path}: {v}"
        );
        let (s, v) = get(&node, path, Some(&admin)).await;
        assert_eq!(s, 200, "{path}: {v}");
    }
    // User routes: 401 without a key or with a wrong one, 200 with one.
    for path in ["/v2/jobs", "/v2/agents/list", "/v2/usage"] {
        let (s, v) = get(&node, path, None).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{path}: {v}"
        );
        let (s, v) = get(&node, path, Some("hk_0000")).await;
        assert_eq!(s, 401, "{path}: {v}");
        assert_eq!(get(&node, path, Some(&user)).await.0, 200, "{path}");
    }
    // A path that exists and one that does not look alike without a key:
    // routes cannot be probed anonymously.
    for path in ["/v2/no-such-route", "/nowhere"] {
        let (s, v) = get(&node, path, None).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (401, Some("unauthorized")),
            "{path}: {v}"
        );
        let (s, v) = get(&node, path, Some(&user)).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}: {v}"
        );
    }
    // Anthropic's header works as well as a bearer.
    let r = client()
        .get(node.url("/v2/jobs"))
        .header("x-api-key", &user)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // Tenant management over the admin API: create, key, use, revoke.
    let (s, v) = post(&node, "/v2/tenants", Some(&admin), json!({"name": "beta"})).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = post(&node, "/v2/tenants", Some(&admin), json!({"name": "beta"})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("tenant_exists")),
        "{v}"
    );
    let (s, v) = post(&node, "/v2/tenants", Some(&user), json!({"name": "gamma"})).await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = post(&node, "/v2/tenants/beta/keys", Some(&admin), json!({})).await;
    assert_eq!(s, 201, "{v}");
    let beta = v["secret"].as_str().unwrap().to_string();
    let beta_id = v["key"]["id"].as_str().unwrap().to_string();
    assert!(v["key"].get("secret_blake3").is_none(), "{v}");
    assert_eq!(get(&node, "/v2/jobs", Some(&beta)).await.0, 200);
    let (s, _, v) = call(
        reqwest::Method::DELETE,
        node.url(&format!("/v2/tenants/beta/keys/{beta_id}")),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert!(v["key"]["revoked_at"].is_u64(), "{v}");
    assert_eq!(get(&node, "/v2/jobs", Some(&beta)).await.0, 401);
    let (_, list) = get(&node, "/v2/tenants", Some(&admin)).await;
    let names: Vec<&str> = list["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["acme", "beta", "ops"], "{list}");

    // The CLI, while the node runs: a key added works, a key revoked stops.
    let (ok, out, err) = cli(&dirs, &["tenant", "key", "add", "acme"]);
    assert!(ok, "{err}");
    let fresh = out.trim().to_string();
    let works = eventually(WAIT, async || {
        get(&node, "/v2/jobs", Some(&fresh)).await.0 == 200
    })
    .await;
    assert!(works, "a key added by the CLI was not picked up");
    let (ok, out, _) = cli(&dirs, &["tenant", "list", "--json"]);
    assert!(ok);
    assert!(
        !out.contains(&fresh) && !out.contains("secret_blake3"),
        "{out}"
    );
    let listed: Value = serde_json::from_str(&out).unwrap();
    let id = listed["tenants"][0]["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["revoked_at"].is_null() && fresh.starts_with(k["prefix"].as_str().unwrap()))
        .map(|k| k["id"].as_str().unwrap().to_string())
        .unwrap();
    let (ok, _, err) = cli(&dirs, &["tenant", "key", "revoke", "acme", &id]);
    assert!(ok, "{err}");
    let stopped = eventually(WAIT, async || {
        get(&node, "/v2/jobs", Some(&fresh)).await.0 == 401
    })
    .await;
    assert!(stopped, "a key revoked by the CLI still works");

    // A WebSocket from another site's page is refused, even with a key.
    let addr = node.base.strip_prefix("http://").unwrap().to_string();
    let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
    s.write_all(
        format!(
            "GET /v2/ws HTTP/1.1\r\nhost: {addr}\r\nconnection: Upgrade\r\nupgrade: websocket\r\n\
             sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             origin: https://evil.example\r\nauthorization: Bearer {user}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let head = read_head(&mut s).await;
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
    assert!(head.contains("origin_not_allowed"), "{head}");
}

/// Reads an answer until the connection closes or the body is in.
async fn read_head(s: &mut tokio::net::TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) if !got.is_empty() => break,
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_see_only_their_own_jobs_agents_and_kv() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    install(&dirs.plugins, "kv-probe", "kv-probe", |_| {});
    let alpha = tenant_key(&dirs, "alpha", "user");
    let beta = tenant_key(&dirs, "beta", "user");
    let node = Node::start(&dirs, &[]);

    // Alpha's job, agent and kv entry.
    let (s, v) = post(
        &node,
        "/v2/jobs",
        Some(&alpha),
        json!({"kind": "tool", "input": {"tool": "answer", "arguments": {}}}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let job = v["job"]["id"].as_str().unwrap().to_string();
    let (s, v) = post(
        &node,
        "/v2/agents/create",
        Some(&alpha),
        json!({"name": "helper", "model": "m", "system_prompt": "hi", "tools": []}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let agent = v["id"].as_str().unwrap().to_string();
    tool(
        &node,
        &alpha,
        "put",
        json!({"key": "secret", "value": "alpha's"}),
    )
    .await;

    // Alpha sees them.
    let (_, jobs) = get(&node, "/v2/jobs", Some(&alpha)).await;
    assert!(jobs.to_string().contains(&job), "{jobs}");
    assert_eq!(
        get(&node, &format!("/v2/jobs/{job}"), Some(&alpha)).await.0,
        200
    );
    assert_eq!(
        get(&node, &format!("/v2/agents/{agent}"), Some(&alpha))
            .await
            .0,
        200
    );
    let got = tool(&node, &alpha, "get", json!({"key": "secret"})).await;
    assert_eq!(got["value"], "alpha's", "{got}");

    // Beta sees none of them.
    let (s, jobs) = get(&node, "/v2/jobs", Some(&beta)).await;
    assert_eq!(s, 200);
    assert!(!jobs.to_string().contains(&job), "{jobs}");
    assert_eq!(
        get(&node, &format!("/v2/jobs/{job}"), Some(&beta)).await.0,
        404
    );
    let (_, agents) = get(&node, "/v2/agents/list", Some(&beta)).await;
    assert!(!agents.to_string().contains(&agent), "{agents}");
    assert_eq!(
        get(&node, &format!("/v2/agents/{agent}"), Some(&beta))
            .await
            .0,
        404
    );
    let got = tool(&node, &beta, "get", json!({"key": "secret"})).await;
    assert_eq!(got["value"], Value::Null, "{got}");
    let listed = tool(&node, &beta, "list", json!({"prefix": ""})).await;
    assert_eq!(listed["keys"], json!([]), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdks_with_tenant_keys_and_usage_per_tenant() {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    install(&dirs.plugins, "openai", "openai", |_| {});
    install(&dirs.plugins, "api-openai", "api-openai", |_| {});
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[plugins.openai]\nconfig = {{ base_url = \"{}\" }}\nallow_hosts = [\"{}\"]\n\n\
             [[deployments]]\nalias = \"gpt-mock\"\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\n\n\
             [[deployments]]\nalias = \"embed-mock\"\nprovider = \"openai\"\nmodel = \"text-embedding-3-small\"\n",
            mock.base_url(),
            mock.addr
        ),
    )
    .unwrap();
    let alpha = tenant_key(&dirs, "alpha", "user");
    let beta = tenant_key(&dirs, "beta", "user");
    let admin = tenant_key(&dirs, "ops", "admin");
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);

    // A wrong key: the SDKs' authentication error, OpenAI's status.
    let (s, v) = post(
        &node,
        "/v1/chat/completions",
        Some("hk_wrong"),
        json!({"model": "gpt-mock", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("unauthorized")),
        "{v}"
    );

    let base = node.base.clone();
    let (a, b) = (alpha.clone(), beta.clone());
    tokio::task::spawn_blocking(move || {
        crate::compat_api::run_check(
            "check_openai_sdk.py",
            &[
                &base,
                "gpt-mock",
                "--embedding-model",
                "embed-mock",
                "--api-key",
                &a,
            ],
        );
        crate::compat_api::run_check(
            "check_anthropic_sdk.py",
            &[&base, "gpt-mock", "--api-key", &b],
        );
    })
    .await
    .unwrap();

    // Each tenant sees its own usage only; the operator sees every tenant's.
    let (s, mine) = get(&node, "/v2/usage", Some(&alpha)).await;
    assert_eq!(s, 200);
    let tenants: Vec<&String> = mine["tenants"].as_object().unwrap().keys().collect();
    assert_eq!(tenants, ["alpha"], "{mine}");
    assert!(
        mine["tenants"]["alpha"]["requests"].as_u64().unwrap() > 0,
        "{mine}"
    );
    assert!(mine.get("deployments").is_none(), "{mine}");
    let (_, theirs) = get(&node, "/v2/usage", Some(&beta)).await;
    let tenants: Vec<&String> = theirs["tenants"].as_object().unwrap().keys().collect();
    assert_eq!(tenants, ["beta"], "{theirs}");
    let (_, all) = get(&node, "/v2/usage", Some(&admin)).await;
    assert!(
        all["tenants"]["alpha"]["requests"].as_u64().unwrap() > 0,
        "{all}"
    );
    assert!(
        all["tenants"]["beta"]["requests"].as_u64().unwrap() > 0,
        "{all}"
    );
    assert!(all["tenants"].get("default").is_none(), "{all}");

    // The response cache: alpha's answer is a hit for alpha only.
    let ask =
        json!({"model": "gpt-mock", "messages": [{"role": "user", "content": "cached once"}]});
    let mut seen = Vec::new();
    for key in [&alpha, &alpha, &beta, &beta] {
        let (s, headers, v) = call(
            reqwest::Method::POST,
            node.url("/v1/chat/completions"),
            Some(key),
            Some(ask.clone()),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        seen.push(headers["x-hanzo-cache"].to_str().unwrap().to_string());
    }
    assert_eq!(seen, ["miss", "hit", "miss", "hit"]);
}

/// Signs a request as `key` would: the headers to send.
fn signed_headers(
    key: &ed25519_dalek::SigningKey,
    method: &str,
    target: &str,
    body: &[u8],
    timestamp: u64,
    nonce: &str,
) -> Vec<(&'static str, String)> {
    use sha2::Digest;
    let message = format!(
        "hanzo-request-v1\n{method}\n{target}\n{}\n{timestamp}\n{nonce}",
        hex::encode(sha2::Sha256::digest(body))
    );
    vec![
        (
            "x-hanzo-public-key",
            hex::encode(key.verifying_key().as_bytes()),
        ),
        ("x-hanzo-timestamp", timestamp.to_string()),
        ("x-hanzo-nonce", nonce.to_string()),
        (
            "x-hanzo-signature",
            hex::encode(key.sign(message.as_bytes()).to_bytes()),
        ),
    ]
}

async fn send_signed(node: &Node, headers: &[(&str, String)], body: &[u8]) -> (u16, Value) {
    let mut rb = client()
        .post(node.url("/v2/jobs"))
        .header("content-type", "application/json")
        .body(body.to_vec());
    for (k, v) in headers {
        rb = rb.header(*k, v);
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_accepted_once_and_within_the_clock_window() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    let alpha = tenant_key(&dirs, "alpha", "user");
    let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let (ok, _, err) = cli(
        &dirs,
        &[
            "tenant",
            "key",
            "add",
            "alpha",
            "--public-key",
            &hex::encode(key.verifying_key().as_bytes()),
        ],
    );
    assert!(ok, "{err}");
    let node = Node::start(&dirs, &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = json!({"kind": "tool", "input": {"tool": "answer", "arguments": {}}}).to_string();
    let body = body.as_bytes();

    // Accepted, as alpha.
    let headers = signed_headers(&key, "POST", "/v2/jobs", body, now, "nonce-00000001");
    let (s, v) = send_signed(&node, &headers, body).await;
    assert_eq!(s, 201, "{v}");
    let job = v["job"]["id"].as_str().unwrap().to_string();
    let (_, mine) = get(&node, "/v2/jobs", Some(&alpha)).await;
    assert!(
        mine.to_string().contains(&job),
        "the signed job is alpha's: {mine}"
    );

    // The same request again: refused.
    let (s, v) = send_signed(&node, &headers, body).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (401, Some("unauthorized")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("already"),
        "{v}"
    );

    // A clock an hour off, either way: refused.
    for ts in [now - 3600, now + 3600] {
        let headers = signed_headers(&key, "POST", "/v2/jobs", body, ts, &format!("nonce-{ts}"));
        let (s, v) = send_signed(&node, &headers, body).await;
        assert_eq!(s, 401, "{v}");
        assert!(
            v["error"]["message"].as_str().unwrap().contains("clock"),
            "{v}"
        );
    }

    // Another body under the signature, or an unknown key: refused.
    let headers = signed_headers(&key, "POST", "/v2/jobs", b"{}", now, "nonce-00000002");
    assert_eq!(send_signed(&node, &headers, body).await.0, 401);
    let stranger = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let headers = signed_headers(&stranger, "POST", "/v2/jobs", body, now, "nonce-00000003");
    assert_eq!(send_signed(&node, &headers, body).await.0, 401);
}

/// A raw HTTP/1.1 request; the answer's head and body.
async fn raw(addr: &str, request: String) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    read_head(&mut s).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_node_refuses_foreign_hosts_and_origins() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        "[auth]\nallowed_origins = [\"https://app.example.com\"]\n",
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let addr = node.base.strip_prefix("http://").unwrap().to_string();
    let port = addr.rsplit_once(':').unwrap().1.to_string();

    // DNS rebinding: a name that resolves to 127.0.0.1 but is not the node's.
    let get_health = |host: String| {
        format!("GET /v2/health HTTP/1.1\r\nhost: {host}\r\nconnection: close\r\n\r\n")
    };
    let answer = raw(&addr, get_health(format!("evil.example:{port}"))).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("host_not_allowed"), "{answer}");
    for host in [format!("localhost:{port}"), addr.clone()] {
        let answer = raw(&addr, get_health(host)).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    // A state-changing request from another site's page: refused; from the
    // node's own page or a listed origin: served, CORS for the listed one.
    let execute = json!({"tool": "answer", "arguments": {}});
    let from = |origin: &str| {
        client()
            .post(node.url("/v2/tools/execute"))
            .header("origin", origin)
            .json(&execute)
    };
    let r = from("https://evil.example").send().await.unwrap();
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "origin_not_allowed", "{v}");
    let r = from(&format!("http://127.0.0.1:{port}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());
    let r = from("https://app.example.com").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );

    // A read from another site: served, but without CORS its page cannot read it.
    let r = client()
        .get(node.url("/v2/tools/list"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("access-control-allow-origin").is_none());

    // Preflights: answered for the listed origin only.
    let preflight = |origin: &str| {
        client()
            .request(reqwest::Method::OPTIONS, node.url("/v2/tools/execute"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
    };
    let r = preflight("https://app.example.com").send().await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(
        r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );
    assert_eq!(
        preflight("https://evil.example")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );

    let (_, log) = node.stop();
    assert!(log.contains("no tenant configured"), "{log}");
}

#[test]
fn binding_beyond_loopback_without_credentials_is_refused() {
    let dirs = Dirs::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hanzo-node"))
        .args(["serve", "--listen", "0.0.0.0:0", "--data-dir"])
        .arg(&dirs.data)
        .arg("--plugins")
        .arg(&dirs.plugins)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the node started on 0.0.0.0 without any credential");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success());
    assert!(err.contains("hanzo-node tenant key add"), "{err}");
}
