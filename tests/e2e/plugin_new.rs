//! `hanzo-node plugin new` as a plugin author runs it: each kind of Rust
//! project, and a Python and a JavaScript tool, is written outside this
//! repository, built with its one documented command and dropped into a
//! running node, which serves it.

use crate::common::{Dirs, Node, client, eventually, send};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// `hanzo-node plugin new NAME --kind KIND --lang rust --dir DIR`, then
/// `make` in DIR: the folder it built.
fn new_and_build(root: &Path, name: &str, kind: &str) -> std::path::PathBuf {
    new_and_build_in(root, name, kind, "rust")
}

/// `hanzo-node plugin new NAME --kind KIND --lang LANG --dir DIR`, then the
/// build command it names: the folder it built.
fn new_and_build_in(root: &Path, name: &str, kind: &str, lang: &str) -> std::path::PathBuf {
    let dir = root.join(name);
    let out = Command::new(env!("CARGO_BIN_EXE_hanzo-node"))
        .args([
            "plugin", "new", name, "--kind", kind, "--lang", lang, "--dir",
        ])
        .arg(&dir)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let build_line = said
        .lines()
        .find_map(|l| l.strip_prefix("build: "))
        .unwrap_or_else(|| panic!("it says how to build: {said}"));
    let command = build_line.split_once(" && ").map_or(build_line, |(_, c)| c);
    // One target dir for the Rust projects: their dependencies build once.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| crate::common::repo().join("target"))
        .join("plugin-new");
    let started = Instant::now();
    let build = Command::new("sh")
        .current_dir(&dir)
        .args(["-c", command])
        .env("TARGET_DIR", &target)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}{}",
        String::from_utf8_lossy(&build.stdout),
        String::from_utf8_lossy(&build.stderr)
    );
    eprintln!(
        "{name}: `{command}` took {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let built = dir.join("dist").join(name);
    assert!(built.join("plugin.toml").is_file());
    assert!(
        built
            .join(format!("{}.wasm", name.replace('-', "_")))
            .is_file()
    );
    built
}

/// Copies the built folder into the plugin directory.
fn drop_in(built: &Path, plugins: &Path) {
    let name = built.file_name().unwrap().to_str().unwrap();
    crate::common::install_built(plugins, name, built, |_| {});
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_rust_projects_build_and_serve_when_dropped_in() {
    let work = tempfile::tempdir().unwrap();
    let dirs = Dirs::new();
    for api in ["api-v2"] {
        crate::common::install(&dirs.plugins, api, api, |_| {});
    }
    let node = Node::start(&dirs, &[]);
    let c = client();

    // A tool: listed and called.
    let started = Instant::now();
    let tool = new_and_build(work.path(), "my-tool", "tool");
    drop_in(&tool, &dirs.plugins);
    let call = json!({"tool": "greet", "arguments": {"name": "Ada"}});
    let served = eventually(Duration::from_secs(60), async || {
        let (status, v) = send(&c, node.url("/v2/tools/execute"), Some(call.clone())).await;
        status == 200 && v["result"]["greeting"] == "Hello, Ada!"
    })
    .await;
    assert!(served, "the new tool never served");
    eprintln!(
        "my-tool: plugin new to a served call in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // An API handler: its route, with kv.
    let api = new_and_build(work.path(), "my-api", "api");
    drop_in(&api, &dirs.plugins);
    let served = eventually(Duration::from_secs(60), async || {
        send(&c, node.url("/my-api/hello"), None).await.0 == 200
    })
    .await;
    assert!(served, "the new API plugin never served");
    let (status, v) = send(
        &c,
        node.url("/my-api/notes"),
        Some(json!({"key": "k", "text": "remember"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    let (status, v) = send(&c, node.url("/my-api/notes/k"), None).await;
    assert_eq!((status, &v["text"]), (200, &json!("remember")), "{v}");

    // A provider: it loads as a provider (its upstream is the operator's
    // to grant; the provider tests cover the wire).
    let provider = new_and_build(work.path(), "my-llm", "provider");
    drop_in(&provider, &dirs.plugins);
    let loaded = eventually(Duration::from_secs(60), async || {
        let (status, v) = send(&c, node.url("/v2/plugins/my-llm"), None).await;
        status == 200 && v["state"] == "loaded" && v["kind"] == "provider"
    })
    .await;
    assert!(loaded, "the new provider never loaded");
    let (status, stopped) = node.stop();
    assert!(status.success(), "{stopped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_python_and_javascript_tools_build_and_serve_when_dropped_in() {
    let work = tempfile::tempdir().unwrap();
    let dirs = Dirs::new();
    crate::common::install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let node = Node::start(&dirs, &[]);
    let c = client();
    for (lang, name) in [("python", "py-new"), ("js", "js-new")] {
        let started = Instant::now();
        let tool = new_and_build_in(work.path(), name, "tool", lang);
        drop_in(&tool, &dirs.plugins);
        // Each template's tool, found by the name it lists.
        let found = eventually(Duration::from_secs(120), async || {
            let (status, v) = send(&c, node.url("/v2/tools/list"), None).await;
            status == 200
                && v["tools"]
                    .as_array()
                    .is_some_and(|t| t.iter().any(|t| t["plugin"] == name))
        })
        .await;
        assert!(found, "{lang}: the new tool never loaded");
        let (_, v) = send(&c, node.url("/v2/tools/list"), None).await;
        let tool = v["tools"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["plugin"] == name)
            .unwrap()
            .clone();
        eprintln!(
            "{name}: plugin new to a loaded tool in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // Called with the arguments its schema requires (strings only in
        // the templates), it answers; the schema is the node's to enforce.
        let mut args = serde_json::Map::new();
        for field in tool["parameters"]["required"]
            .as_array()
            .into_iter()
            .flatten()
        {
            args.insert(field.as_str().unwrap().into(), json!("Ada"));
        }
        let call = json!({"tool": tool["name"], "arguments": args});
        let (status, v) = send(&c, node.url("/v2/tools/execute"), Some(call)).await;
        assert_eq!(status, 200, "{lang}: {v}");
    }
    let (status, stopped) = node.stop();
    assert!(status.success(), "{stopped}");
}
