//! Grants over HTTP on the real binary. Interfaces a plugin was not
//! granted: the bundled API plugins with one grant taken away each. Every
//! interface refuses the same way, with its WIT error's `denied` case naming
//! the grant (no trap): api-v2 answers 403 `forbidden`, api-openai 403
//! `permission_error` in the OpenAI and Anthropic shapes. What a manifest
//! requests is granted only as far as the operator allows: loopback
//! addresses and secrets need the operator, who can also narrow a bundled
//! plugin; `/v2/plugins` shows both sides. Signed plugins: a trusted
//! publisher's keep their request, and `strict` refuses a tampered version
//! while the signed one keeps serving.

use crate::common::{Dirs, Node, client, eventually, get_json, install, send, set};
use crate::mock_openai::MockOpenAi;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interfaces_not_granted_are_refused() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "tools-basic", "tools-basic", |_| {});
    install(&dirs.plugins, "openai", "openai", |_| {});
    install(&dirs.plugins, "api-v2", "api-v2", |m| {
        for grant in ["tools", "jobs", "agents", "vectors"] {
            set(m, "permissions", grant, toml::Value::Boolean(false));
        }
    });
    install(&dirs.plugins, "api-openai", "api-openai", |m| {
        set(m, "permissions", "llm", toml::Value::Boolean(false))
    });
    let node = Node::start(&dirs, &[]);
    let c = client();

    let chat = json!({"model": "openai/gpt-4o-mini", "max_tokens": 5,
                      "messages": [{"role": "user", "content": "hi"}]});
    let refused = [
        ("/v2/tools/list", None, "api-v2", "tools"),
        ("/v2/tools/calculator", None, "api-v2", "tools"),
        (
            "/v2/tools/execute",
            Some(json!({"tool": "calculator", "arguments": {"expression": "2+2"}})),
            "api-v2",
            "tools",
        ),
        (
            "/v2/jobs",
            Some(
                json!({"kind": "tool", "input": {"tool": "calculator", "arguments": {"expression": "2+2"}}}),
            ),
            "api-v2",
            "jobs",
        ),
        (
            "/v2/agents/create",
            Some(json!({"name": "helper", "model": "openai/gpt-4o-mini", "tools": []})),
            "api-v2",
            "agents",
        ),
        ("/v2/collections", None, "api-v2", "vectors"),
        (
            "/v2/embeddings/search",
            Some(json!({"collection": "notes", "vector": [1.0, 0.0]})),
            "api-v2",
            "vectors",
        ),
        ("/v1/models", None, "api-openai", "llm"),
        (
            "/v1/chat/completions",
            Some(chat.clone()),
            "api-openai",
            "llm",
        ),
        ("/v1/messages", Some(chat), "api-openai", "llm"),
    ];
    for (path, body, plugin, grant) in refused {
        let (status, body) = send(&c, node.url(path), body).await;
        assert_eq!(status, 403, "{path}: {body}");
        let error = &body["error"];
        let kind = if plugin == "api-v2" {
            &error["code"]
        } else {
            &error["type"]
        };
        let expected = if plugin == "api-v2" {
            "forbidden"
        } else {
            "permission_error"
        };
        assert_eq!(kind, expected, "{path}: {body}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!(
                "plugin `{plugin}` is not granted `permissions.{grant}`"
            )),
            "{path}: {body}"
        );
    }
}

/// Runs `hanzo-node` with `args` in `dir`: whether it succeeded, and its output.
fn cli(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hanzo-node"))
        .args(args)
        .current_dir(dir)
        .env_remove("HANZO_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn strings(items: &[&str]) -> toml::Value {
    toml::Value::Array(
        items
            .iter()
            .map(|s| toml::Value::String(s.to_string()))
            .collect(),
    )
}

/// An http-probe copy named `name` (its tools `<name>.fetch`, `<name>.secret`)
/// whose manifest requests `hosts` and `secrets`.
fn probe(plugins: &Path, name: &str, hosts: &[&str], secrets: &[&str]) -> std::path::PathBuf {
    install(plugins, name, "http-probe", |m| {
        m.insert("name".into(), toml::Value::String(name.into()));
        set(
            m,
            "config",
            "tool_prefix",
            toml::Value::String(format!("{name}.")),
        );
        set(m, "permissions", "http", strings(hosts));
        set(m, "permissions", "secrets", strings(secrets));
    })
}

async fn execute(c: &reqwest::Client, node: &Node, tool: &str, arguments: Value) -> (u16, Value) {
    send(
        c,
        node.url("/v2/tools/execute"),
        Some(json!({"tool": tool, "arguments": arguments})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_and_secrets_requested_are_granted_only_by_the_operator() {
    let home = std::env::var("HOME").expect("the test needs HOME set");
    let upstream = MockOpenAi::start().await;
    let grant = format!("127.0.0.1:{}", upstream.addr.port());
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let secrets = ["HOME", "OPENAI_API_KEY"];
    probe(&dirs.plugins, "asks", &[&grant], &secrets);
    probe(&dirs.plugins, "granted", &[&grant], &secrets);
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[plugins.granted]\nhttp = [\"{grant}\"]\n\
             secrets = {{ HOME = \"env:HOME\", OPENAI_API_KEY = \"sk-mapped\" }}\n"
        ),
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let c = client();
    let url = format!("http://{grant}/v1/models");
    let seen = || upstream.seen.lock().unwrap().len();

    // Requested by the manifest alone: refused before any connection.
    let (status, body) = execute(&c, &node, "asks.fetch", json!({"url": url})).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("tool_failed")),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Denied"), "{message}");
    assert_eq!(seen(), 0, "a refused request never reaches the upstream");
    for name in secrets {
        let (status, body) = execute(&c, &node, "asks.secret", json!({"name": name})).await;
        assert_eq!(status, 422, "{name}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("NotSet"), "{name}: {message}");
        assert!(!message.contains(&home), "{message}");
    }

    // The same request, granted by the operator.
    let (status, body) = execute(&c, &node, "granted.fetch", json!({"url": url})).await;
    assert_eq!(
        (status, &body["result"]["status"]),
        (200, &json!(200)),
        "{body}"
    );
    assert_eq!(seen(), 1);
    for (name, value) in [("HOME", home.as_str()), ("OPENAI_API_KEY", "sk-mapped")] {
        let (status, body) = execute(&c, &node, "granted.secret", json!({"name": name})).await;
        assert_eq!(
            (status, &body["result"]["value"]),
            (200, &json!(value)),
            "{body}"
        );
    }

    // Both sides, as the operator sees them.
    let asks = get_json(&c, node.url("/v2/plugins/asks")).await;
    assert_eq!(asks["requested"]["http"], json!([grant]), "{asks}");
    assert_eq!(asks["requested"]["secrets"], json!(secrets), "{asks}");
    assert_eq!(asks["granted"]["http"], json!([]), "{asks}");
    assert_eq!(asks["granted"]["secrets"], json!([]), "{asks}");
    assert_eq!(asks["signature"]["state"], "unsigned", "{asks}");
    let granted = get_json(&c, node.url("/v2/plugins/granted")).await;
    assert_eq!(granted["granted"]["http"], json!([grant]), "{granted}");
    assert_eq!(granted["granted"]["secrets"], json!(secrets), "{granted}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_narrows_bundled_plugins() {
    let dirs = Dirs::new();
    for name in ["openai", "api-v2", "api-openai"] {
        install(&dirs.plugins, name, name, |_| {});
    }
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        "[plugins.api-openai]\nllm = false\n\
         [plugins.api-v2]\njobs = false\n\
         [plugins.openai]\nhttp = [\"api.openai.com\"]\n",
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let c = client();

    let (status, body) = send(
        &c,
        node.url("/v1/chat/completions"),
        Some(
            json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}),
        ),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["type"]),
        (403, &json!("permission_error")),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("not granted `permissions.llm`"), "{body}");
    let (status, body) = send(
        &c,
        node.url("/v2/jobs"),
        Some(json!({"kind": "tool", "input": {"tool": "calculator", "arguments": {"expression": "2+2"}}})),
    )
    .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("forbidden")),
        "{body}"
    );

    let p = get_json(&c, node.url("/v2/plugins/api-openai")).await;
    assert_eq!(
        (&p["requested"]["llm"], &p["granted"]["llm"]),
        (&json!(true), &json!(false)),
        "{p}"
    );
    let p = get_json(&c, node.url("/v2/plugins/api-v2")).await;
    assert_eq!(
        (&p["requested"]["jobs"], &p["granted"]["jobs"]),
        (&json!(true), &json!(false)),
        "{p}"
    );
    assert_eq!(p["granted"]["tools"], true, "{p}");
    let p = get_json(&c, node.url("/v2/plugins/openai")).await;
    assert!(p["requested"]["http"].as_array().unwrap().len() > 1, "{p}");
    assert_eq!(p["granted"]["http"], json!(["api.openai.com"]), "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_refuses_unsigned_and_tampered_plugins_and_the_signed_version_serves() {
    let dirs = Dirs::new();
    let root = dirs.root.path();
    let trusted = root.join("trusted");
    std::fs::create_dir_all(&trusted).unwrap();
    let key = trusted.join("publisher.key");
    let (ok, out) = cli(root, &["plugin", "keygen", key.to_str().unwrap()]);
    assert!(ok, "{out}");
    let public = std::fs::read_to_string(trusted.join("publisher.key.pub")).unwrap();
    let public = public.trim();

    let api = install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let echo = install(&dirs.plugins, "echo-version", "echo-version", |m| {
        set(m, "config", "answer", toml::Value::String("v1".into()))
    });
    // A trusted publisher's plugin keeps the loopback address it requests.
    let probe = probe(&dirs.plugins, "probe", &["127.0.0.1:9"], &[]);
    install(&dirs.plugins, "kv-probe", "kv-probe", |_| {});
    let sign = |folders: &[&Path]| {
        let mut args = vec!["plugin", "sign", "--key", key.to_str().unwrap()];
        args.extend(folders.iter().map(|f| f.to_str().unwrap()));
        let (ok, out) = cli(root, &args);
        assert!(ok, "{out}");
    };
    sign(&[&api, &echo, &probe]);
    let config = root.join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[grants]\nstrict = true\ntrust_dir = \"{}\"\n",
            trusted.display()
        ),
    )
    .unwrap();
    let verify = |folder: &Path| {
        cli(
            root,
            &[
                "plugin",
                "verify",
                "--config",
                config.to_str().unwrap(),
                folder.to_str().unwrap(),
            ],
        )
    };
    let (ok, out) = verify(&echo);
    assert!(
        ok && out.contains("trusted") && out.contains(public),
        "{out}"
    );
    // Without the node's config (none in the working directory), the
    // publisher checks with its own public key.
    let alone = cli(&trusted, &["plugin", "verify", echo.to_str().unwrap()]);
    assert!(!alone.0 && alone.1.contains("untrusted"), "{alone:?}");
    let pub_file = trusted.join("publisher.key.pub");
    let args = [
        "plugin",
        "verify",
        "--trust",
        pub_file.to_str().unwrap(),
        echo.to_str().unwrap(),
    ];
    let (ok, out) = cli(&trusted, &args);
    assert!(ok && out.contains("trusted"), "{out}");

    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let c = client();
    let answer = async || {
        let (status, body) = execute(&c, &node, "answer", json!({})).await;
        assert_eq!(status, 200, "{body}");
        body["result"]["answer"].as_str().unwrap().to_string()
    };
    assert_eq!(answer().await, "v1");
    let p = get_json(&c, node.url("/v2/plugins/echo-version")).await;
    assert_eq!(
        p["signature"],
        json!({"state": "trusted", "key": public, "problem": null}),
        "{p}"
    );
    let p = get_json(&c, node.url("/v2/plugins/probe")).await;
    assert_eq!(p["granted"]["http"], json!(["127.0.0.1:9"]), "{p}");
    // The unsigned plugin was refused, saying why.
    let p = get_json(&c, node.url("/v2/plugins/kv-probe")).await;
    assert_eq!(p["state"], "failed", "{p}");
    let error = p["last_error"].as_str().unwrap();
    assert!(
        error.contains("grants.strict") && error.contains("not signed"),
        "{p}"
    );

    // The manifest changed after signing: refused, and v1 keeps serving.
    let manifest = echo.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("\"v1\"", "\"v2\"")).unwrap();
    let refused = eventually(Duration::from_secs(30), async || {
        let p = get_json(&c, node.url("/v2/plugins/echo-version")).await;
        p["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("does not verify"))
    })
    .await;
    assert!(refused, "the tampered version must be refused");
    let p = get_json(&c, node.url("/v2/plugins/echo-version")).await;
    assert_eq!(p["state"], "loaded", "{p}");
    assert_eq!(answer().await, "v1");
    let (ok, out) = verify(&echo);
    assert!(!ok && out.contains("invalid"), "{out}");

    // Signed again by the publisher, the new version loads.
    sign(&[&echo]);
    let swapped = eventually(Duration::from_secs(30), async || answer().await == "v2").await;
    assert!(swapped, "the re-signed version must load");
}

#[test]
fn inspect_shows_what_is_requested_beside_what_this_node_grants() {
    let dirs = Dirs::new();
    let root = dirs.root.path();
    let dir = probe(
        &dirs.plugins,
        "probe",
        &["127.0.0.1:9", "example.com"],
        &["HOME"],
    );
    let file = dir.join("http_probe.wasm");
    let inspect = |extra: &[&str]| {
        let mut args = vec!["plugin", "inspect", "--json", file.to_str().unwrap()];
        args.extend(extra);
        let (ok, out) = cli(root, &args);
        assert!(ok, "{out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        v["manifest"].clone()
    };
    let m = inspect(&[]);
    assert_eq!(
        m["requested"]["http"],
        json!(["127.0.0.1:9", "example.com"]),
        "{m}"
    );
    assert_eq!(m["requested"]["secrets"], json!(["HOME"]), "{m}");
    assert_eq!(m["granted"]["http"], json!(["example.com"]), "{m}");
    assert_eq!(m["granted"]["secrets"], json!([]), "{m}");
    assert_eq!(m["signature"]["state"], "unsigned", "{m}");

    let config = root.join("operator.toml");
    std::fs::write(
        &config,
        "[plugins.probe]\nhttp = [\"127.0.0.1:9\"]\nsecrets = { HOME = \"a value\" }\n",
    )
    .unwrap();
    let m = inspect(&["--config", config.to_str().unwrap()]);
    assert_eq!(m["granted"]["http"], json!(["127.0.0.1:9"]), "{m}");
    assert_eq!(m["granted"]["secrets"], json!(["HOME"]), "{m}");
    assert!(
        !m.to_string().contains("a value"),
        "secret values are never shown"
    );

    // The text form, side by side.
    let (_, out) = cli(root, &["plugin", "inspect", file.to_str().unwrap()]);
    let http = out
        .lines()
        .find(|l| l.starts_with("http "))
        .unwrap_or_default();
    assert!(
        http.contains("127.0.0.1:9, example.com") && http.ends_with(" example.com"),
        "{out}"
    );
}

/// `[tools.<name>] network = false`: the operator keeps one tool of a plugin
/// off the network whatever the plugin was granted, by every way out
/// (wasi:http, `hanzo:node/fetch`), while the same grant holds for another
/// plugin's tool.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_keeps_one_tool_off_the_network() {
    let upstream = MockOpenAi::start().await;
    let grant = format!("127.0.0.1:{}", upstream.addr.port());
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    probe(&dirs.plugins, "online", &[&grant], &[]);
    probe(&dirs.plugins, "offline", &[&grant], &[]);
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[plugins.online]\nhttp = [\"{grant}\"]\n\n[plugins.offline]\nhttp = [\"{grant}\"]\n\n\
             [tools.\"offline.fetch\"]\nnetwork = false\n"
        ),
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let c = client();
    let url = format!("http://{grant}/v1/models");
    let seen = || upstream.seen.lock().unwrap().len();
    for via in ["wasi", "fetch", "open"] {
        let (status, body) =
            execute(&c, &node, "online.fetch", json!({"url": url, "via": via})).await;
        assert_eq!(
            (status, &body["result"]["status"]),
            (200, &json!(200)),
            "{via}: {body}"
        );
        let before = seen();
        let (status, body) =
            execute(&c, &node, "offline.fetch", json!({"url": url, "via": via})).await;
        assert_eq!(status, 422, "{via}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("Denied"), "{via}: {message}");
        assert_eq!(seen(), before, "{via}: the upstream was not reached");
    }
}
