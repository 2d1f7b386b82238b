//! The gateways under test, each started by the harness against the mock:
//! hanzo-node (the binary and the `openai` + `api-openai` plugins), the
//! LiteLLM proxy and the TensorZero gateway (both from PyPI, in venvs the
//! harness creates on demand). A target that cannot be installed or started
//! is skipped with the reason; nothing is faked.

use crate::loadgen::{self, Endpoint, Mode};
use crate::procs::{self, ChildGuard};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Pinned so that a run installs what was reviewed. litellm 1.82.7 and
/// 1.82.8 on PyPI were compromised (credential stealers, March 2026); 1.82.6
/// is the last release before them.
pub const LITELLM_SPEC: &str = "litellm[proxy]==1.82.6";
pub const TENSORZERO_SPEC: &str = "tensorzero==2026.6.0";

pub struct Options {
    pub repo_root: PathBuf,
    pub hanzo_bin: PathBuf,
    pub wasm_dir: PathBuf,
    pub venv_root: PathBuf,
    pub python: String,
    pub no_install: bool,
    pub litellm_spec: String,
    pub litellm_workers: usize,
    pub tensorzero_spec: String,
    pub startup_timeout: Duration,
    pub install_timeout: Duration,
    /// Tokio workers of the bare forwarder.
    pub forwarder_threads: usize,
    /// Scratch folder for configs, plugin dirs and logs.
    pub work: PathBuf,
}

/// A gateway that is up and answering.
pub struct Running {
    pub endpoint: Endpoint,
    pub child: Option<ChildGuard>,
    pub log: Option<PathBuf>,
    /// What runs, e.g. versions and worker counts.
    pub about: String,
    /// Modes this target cannot serve, with the reason.
    pub mode_skips: BTreeMap<Mode, String>,
}

impl Running {
    pub fn pgid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.pgid)
    }

    /// None while running; else why it is gone, with its log's tail.
    pub fn exited(&mut self) -> Option<String> {
        let c = self.child.as_mut()?;
        if c.alive() {
            return None;
        }
        Some(format!(
            "{} exited during the run: {}",
            c.name,
            self.log.as_deref().map(log_tail).unwrap_or_default()
        ))
    }
}

/// A gateway on 127.0.0.1:`port` serving OpenAI chat completions at
/// `/v1/chat/completions` under the model name `bench`.
fn bench_endpoint(port: u16) -> Endpoint {
    Endpoint {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        chat_path: "/v1/chat/completions".into(),
        model: "bench".into(),
        authorization: "Bearer sk-bench",
    }
}

pub fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

/// The last lines of a log, on one line, for a skip reason.
pub fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let tail = lines[lines.len().saturating_sub(6)..].join(" | ");
    let tail = strip_ansi(&tail);
    let n = tail.chars().count();
    let short: String = if n > 900 {
        tail.chars().skip(n - 900).collect()
    } else {
        tail
    };
    format!("[log {}] {short}", path.display())
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Waits until `ep` answers a valid non-streaming completion (which proves
/// the whole path to the mock), then checks streaming once.
async fn wait_ready(
    child: &mut ChildGuard,
    log: &Path,
    ep: &Endpoint,
    timeout: Duration,
) -> Result<BTreeMap<Mode, String>, String> {
    let start = Instant::now();
    let mut last;
    loop {
        if !child.alive() {
            return Err(format!(
                "{} exited while starting: {}",
                child.name,
                log_tail(log)
            ));
        }
        match loadgen::probe(ep, Mode::NonStreaming, Duration::from_secs(10)).await {
            Ok(_) => break,
            Err(e) => last = e,
        }
        if start.elapsed() > timeout {
            return Err(format!(
                "not answering a chat completion after {}s (last: {last}); {}",
                timeout.as_secs(),
                log_tail(log)
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut skips = BTreeMap::new();
    if let Err(e) = loadgen::probe(ep, Mode::Streaming, Duration::from_secs(10)).await {
        skips.insert(Mode::Streaming, format!("streaming probe failed: {e}"));
    }
    Ok(skips)
}

/// A command with the environment trimmed of real credentials: nothing here
/// needs them and every upstream is the mock.
fn command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    for k in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_API_BASE",
        "ANTHROPIC_API_KEY",
        "DATABASE_URL",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "http_proxy",
        "https_proxy",
        "ALL_PROXY",
    ] {
        c.env_remove(k);
    }
    c.env("NO_PROXY", "127.0.0.1,localhost");
    c
}

// -------------------------------------------------------------- forwarder

/// The bare hyper forwarder (`gateway-bench forward`, this binary): the cost
/// floor of any gateway, in its own process so that its CPU is measured like
/// the others'.
pub async fn forwarder(o: &Options, mock: SocketAddr) -> Result<Running, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let port = free_port().map_err(|e| e.to_string())?;
    let dir = o.work.join("forwarder");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let log = dir.join("forwarder.log");
    let mut cmd = command(&exe);
    cmd.arg("forward")
        .arg("--upstream")
        .arg(mock.to_string())
        .arg("--port")
        .arg(port.to_string())
        .arg("--threads")
        .arg(o.forwarder_threads.to_string());
    let mut child = procs::spawn("forwarder", cmd, &log).map_err(|e| format!("spawn: {e}"))?;
    let endpoint = bench_endpoint(port);
    let mode_skips = wait_ready(&mut child, &log, &endpoint, o.startup_timeout).await?;
    Ok(Running {
        endpoint,
        about: format!(
            "bare hyper forwarder ({} tokio workers): parses the JSON, rewrites model bench -> {}, forwards over a pooled client",
            o.forwarder_threads,
            crate::forwarder::UPSTREAM_MODEL
        ),
        child: Some(child),
        log: Some(log),
        mode_skips,
    })
}

// ------------------------------------------------------------------ hanzo

/// hanzo-node; with `auth`, a tenant and its API key are made first (`hanzo-node
/// tenant …`) and every request carries the key: what authentication adds.
pub async fn hanzo(o: &Options, mock: SocketAddr, auth: bool) -> Result<Running, String> {
    if !o.hanzo_bin.is_file() {
        return Err(format!(
            "hanzo-node binary not found at {} (build it: cargo build --release -p hanzo-node; or pass --hanzo-bin)",
            o.hanzo_bin.display()
        ));
    }
    // (folder name, wasm file) of the two plugins the path needs.
    let plugins = [("openai", "openai.wasm"), ("api-openai", "api_openai.wasm")];
    for (name, wasm) in plugins {
        let w = o.wasm_dir.join(wasm);
        if !w.is_file() {
            let what = if name == "api-openai" {
                "the api-openai plugin (OpenAI-compatible /v1/chat/completions over the router) is not built yet"
            } else {
                "the openai provider plugin is not built"
            };
            return Err(format!(
                "{what}: {} missing (make plugins, or cargo build --profile plugin --target wasm32-wasip2 -p {name})",
                w.display()
            ));
        }
        let m = o.repo_root.join("plugins").join(name).join("plugin.toml");
        if !m.is_file() {
            return Err(format!("manifest {} missing", m.display()));
        }
    }
    let dir = o.work.join(if auth { "hanzo-auth" } else { "hanzo" });
    let plugins_dir = dir.join("plugins");
    for (name, wasm) in plugins {
        let d = plugins_dir.join(name);
        std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
        std::fs::copy(o.wasm_dir.join(wasm), d.join(wasm)).map_err(|e| e.to_string())?;
        std::fs::copy(
            o.repo_root.join("plugins").join(name).join("plugin.toml"),
            d.join("plugin.toml"),
        )
        .map_err(|e| e.to_string())?;
    }
    let port = free_port().map_err(|e| e.to_string())?;
    let config = format!(
        r#"# Written by gateway-bench.
listen = "127.0.0.1:{port}"
data_dir = "{data}"
plugins_dir = "{plugins}"

[router]
cache_ttl_s = 0          # every request reaches the upstream

[plugins.openai]
config = {{ base_url = "http://{mock}/v1" }}
allow_hosts = ["{mock}"]

[[deployments]]
alias = "bench"
provider = "openai"
model = "gpt-4o-mini"
"#,
        data = dir.join("data").display(),
        plugins = plugins_dir.display(),
    );
    let cfg_path = dir.join("node.toml");
    std::fs::write(&cfg_path, config).map_err(|e| e.to_string())?;
    let mut authorization = "Bearer sk-bench";
    if auth {
        let tenant = |args: &[&str]| -> Result<String, String> {
            let out = command(&o.hanzo_bin)
                .arg("tenant")
                .args(args)
                .arg("--config")
                .arg(&cfg_path)
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!(
                    "hanzo-node tenant {}: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        };
        tenant(&["create", "bench"])?;
        let key = tenant(&["key", "add", "bench"])?;
        // One header for the whole run.
        authorization = Box::leak(format!("Bearer {key}").into_boxed_str());
    }
    let log = dir.join("hanzo-node.log");
    let mut cmd = command(&o.hanzo_bin);
    cmd.arg("serve")
        .arg("--config")
        .arg(&cfg_path)
        .current_dir(&dir)
        .env("HANZO_LOG", "warn");
    let mut child = procs::spawn("hanzo-node", cmd, &log).map_err(|e| format!("spawn: {e}"))?;
    let endpoint = Endpoint {
        authorization,
        ..bench_endpoint(port)
    };
    let mode_skips = wait_ready(&mut child, &log, &endpoint, o.startup_timeout).await?;
    Ok(Running {
        endpoint,
        about: format!(
            "{} serve; plugins openai + api-openai from {}; alias bench -> openai/gpt-4o-mini; router cache off{}",
            o.hanzo_bin.display(),
            o.wasm_dir.display(),
            if auth {
                "; a tenant's API key on every request"
            } else {
                ""
            }
        ),
        child: Some(child),
        log: Some(log),
        mode_skips,
    })
}

// ------------------------------------------------------------------ venvs

/// The venv `name` under the venv root with `spec` installed, created on
/// demand. A marker file records what was installed, so a changed spec
/// rebuilds the venv.
fn ensure_venv(o: &Options, name: &str, spec: &str) -> Result<PathBuf, String> {
    let dir = o.venv_root.join(name);
    let marker = dir.join(".gateway-bench-installed");
    let python = dir.join("bin/python");
    if python.is_file() && std::fs::read_to_string(&marker).ok().as_deref() == Some(spec) {
        return Ok(dir);
    }
    if o.no_install {
        return Err(format!(
            "{spec} is not installed in {} (--no-install)",
            dir.display()
        ));
    }
    if dir.exists() {
        std::fs::remove_dir_all(&dir)
            .map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(&o.venv_root).map_err(|e| e.to_string())?;
    let log = o.venv_root.join(format!("{name}-install.log"));
    let _ = std::fs::remove_file(&log);
    eprintln!(
        "installing {spec} into {} (log: {}) …",
        dir.display(),
        log.display()
    );
    let mut venv = command(&o.python);
    venv.args(["-m", "venv"]).arg(&dir);
    run_to_end("python -m venv", venv, &log, Duration::from_secs(300))?;
    let mut pip = command(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        // Wheels only: no package's build script runs at install time.
        "--only-binary=:all:",
        spec,
    ]);
    if let Err(e) = run_to_end("pip install", pip, &log, o.install_timeout) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!("pip install {spec} failed: {e}"));
    }
    if let Err(e) = check_startup_hooks(&dir) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    std::fs::write(&marker, spec).map_err(|e| e.to_string())?;
    Ok(dir)
}

/// Runs a command to completion (bounded), its output appended to `log`.
fn run_to_end(what: &str, cmd: Command, log: &Path, timeout: Duration) -> Result<(), String> {
    let mut child = procs::spawn(what, cmd, log).map_err(|e| format!("{what}: {e}"))?;
    let start = Instant::now();
    loop {
        match child.child.try_wait() {
            Ok(Some(st)) if st.success() => return Ok(()),
            Ok(Some(st)) => return Err(format!("{what} exited with {st}: {}", log_tail(log))),
            Ok(None) if start.elapsed() > timeout => {
                return Err(format!("{what} still running after {}s", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("{what}: {e}")),
        }
    }
}

/// Refuses a venv whose site-packages holds an executable `.pth` file other
/// than setuptools' own: that is how the compromised litellm 1.82.8 ran its
/// payload at every Python start.
fn check_startup_hooks(venv: &Path) -> Result<(), String> {
    let lib = venv.join("lib");
    let Ok(pys) = std::fs::read_dir(&lib) else {
        return Ok(());
    };
    for py in pys.flatten() {
        let sp = py.path().join("site-packages");
        let Ok(entries) = std::fs::read_dir(&sp) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.ends_with(".pth") || name == "distutils-precedence.pth" {
                continue;
            }
            let text = std::fs::read_to_string(e.path()).unwrap_or_default();
            if text
                .lines()
                .any(|l| l.starts_with("import ") || l.starts_with("import\t"))
            {
                return Err(format!(
                    "refusing the venv: {} runs code at every Python start (unexpected startup hook)",
                    e.path().display()
                ));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- litellm

pub async fn litellm(o: &Options, mock: SocketAddr) -> Result<Running, String> {
    let venv = ensure_venv(o, "litellm", &o.litellm_spec)?;
    let dir = o.work.join("litellm");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let config = format!(
        r#"# Written by gateway-bench.
model_list:
  - model_name: bench
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: http://{mock}/v1
      api_key: sk-bench
litellm_settings:
  drop_params: true
  telemetry: false
  set_verbose: false
  request_timeout: 60
general_settings:
  disable_spend_logs: true
"#
    );
    let cfg_path = dir.join("config.yaml");
    std::fs::write(&cfg_path, config).map_err(|e| e.to_string())?;
    // uvicorn's access log writes a line per request; production setups turn
    // it off, and so do we (warnings and errors still go to the log).
    let log_cfg = dir.join("log_config.json");
    std::fs::write(&log_cfg, UVICORN_LOG_CONFIG).map_err(|e| e.to_string())?;
    let port = free_port().map_err(|e| e.to_string())?;
    let log = dir.join("litellm.log");
    let mut cmd = command(venv.join("bin/litellm"));
    cmd.arg("--config")
        .arg(&cfg_path)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--num_workers", &o.litellm_workers.to_string()])
        .args(["--telemetry", "False"])
        .arg("--log_config")
        .arg(&log_cfg)
        .current_dir(&dir)
        // No network here: use the bundled model cost map instead of fetching it.
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env("LITELLM_LOG", "ERROR")
        .env("PYTHONUNBUFFERED", "1");
    let mut child = procs::spawn("litellm", cmd, &log).map_err(|e| format!("spawn: {e}"))?;
    let endpoint = bench_endpoint(port);
    let mode_skips = wait_ready(&mut child, &log, &endpoint, o.startup_timeout).await?;
    Ok(Running {
        endpoint,
        about: format!(
            "{} proxy (uvicorn, {} worker{}), model_list bench -> openai/gpt-4o-mini at the mock",
            o.litellm_spec,
            o.litellm_workers,
            if o.litellm_workers == 1 { "" } else { "s" }
        ),
        child: Some(child),
        log: Some(log),
        mode_skips,
    })
}

const UVICORN_LOG_CONFIG: &str = r#"{
  "version": 1,
  "disable_existing_loggers": false,
  "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
  "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
  "loggers": {
    "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": false},
    "uvicorn.error": {"handlers": ["stderr"], "level": "WARNING", "propagate": false},
    "uvicorn.access": {"handlers": ["stderr"], "level": "WARNING", "propagate": false}
  }
}
"#;

// ------------------------------------------------------------- tensorzero

/// The wheel carries the gateway (Rust, via PyO3). `_start_http_gateway` runs
/// its HTTP server in-process on an ephemeral 127.0.0.1 port; it is what the
/// package's own `patch_openai_client` uses. Prints the base URL, then waits.
const TENSORZERO_LAUNCHER: &str = r#"
import signal, sys, threading
import tensorzero
gw = tensorzero._start_http_gateway(
    config_file=sys.argv[1], clickhouse_url=None, postgres_url=None,
    valkey_url=None, async_setup=False)
print("GATEWAY_BENCH_BASE_URL " + gw.base_url, flush=True)
print("GATEWAY_BENCH_VERSION " + tensorzero.__version__, flush=True)
done = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: done.set())
signal.signal(signal.SIGINT, lambda *_: done.set())
done.wait()
gw.close()
"#;

pub async fn tensorzero(o: &Options, mock: SocketAddr) -> Result<Running, String> {
    let venv = ensure_venv(o, "tensorzero", &o.tensorzero_spec)?;
    let dir = o.work.join("tensorzero");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let config = format!(
        r#"# Written by gateway-bench.
[gateway]
observability.enabled = false   # no ClickHouse here; nothing is stored

[models.bench]
routing = ["mock"]

[models.bench.providers.mock]
type = "openai"
model_name = "gpt-4o-mini"
api_base = "http://{mock}/v1/"
api_key_location = "none"
"#
    );
    let cfg_path = dir.join("tensorzero.toml");
    std::fs::write(&cfg_path, config).map_err(|e| e.to_string())?;
    let launcher = dir.join("launch.py");
    std::fs::write(&launcher, TENSORZERO_LAUNCHER).map_err(|e| e.to_string())?;
    let log = dir.join("tensorzero.log");
    let mut cmd = command(venv.join("bin/python"));
    cmd.arg(&launcher)
        .arg(&cfg_path)
        .current_dir(&dir)
        .env("PYTHONUNBUFFERED", "1")
        .env("RUST_LOG", "warn")
        .env("TENSORZERO_DISABLE_PSEUDONYMOUS_USAGE_ANALYTICS", "1");
    let mut child = procs::spawn("tensorzero", cmd, &log).map_err(|e| format!("spawn: {e}"))?;
    // The port is chosen by the gateway; read it from the launcher's output.
    let start = Instant::now();
    let (base, version) = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let find = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key).map(|s| s.trim().to_string()))
        };
        if let (Some(b), Some(v)) = (
            find("GATEWAY_BENCH_BASE_URL "),
            find("GATEWAY_BENCH_VERSION "),
        ) {
            break (b, v);
        }
        if !child.alive() {
            return Err(format!(
                "the embedded gateway did not start: {}",
                log_tail(&log)
            ));
        }
        if start.elapsed() > o.startup_timeout {
            return Err(format!(
                "no gateway address after {}s: {}",
                o.startup_timeout.as_secs(),
                log_tail(&log)
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // e.g. http://127.0.0.1:35281/openai/v1
    let rest = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("unexpected gateway URL {base}"))?;
    let (hostport, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let addr: SocketAddr = hostport
        .parse()
        .map_err(|e| format!("unexpected gateway URL {base}: {e}"))?;
    if !addr.ip().is_loopback() {
        return Err(format!("the gateway listens on {addr}, not loopback"));
    }
    let endpoint = Endpoint {
        addr,
        chat_path: format!("{}/chat/completions", path.trim_end_matches('/')),
        model: "tensorzero::model_name::bench".into(),
        authorization: "Bearer sk-bench",
    };
    let mode_skips = wait_ready(&mut child, &log, &endpoint, o.startup_timeout).await?;
    Ok(Running {
        endpoint,
        about: format!(
            "tensorzero {version} gateway embedded in the Python wheel (tensorzero._start_http_gateway), \
             OpenAI-compatible endpoint {path}, provider type openai at the mock, observability off"
        ),
        child: Some(child),
        log: Some(log),
        mode_skips,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_tails_are_short_and_without_colour_codes() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut text = String::new();
        for i in 0..20 {
            text.push_str(&format!("\u{1b}[32mline {i}\u{1b}[0m\n\n"));
        }
        std::fs::write(f.path(), text).unwrap();
        let t = log_tail(f.path());
        assert!(t.contains("line 19"), "{t}");
        assert!(t.contains("line 14") && !t.contains("line 13"), "{t}");
        assert!(!t.contains('\u{1b}'), "{t}");
    }

    #[test]
    fn executable_pth_files_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let sp = d.path().join("lib/python3.11/site-packages");
        std::fs::create_dir_all(&sp).unwrap();
        std::fs::write(sp.join("distutils-precedence.pth"), "import os; x=1\n").unwrap();
        std::fs::write(sp.join("paths.pth"), "/some/dir\n").unwrap();
        assert!(check_startup_hooks(d.path()).is_ok());
        std::fs::write(sp.join("litellm_init.pth"), "import os, subprocess\n").unwrap();
        let e = check_startup_hooks(d.path()).unwrap_err();
        assert!(e.contains("litellm_init.pth"), "{e}");
    }
}
