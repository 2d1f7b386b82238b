//! Shared helpers: where the built plugins are, plugin folders in temp dirs,
//! the node as a child process, and the node as an in-process runtime.

#![allow(dead_code)]

use hanzo_node::{NodeConfig, Runtime};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A plugin component built by `make plugins`.
pub fn wasm(crate_name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let path = target
        .join("wasm32-wasip2/plugin")
        .join(format!("{}.wasm", crate_name.replace('-', "_")));
    assert!(
        path.is_file(),
        "{} is missing: build the plugins first (`make plugins`, or run the suite with `make test`)",
        path.display()
    );
    path
}

/// The source folder of a plugin crate (holding its plugin.toml).
pub fn source_dir(crate_name: &str) -> PathBuf {
    let first_party = repo().join("plugins").join(crate_name);
    let example = repo().join("examples").join(crate_name);
    if first_party.is_dir() {
        first_party
    } else if example.is_dir() {
        example
    } else {
        repo().join("tests/plugins").join(crate_name)
    }
}

/// Installs plugin `crate_name` into `plugins_dir/folder`, its manifest edited by `edit`.
pub fn install(
    plugins_dir: &Path,
    folder: &str,
    crate_name: &str,
    edit: impl FnOnce(&mut toml::Table),
) -> PathBuf {
    let dir = plugins_dir.join(folder);
    std::fs::create_dir_all(&dir).unwrap();
    let mut manifest: toml::Table = toml::from_str(
        &std::fs::read_to_string(source_dir(crate_name).join("plugin.toml")).unwrap(),
    )
    .unwrap();
    edit(&mut manifest);
    let file = format!("{}.wasm", crate_name.replace('-', "_"));
    manifest.insert("component".into(), toml::Value::String(file.clone()));
    std::fs::copy(wasm(crate_name), dir.join(&file)).unwrap();
    std::fs::write(dir.join("plugin.toml"), toml::to_string(&manifest).unwrap()).unwrap();
    dir
}

/// A plugin folder (plugin.toml + component) built by `make <lang>-plugins`
/// (`python`, `js`) into `$CARGO_TARGET_DIR/<lang>-plugins/<name>`.
pub fn built_plugin(lang: &str, name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let dir = target.join(format!("{lang}-plugins")).join(name);
    assert!(
        dir.join("plugin.toml").is_file(),
        "{} is missing: build it first (`make {lang}-plugins`, or run the suite with `make test`)",
        dir.display()
    );
    dir
}

/// Copies the built plugin folder `from` into `plugins_dir/folder` as an
/// operator would, its manifest edited by `edit`.
pub fn install_built(
    plugins_dir: &Path,
    folder: &str,
    from: &Path,
    edit: impl FnOnce(&mut toml::Table),
) -> PathBuf {
    let dest = plugins_dir.join(folder);
    std::fs::create_dir_all(&dest).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.file_name().is_some_and(|n| n != "plugin.toml") {
            std::fs::copy(&path, dest.join(path.file_name().unwrap())).unwrap();
        }
    }
    let mut manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(from.join("plugin.toml")).unwrap()).unwrap();
    edit(&mut manifest);
    std::fs::write(
        dest.join("plugin.toml"),
        toml::to_string(&manifest).unwrap(),
    )
    .unwrap();
    dest
}

/// POST /v2/tools/execute: the status and the JSON answer.
pub async fn execute(
    c: &reqwest::Client,
    node: &Node,
    tool: &str,
    arguments: serde_json::Value,
) -> (u16, serde_json::Value) {
    let r = c
        .post(node.url("/v2/tools/execute"))
        .json(&serde_json::json!({"tool": tool, "arguments": arguments}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The message of an `/v2/tools/execute` answer that must be a tool
/// plugin's failure (502 `tool_plugin_failed`).
pub fn plugin_failure(status: u16, v: &serde_json::Value) -> &str {
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (502, Some("tool_plugin_failed")),
        "{v}"
    );
    v["error"]["message"].as_str().unwrap_or_default()
}

/// Sets `[section].key = value` in a manifest table.
pub fn set(manifest: &mut toml::Table, section: &str, key: &str, value: toml::Value) {
    let t = manifest
        .entry(section.to_string())
        .or_insert_with(|| toml::Value::Table(Default::default()));
    t.as_table_mut().unwrap().insert(key.to_string(), value);
}

/// A temp dir with `plugins/` and `data/` inside.
pub struct Dirs {
    pub root: tempfile::TempDir,
    pub plugins: PathBuf,
    pub data: PathBuf,
}

impl Dirs {
    pub fn new() -> Dirs {
        let root = tempfile::tempdir().unwrap();
        let plugins = root.path().join("plugins");
        let data = root.path().join("data");
        std::fs::create_dir_all(&plugins).unwrap();
        Dirs {
            root,
            plugins,
            data,
        }
    }

    pub fn config(&self) -> NodeConfig {
        NodeConfig {
            data_dir: self.data.clone(),
            plugins_dir: Some(self.plugins.clone()),
            reload_debounce_ms: 100,
            pool: hanzo_node::engine::PoolConfig {
                instances: 200,
                max_memory_mb: 1024,
                ..Default::default()
            },
            ..NodeConfig::default()
        }
    }
}

/// The runtime in-process with every plugin of the directory loaded.
pub async fn runtime(config: NodeConfig) -> Arc<Runtime> {
    let rt = Runtime::new(config).unwrap();
    for (folder, outcome) in hanzo_node::loader::load_all(&rt).await {
        assert_eq!(
            outcome,
            hanzo_node::loader::LoadOutcome::Loaded,
            "plugin folder {folder} did not load"
        );
    }
    rt.start_jobs().await.unwrap();
    rt
}

/// The `hanzo-node serve` binary as a child process on an ephemeral port.
pub struct Node {
    child: Child,
    pub base: String,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Node {
    /// Starts the node and waits until it has loaded its plugin directory
    /// (`/v2/health` no longer says `starting`).
    pub fn start(dirs: &Dirs, extra: &[&str]) -> Node {
        let node = Node::launch(dirs, extra);
        let deadline = Instant::now() + Duration::from_secs(120);
        while node.health_status().as_deref() != Some("ok") {
            assert!(
                Instant::now() < deadline,
                "hanzo-node did not finish loading its plugins"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        node
    }

    /// `status` of `/v2/health`, read with a plain blocking request (the
    /// callers may be on an async runtime or not).
    fn health_status(&self) -> Option<String> {
        use std::io::{Read, Write};
        let addr = self.base.strip_prefix("http://")?;
        let mut s = std::net::TcpStream::connect(addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        s.write_all(b"GET /v2/health HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
            .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let body = &text[text.find("\r\n\r\n")? + 4..];
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        v["status"].as_str().map(str::to_string)
    }

    /// Starts the node and returns once its port is open, while its
    /// plugins may still be loading.
    pub fn launch(dirs: &Dirs, extra: &[&str]) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hanzo-node"))
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--plugins")
            .arg(&dirs.plugins)
            .arg("--data-dir")
            .arg(&dirs.data)
            .args(extra)
            .current_dir(dirs.root.path())
            .env("HANZO_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start hanzo-node");
        let stderr = child.stderr.take().unwrap();
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        let base = loop {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 || Instant::now() > deadline {
                let _ = child.kill();
                panic!(
                    "hanzo-node exited before listening:\n{}",
                    stderr.join().unwrap()
                );
            }
            if let Some(url) = line.trim().strip_prefix("listening on ") {
                break url.to_string();
            }
        };
        Node {
            child,
            base,
            stderr: Some(stderr),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// After the process was killed from outside: its exit status and log.
    pub fn wait_killed(mut self) -> (std::process::ExitStatus, String) {
        let status = self.child.wait().unwrap();
        (status, self.stderr.take().unwrap().join().unwrap())
    }

    /// SIGTERM, then the exit status and everything the node logged.
    pub fn stop(mut self) -> (std::process::ExitStatus, String) {
        let status = self.terminate();
        (status, self.stderr.take().unwrap().join().unwrap())
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                return self.child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if self.stderr.is_some() {
            self.terminate();
        }
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// `GET url`, its body as JSON (whatever the status).
pub async fn get_json(c: &reqwest::Client, url: String) -> serde_json::Value {
    c.get(url).send().await.unwrap().json().await.unwrap()
}

/// Polls `check` until it returns true or `timeout` passes.
pub async fn eventually(timeout: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// GET `url`, or POST `body` as JSON, as the OpenAI and Anthropic clients
/// would (`anthropic-version` set) and past the response cache: the status
/// and the JSON answer.
pub async fn send(
    c: &reqwest::Client,
    url: String,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let r = match body {
        Some(body) => c.post(url).json(&body),
        None => c.get(url),
    }
    .header("anthropic-version", "2023-06-01")
    .header("x-hanzo-cache", "bypass")
    .send()
    .await
    .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}
