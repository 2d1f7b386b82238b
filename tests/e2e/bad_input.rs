//! The standing bad-input suite: property tests that throw random and
//! half-valid input at the node's parsers and at a running node — manifests,
//! `node.toml`, tool arguments, HTTP requests (methods, paths, headers,
//! bodies), WebSocket messages and raw bytes on the socket. Nothing may panic;
//! every error a client gets is JSON with a stable code; the node keeps
//! serving. Each property prints how many inputs it tried.

use crate::common::{Dirs, Node, client, get_json, install, runtime};
use futures_util::{SinkExt, StreamExt};
use hanzo_node::NodeConfig;
use hanzo_node::plugins::Manifest;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Map, Value, json};
use std::cell::{Cell, RefCell};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

// ---- random values --------------------------------------------------------

const JSON_KEYS: &[&str] = &[
    "tool",
    "arguments",
    "kind",
    "input",
    "model",
    "messages",
    "role",
    "content",
    "type",
    "job",
    "job_id",
    "request_id",
    "subscribe",
    "last_event_id",
    "priority",
    "parents",
    "retry",
    "max_attempts",
    "initial_delay_ms",
    "max_delay_ms",
    "timeout_ms",
    "agent",
    "name",
    "system_prompt",
    "tools",
    "max_steps",
    "message",
    "append",
    "expression",
    "url",
    "stream",
    "max_tokens",
    "idempotency_key",
    "on_parent_failure",
    "state",
    "limit",
];

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,16}".prop_map(Value::from),
        prop::sample::select(
            &[
                "tool",
                "llm",
                "agent",
                "calculator",
                "echo",
                "answer",
                "JobCreate",
                "JobStatus",
                "ToolExecute",
                "Subscribe",
                "Unsubscribe",
                "user",
                "job_1",
                "2*(3+4)",
                "skip",
            ][..]
        )
        .prop_map(Value::from),
    ]
}

fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    3 => prop::sample::select(JSON_KEYS).prop_map(str::to_string),
                    1 => "[a-z_]{0,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object with the API's field names on top.
fn request_like() -> impl Strategy<Value = Value> {
    prop::collection::btree_map(
        prop::sample::select(JSON_KEYS).prop_map(str::to_string),
        json_value(),
        0..8,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        prop::collection::vec(any::<u8>(), 0..200),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        request_like().prop_map(|v| v.to_string().into_bytes()),
        request_like().prop_map(|v| v.to_string().into_bytes()),
    ]
}

// ---- parsers ----------------------------------------------------------------

/// TOML text: random lines of the manifest's and node.toml's keys with random
/// values, tables among them, and now and then raw garbage.
fn toml_text(
    keys: &'static [&'static str],
    tables: &'static [&'static str],
) -> impl Strategy<Value = String> {
    let value = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("9000000000000000000".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z0-9./:*_-]{0,12}".prop_map(|s| format!("{s:?}")),
        prop::collection::vec("[a-z0-9./:*_-]{0,10}", 0..4).prop_map(|v| format!(
            "[{}]",
            v.iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Just("{ a = 1 }".to_string()),
        Just("1e400".to_string()),
    ];
    let line = prop_oneof![
        6 => (prop::sample::select(keys), value).prop_map(|(k, v)| format!("{k} = {v}")),
        2 => prop::sample::select(tables).prop_map(|t| format!("[{t}]")),
        1 => ".{0,30}",
    ];
    prop::collection::vec(line, 0..14).prop_map(|lines| lines.join("\n"))
}

const MANIFEST_KEYS: &[&str] = &[
    "name",
    "kind",
    "version",
    "description",
    "component",
    "routes",
    "http",
    "kv",
    "secrets",
    "tools",
    "llm",
    "jobs",
    "agents",
    "memory_mb",
    "timeout_ms",
    "max_concurrency",
    "kv_value_bytes",
    "calls_per_instance",
    "greeting",
];
const MANIFEST_TABLES: &[&str] = &["permissions", "limits", "config"];

#[test]
fn manifests_never_panic_the_parser() {
    // Valid heads, so the random lines reach the checks behind the parser.
    let text = (
        prop::sample::select(&["tool", "api", "provider"][..]),
        toml_text(MANIFEST_KEYS, MANIFEST_TABLES),
    )
        .prop_map(|(kind, rest)| {
            format!("name = \"p\"\nkind = \"{kind}\"\nversion = \"1\"\n{rest}")
        });
    let text = prop_oneof![text, toml_text(MANIFEST_KEYS, MANIFEST_TABLES)];
    let parsed = never_panics(3000, text, |text| {
        Manifest::parse(text)
            .map(|m| m.problems(&hanzo_node::plugins::manifest::Ceilings::default()))
            .is_ok()
    });
    println!("manifests: 3000 inputs, {parsed} parsed, no panic");
}

/// The loader, not only the parser: random limits and permissions in a
/// manifest beside a real component, loaded as an operator would drop it in.
/// Each either loads or fails with a reason; the loader never panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_never_crash_the_loader() {
    let dirs = Dirs::new();
    let folder = install(&dirs.plugins, "fuzzed", "echo-version", |_| {});
    let component = std::fs::read_dir(&folder)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        .unwrap()
        .file_name()
        .into_string()
        .unwrap();
    let rt = hanzo_node::Runtime::new(dirs.config()).unwrap();
    let handle = tokio::runtime::Handle::current();
    let cases = 300;
    let number = prop_oneof![
        Just(0i64),
        Just(-1),
        1i64..200,
        Just(i64::MAX),
        Just(9_000_000_000_000_000_000),
        Just(1 << 32),
        any::<i64>(),
    ];
    let limits = prop::collection::btree_map(
        prop::sample::select(
            &[
                "memory_mb",
                "timeout_ms",
                "max_concurrency",
                "kv_value_bytes",
                "calls_per_instance",
            ][..],
        )
        .prop_map(str::to_string),
        number.prop_map(toml::Value::Integer),
        0..5,
    );
    let strings = prop::collection::vec(
        prop_oneof![
            "[a-z0-9.:*_-]{0,14}",
            Just("127.0.0.1".to_string()),
            Just("[::1]:80".to_string()),
            Just("*.".to_string()),
            Just("HOME".to_string()),
        ]
        .prop_map(toml::Value::String),
        0..4,
    )
    .prop_map(toml::Value::Array);
    let permissions = (
        prop::option::of(strings.clone()),
        prop::option::of(strings),
        prop::collection::btree_map(
            prop::sample::select(&["kv", "tools", "llm", "jobs", "agents"][..])
                .prop_map(str::to_string),
            any::<bool>().prop_map(toml::Value::Boolean),
            0..5,
        ),
    )
        .prop_map(|(http, secrets, mut flags)| {
            if let Some(h) = http {
                flags.insert("http".into(), h);
            }
            if let Some(s) = secrets {
                flags.insert("secrets".into(), s);
            }
            flags
        });
    let text = (limits, permissions, prop::option::of(".{0,20}")).prop_map(
        move |(limits, permissions, greeting)| {
            let mut m = toml::Table::new();
            m.insert("name".into(), "fuzzed".into());
            m.insert("kind".into(), "tool".into());
            m.insert("version".into(), "1".into());
            m.insert("component".into(), component.clone().into());
            m.insert(
                "limits".into(),
                toml::Value::Table(limits.into_iter().collect()),
            );
            m.insert(
                "permissions".into(),
                toml::Value::Table(permissions.into_iter().collect()),
            );
            if let Some(g) = greeting {
                let mut config = toml::Table::new();
                config.insert("greeting".into(), g.into());
                m.insert("config".into(), toml::Value::Table(config));
            }
            toml::to_string(&m).unwrap()
        },
    );
    let (loaded, failed) = (Cell::new(0), Cell::new(0));
    tokio::task::block_in_place(|| {
        runner(cases)
            .run(&text, |text| {
                std::fs::write(folder.join("plugin.toml"), &text).unwrap();
                let outcome = handle.block_on(async {
                    tokio::spawn({
                        let rt = rt.clone();
                        async move { hanzo_node::loader::reload_folder(&rt, "fuzzed").await }
                    })
                    .await
                });
                match outcome {
                    Ok(hanzo_node::loader::LoadOutcome::Failed(_)) => failed.set(failed.get() + 1),
                    Ok(_) => loaded.set(loaded.get() + 1),
                    Err(e) => {
                        return Err(TestCaseError::fail(format!(
                            "loading panicked: {e}\n{text}"
                        )));
                    }
                }
                Ok(())
            })
            .unwrap()
    });
    println!(
        "manifests through the loader: {cases} inputs, {} loaded, {} refused, no panic",
        loaded.get(),
        failed.get()
    );
}

const CONFIG_KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "plugins_dir",
    "max_body_bytes",
    "reload_debounce_ms",
    "shutdown_grace_s",
    "http_threads",
    "instances",
    "max_memory_mb",
    "keep_resident_kib",
    "max_concurrency",
    "per_tenant",
    "default_timeout_ms",
    "events_retained",
    "cache_ttl_s",
    "cache_max_entries",
    "tenant_rpm",
    "tenant_tpm",
    "ping_interval_ms",
    "idle_timeout_ms",
    "max_attempts",
    "alias",
    "provider",
    "model",
    "strategy",
];
const CONFIG_TABLES: &[&str] = &[
    "pool",
    "jobs",
    "router",
    "ws",
    "plugins.openai",
    "aliases.a",
    "[deployments]",
];

#[test]
fn node_toml_never_panics_the_parser() {
    let parsed = never_panics(3000, toml_text(CONFIG_KEYS, CONFIG_TABLES), |text| {
        toml::from_str::<NodeConfig>(text)
            .map(|c| c.validate())
            .is_ok()
    });
    println!("node.toml: 3000 inputs, {parsed} parsed, no panic");
}

/// Tool arguments are checked against the tool's JSON Schema before any tool
/// code runs: random arguments get a typed error or a result, never a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_arguments_are_checked_whatever_they_are() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "tools-basic", "tools-basic", |_| {});
    install(&dirs.plugins, "echo-version", "echo-version", |_| {});
    let rt = runtime(dirs.config()).await;
    let tools: Vec<String> = rt.registry.catalog().shared.tools.keys().cloned().collect();
    let handle = tokio::runtime::Handle::current();
    let cases = 600;
    let inputs = (
        prop::sample::select(tools),
        prop_oneof![
            json_value().prop_map(|v| v.to_string()),
            request_like().prop_map(|v| v.to_string()),
            ".{0,40}",
        ],
    );
    let (ok, refused) = (Cell::new(0), Cell::new(0));
    tokio::task::block_in_place(|| {
        runner(cases)
            .run(&inputs, |(tool, arguments)| {
                // http_fetch would go out to the network: it is denied by
                // policy, but keep the suite off the network altogether.
                if tool == "http_fetch" {
                    return Ok(());
                }
                match handle.block_on(rt.invoke_tool("fuzz", &tool, &arguments)) {
                    Ok(_) => ok.set(ok.get() + 1),
                    Err(_) => refused.set(refused.get() + 1),
                }
                Ok(())
            })
            .unwrap()
    });
    println!(
        "tool arguments: {cases} inputs, {} answered, {} refused with a typed error",
        ok.get(),
        refused.get()
    );
}

// ---- a running node -----------------------------------------------------------

/// A node with the bundled API plugins and tools, and a provider with no
/// reachable upstream.
fn node() -> (Dirs, Node) {
    let dirs = Dirs::new();
    for p in [
        "api-v2",
        "api-openai",
        "api-mcp",
        "tools-basic",
        "echo-version",
        "openai",
    ] {
        install(&dirs.plugins, p, p, |_| {});
    }
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        "max_body_bytes = 65536\n[plugins.openai]\nconfig = { base_url = \"http://127.0.0.1:9/v1\" }\nallow_hosts = [\"127.0.0.1:9\"]\n",
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    (dirs, node)
}

/// The node still answers its health check, and says it is fine.
fn assert_serving(rt: &tokio::runtime::Runtime, node: &Node) {
    let health = rt.block_on(get_json(&client(), node.url("/v2/health")));
    assert_eq!(health["status"], "ok", "{health}");
}

/// Runs `parse` on `cases` random texts: it may refuse them, never panic.
/// Returns how many it accepted.
fn never_panics<S: Strategy<Value = String>>(
    cases: u32,
    text: S,
    parse: impl Fn(&str) -> bool,
) -> u32 {
    let parsed = Cell::new(0);
    runner(cases)
        .run(&text, |text| {
            if parse(&text) {
                parsed.set(parsed.get() + 1);
            }
            Ok(())
        })
        .unwrap();
    parsed.get()
}

const PATHS: &[&str] = &[
    "/",
    "/v2",
    "/v2/health",
    "/v2/plugins",
    "/v2/plugins/",
    "/v2/usage",
    "/v2/deployments",
    "/v2/openapi.json",
    "/v2/tools/list",
    "/v2/tools/execute",
    "/v2/tools/",
    "/v2/jobs",
    "/v2/jobs/",
    "/v2/jobs/job_1/",
    "/v2/agents/list",
    "/v2/agents/create",
    "/v2/agents/",
    "/v1/models",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/messages",
    "/v1/responses",
    "/v1/",
    "/mcp",
];

#[derive(Debug, Clone)]
struct HttpInput {
    method: String,
    path: String,
    content_type: Option<String>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn http_input() -> impl Strategy<Value = HttpInput> {
    let method = prop_oneof![
        4 => Just("POST".to_string()),
        3 => Just("GET".to_string()),
        2 => prop::sample::select(&["PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"][..]).prop_map(str::to_string),
        1 => "[A-Z]{1,10}",
    ];
    let path = (
        prop::sample::select(PATHS),
        prop_oneof![3 => Just(String::new()), 1 => "[a-zA-Z0-9_.~%-]{0,16}"],
        prop::option::of("[a-z0-9=&%]{0,20}"),
    )
        .prop_map(|(prefix, tail, query)| match query {
            Some(q) => format!("{prefix}{tail}?{q}"),
            None => format!("{prefix}{tail}"),
        });
    let content_type = prop::option::of(prop_oneof![
        Just("application/json".to_string()),
        Just("text/plain".to_string()),
        Just("application/x-www-form-urlencoded".to_string()),
        "[a-z/+.-]{0,20}",
    ]);
    let headers = prop::collection::vec(
        (
            prop_oneof![
                Just("accept".to_string()),
                Just("x-hanzo-cache".to_string()),
                Just("cache-control".to_string()),
                Just("idempotency-key".to_string()),
                Just("authorization".to_string()),
                Just("x-api-key".to_string()),
                Just("anthropic-version".to_string()),
                "x-[a-z]{1,10}",
            ],
            "[ -~]{0,30}",
        ),
        0..4,
    );
    (method, path, content_type, headers, body()).prop_map(
        |(method, path, content_type, headers, body)| HttpInput {
            method,
            path,
            content_type,
            headers,
            body,
        },
    )
}

/// The error code of an error body, in the node's, OpenAI's, Anthropic's or
/// JSON-RPC's (MCP's numeric code) shape.
fn error_code(body: &Value) -> Option<String> {
    let e = body.get("error")?;
    e.get("code")
        .and_then(Value::as_str)
        .or_else(|| e.get("type").and_then(Value::as_str))
        .map(str::to_string)
        .or_else(|| e.get("code").and_then(Value::as_i64).map(|c| c.to_string()))
}

#[test]
fn random_http_requests_get_json_errors_and_never_a_crash() {
    let (_dirs, node) = node();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = client();
    let cases = 800;
    let statuses = RefCell::new(std::collections::BTreeMap::<u16, u32>::new());
    runner(cases)
        .run(&http_input(), |input| {
            let (status, text) = rt
                .block_on(async {
                    let method = reqwest::Method::from_bytes(input.method.as_bytes()).unwrap();
                    let mut req = c
                        .request(method, node.url(&input.path))
                        .timeout(Duration::from_secs(30))
                        .body(input.body.clone());
                    if let Some(ct) = &input.content_type {
                        req = req.header("content-type", ct);
                    }
                    for (k, v) in &input.headers {
                        req = req.header(k, v);
                    }
                    let r = req.send().await.map_err(|e| format!("{e:?}"))?;
                    let status = r.status().as_u16();
                    Ok::<_, String>((status, r.text().await.unwrap_or_default()))
                })
                .map_err(|e| TestCaseError::fail(format!("no answer to {input:?}: {e}")))?;
            *statuses.borrow_mut().entry(status).or_default() += 1;
            if status >= 400 && input.method != "HEAD" {
                let body: Value = serde_json::from_str(&text).map_err(|_| {
                    TestCaseError::fail(format!(
                        "{status} without a JSON body for {input:?}: {text}"
                    ))
                })?;
                let code = error_code(&body).ok_or_else(|| {
                    TestCaseError::fail(format!(
                        "{status} without an error code for {input:?}: {text}"
                    ))
                })?;
                // 502, 503 and 504 are the documented failures of a plugin
                // or its upstream; a 500 would be the node's own fault.
                prop_assert!(status != 500, "{status} {code} for {input:?}: {text}");
            }
            Ok(())
        })
        .unwrap();
    assert_serving(&rt, &node);
    println!(
        "random HTTP requests: {cases} inputs, statuses {:?}, node serving after",
        statuses.borrow()
    );
}

#[test]
fn random_bytes_on_the_socket_do_not_hurt_the_node() {
    let (_dirs, node) = node();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = node.base.strip_prefix("http://").unwrap().to_string();
    let head = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        ("[A-Z]{0,8}", "[ -~]{0,40}", "[ -~]{0,60}").prop_map(|(m, p, h)| {
            format!("{m} {p} HTTP/1.1\r\nHost: x\r\n{h}\r\n\r\n").into_bytes()
        }),
        "[ -~]{0,20}".prop_map(|n| {
            format!("POST /v2/tools/execute HTTP/1.1\r\nHost: x\r\nContent-Length: {n}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").into_bytes()
        }),
    ];
    let cases = 300;
    runner(cases)
        .run(&head, |bytes| {
            rt.block_on(async {
                let mut s = tokio::net::TcpStream::connect(&addr).await.unwrap();
                let _ = s.write_all(&bytes).await;
                let _ = s.shutdown().await;
                let mut out = Vec::new();
                // The node answers (a 400 for most) or closes; either ends the read.
                let _ =
                    tokio::time::timeout(Duration::from_secs(15), s.read_to_end(&mut out)).await;
            });
            Ok(())
        })
        .unwrap();
    assert_serving(&rt, &node);
    println!("raw bytes: {cases} connections of random heads, node serving after");
}

#[test]
fn random_websocket_messages_get_error_replies_and_keep_the_connection() {
    let (_dirs, node) = node();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let addr = node.base.strip_prefix("http://").unwrap().to_string();
    let ws = RefCell::new(rt.block_on(async {
        let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        tokio_tungstenite::client_async(format!("ws://{addr}/v2/ws"), tcp)
            .await
            .unwrap()
            .0
    }));
    let message = prop_oneof![
        json_value().prop_map(|v| Message::text(v.to_string())),
        request_like().prop_map(|v| Message::text(v.to_string())),
        (
            prop::sample::select(
                &[
                    "JobCreate",
                    "JobStatus",
                    "ToolExecute",
                    "Subscribe",
                    "Unsubscribe",
                    "Nope"
                ][..]
            ),
            request_like()
        )
            .prop_map(|(t, mut v)| {
                v["type"] = json!(t);
                Message::text(v.to_string())
            }),
        ".{0,40}".prop_map(Message::text),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| Message::binary(b)),
    ];
    let cases = 400;
    let errors = Cell::new(0);
    runner(cases)
        .run(&message, |m| {
            let mut ws = ws.borrow_mut();
            rt.block_on(async {
                ws.send(m)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("send: {e}")))?;
                // Whatever it was, the connection still answers a known request.
                ws.send(Message::text(
                    json!({"type": "JobStatus", "job_id": "job_none", "request_id": "probe"})
                        .to_string(),
                ))
                .await
                .map_err(|e| TestCaseError::fail(format!("send: {e}")))?;
                loop {
                    let next = tokio::time::timeout(Duration::from_secs(30), ws.next())
                        .await
                        .map_err(|_| TestCaseError::fail("no reply"))?;
                    let Some(Ok(msg)) = next else {
                        return Err(TestCaseError::fail(format!("connection closed: {next:?}")));
                    };
                    let Message::Text(text) = msg else { continue };
                    let v: Value = serde_json::from_str(&text)
                        .map_err(|_| TestCaseError::fail(format!("not JSON: {text}")))?;
                    prop_assert!(v["type"].is_string(), "{v}");
                    if v["type"] == "Error" {
                        prop_assert!(v["code"].is_string(), "{v}");
                        if v["request_id"] == "probe" {
                            break;
                        }
                        errors.set(errors.get() + 1);
                    }
                }
                Ok(())
            })
        })
        .unwrap();
    println!(
        "websocket: {cases} random messages ({} answered with an Error), connection kept",
        errors.get()
    );
}
