//! `node.toml`: the operator's configuration. Every field has an embedded
//! default, so `hanzo-node serve` needs no file; flags and environment
//! variables override the file; unknown keys are errors that name the key.

use crate::engine::PoolConfig;
use crate::router::config::{AliasConfig, DeploymentConfig, RouterConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Where the database and the compile cache live.
    pub data_dir: PathBuf,
    /// The plugin directory: one folder per plugin (`plugin.toml` + `.wasm`).
    /// Defaults to `<data_dir>/plugins`.
    pub plugins_dir: Option<PathBuf>,
    /// Largest request body the server accepts, in bytes.
    pub max_body_bytes: u64,
    /// How long a changed plugin file must stay unchanged before it is loaded.
    pub reload_debounce_ms: u64,
    /// Loading plugins: deadline and parallelism.
    pub loader: LoaderConfig,
    /// Seconds to let requests in flight finish on shutdown.
    pub shutdown_grace_s: u64,
    /// Threads that serve HTTP connections, each running every connection it
    /// is given to the end (0: one per CPU).
    pub http_threads: usize,
    pub pool: PoolConfig,
    /// What plugins may do beyond their own settings: the defaults for
    /// plugins of untrusted publishers, the trusted publishers, strict mode.
    pub grants: GrantsConfig,
    /// The operator's settings and grants for individual plugins, by
    /// plugin name.
    pub plugins: BTreeMap<String, PluginOverrides>,
    /// What the operator allows each tenant: `[tenants.<name>]`.
    pub tenants: crate::tenant_policy::TenantPolicies,
    /// The LLM router: retries, circuit breaking, limits, cache.
    pub router: RouterConfig,
    /// Per-alias routing strategy.
    pub aliases: BTreeMap<String, AliasConfig>,
    /// Model deployments: alias → provider plugin and upstream model.
    pub deployments: Vec<DeploymentConfig>,
    /// The durable job queue: concurrency limits, default retries and timeout.
    pub jobs: crate::jobs::JobsConfig,
    /// The WebSocket endpoint `/v2/ws`: heartbeat and per-connection bounds.
    pub ws: WsConfig,
    /// What plugins may write to the node's log.
    pub log: crate::caps::log::LogConfig,
    /// Client connections: the cap, the header-read and idle timeouts.
    pub server: crate::conns::ServerConfig,
    /// Authentication: allowed hosts and origins, signed requests' window.
    pub auth: crate::auth::AuthConfig,
    /// The container engine (`hanzo:node/containers`) and every run's ceilings.
    pub containers: crate::containers::ContainersConfig,
    /// The operator's settings for single tools, by tool name, whichever
    /// plugin serves them: `[tools.<name>]`.
    pub tools: BTreeMap<String, ToolPolicy>,
    /// The vector store's upkeep.
    pub vectors: crate::vectors::VectorsConfig,
    /// The TEE: what verifies the node's own evidence, and the policy.
    pub tee: crate::tee::TeeConfig,
}

pub use crate::grants::{GrantsConfig, PluginOverrides};
pub use crate::tool_settings::ToolPolicy;

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 3690)),
            data_dir: PathBuf::from("hanzo-data"),
            plugins_dir: None,
            max_body_bytes: 10 << 20,
            reload_debounce_ms: 250,
            loader: Default::default(),
            shutdown_grace_s: 10,
            http_threads: 0,
            pool: PoolConfig::default(),
            grants: GrantsConfig::default(),
            plugins: BTreeMap::new(),
            tenants: Default::default(),
            router: RouterConfig::default(),
            aliases: BTreeMap::new(),
            deployments: Vec::new(),
            jobs: crate::jobs::JobsConfig::default(),
            ws: WsConfig::default(),
            log: crate::caps::log::LogConfig::default(),
            server: crate::conns::ServerConfig::default(),
            auth: crate::auth::AuthConfig::default(),
            containers: crate::containers::ContainersConfig::default(),
            tools: BTreeMap::new(),
            vectors: Default::default(),
            tee: Default::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Parse(PathBuf, String),
    #[error("{0}")]
    Invalid(String),
}

impl NodeConfig {
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.into(), e))?;
        let cfg: NodeConfig = toml::from_str(&text)
            .map_err(|e| ConfigError::Parse(path.into(), e.to_string().trim_end().into()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, o) in &self.plugins {
            if let Some(problem) = o.problem(&format!("plugins.{name}")) {
                return Err(ConfigError::Invalid(problem));
            }
        }
        if let Some(problem) = self.tools.iter().find_map(|(name, t)| t.problem(name)) {
            return Err(ConfigError::Invalid(problem));
        }
        if let Some(problem) = self.tee.problem() {
            return Err(ConfigError::Invalid(problem));
        }
        if let Some(problem) = self.vectors.problem() {
            return Err(ConfigError::Invalid(problem));
        }
        if let Some(problem) = self.grants.problem() {
            return Err(ConfigError::Invalid(problem));
        }
        let mut names = std::collections::BTreeSet::new();
        for d in &self.deployments {
            if !names.insert(d.name()) {
                return Err(ConfigError::Invalid(format!(
                    "deployment `{}` is defined twice",
                    d.name()
                )));
            }
            if d.alias.is_empty() || d.provider.is_empty() || d.model.is_empty() {
                return Err(ConfigError::Invalid(format!(
                    "deployment `{}` needs alias, provider and model",
                    d.name()
                )));
            }
            if d.tier > crate::tee::MAX_TIER {
                return Err(ConfigError::Invalid(format!(
                    "deployment `{}`: tier is 0 to {}",
                    d.name(),
                    crate::tee::MAX_TIER
                )));
            }
            for (k, v) in &d.secrets {
                if v.strip_prefix("env:").is_some_and(str::is_empty) {
                    return Err(ConfigError::Invalid(format!(
                        "deployment `{}`: secrets.{k} names no environment variable",
                        d.name()
                    )));
                }
            }
            for c in d.capabilities.iter().flatten() {
                crate::router::parse_capability(c).ok_or_else(|| {
                    ConfigError::Invalid(format!(
                        "deployment `{}`: unknown capability `{c}`",
                        d.name()
                    ))
                })?;
            }
        }
        if self.loader.timeout_s == 0 {
            return Err(ConfigError::Invalid(
                "loader.timeout_s must be positive".into(),
            ));
        }
        self.router.retry.validate().map_err(ConfigError::Invalid)?;
        self.jobs.validate().map_err(ConfigError::Invalid)?;
        self.tenants.validate().map_err(ConfigError::Invalid)?;
        if let Some(problem) = self.server.problem() {
            return Err(ConfigError::Invalid(problem.into()));
        }
        if let Some(problem) = self.auth.problem() {
            return Err(ConfigError::Invalid(problem));
        }
        if self.pool.instances == 0 {
            return Err(ConfigError::Invalid(
                "pool.instances must be positive".into(),
            ));
        }
        Ok(())
    }

    pub fn plugins_dir(&self) -> PathBuf {
        self.plugins_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("plugins"))
    }
}

/// `[loader]` in `node.toml`: how plugins are loaded.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoaderConfig {
    /// Seconds loading one plugin may take (reading, compiling, linking and a
    /// tool's `describe`) before it fails; the version loaded before, if
    /// any, keeps serving.
    pub timeout_s: u64,
    /// Large plugins (components over 2 MiB) read and compiled at once (0:
    /// one per CPU); smaller ones and a tool's `describe` run outside this
    /// bound.
    pub parallelism: usize,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            timeout_s: 60,
            parallelism: 0,
        }
    }
}

impl LoaderConfig {
    pub(crate) fn parallelism(&self) -> usize {
        match self.parallelism {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }
}

/// `[ws]` in node.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WsConfig {
    pub ping_interval_ms: u64,
    /// A client that sends nothing (not even a pong) for this long is dropped.
    pub idle_timeout_ms: u64,
    /// Messages queued for one client before its subscriptions wait.
    pub send_buffer: usize,
    /// Largest message a client may send.
    pub max_message_bytes: usize,
    pub max_subscriptions: usize,
    /// Requests (JobCreate, ToolExecute, …) one connection may have in flight.
    pub max_in_flight: usize,
    /// Browser origins (`https://app.example.com`, or `*` for any) whose
    /// pages may open a WebSocket besides the node's own. A request with an
    /// `Origin` header of any other site is refused (cross-site WebSocket
    /// hijacking); clients that send no `Origin` (not browsers) are not.
    pub allowed_origins: Vec<String>,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            ping_interval_ms: 15_000,
            idle_timeout_ms: 45_000,
            send_buffer: 256,
            max_message_bytes: 1 << 20,
            max_subscriptions: 64,
            max_in_flight: 64,
            allowed_origins: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_all_defaults() {
        let c: NodeConfig = toml::from_str("").unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3690");
        assert_eq!(c.plugins_dir(), PathBuf::from("hanzo-data/plugins"));
    }

    #[test]
    fn the_sample_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/node.toml");
        let c = NodeConfig::load(&path).unwrap();
        assert_eq!(c.plugins["openai"].allow_hosts, ["127.0.0.1:8000"]);
        assert_eq!(c.pool.instances, 1000);
        assert_eq!(c.server.max_connections, 10_000);
        assert!(c.ws.allowed_origins.is_empty());
    }

    #[test]
    fn auth_defaults_and_bounds() {
        let c: NodeConfig = toml::from_str("").unwrap();
        assert!(c.auth.allowed_hosts.is_empty() && c.auth.allowed_origins.is_empty());
        assert_eq!(
            (
                c.auth.max_clock_skew_s,
                c.auth.max_nonces,
                c.auth.reload_interval_ms
            ),
            (300, 1_000_000, 1000)
        );
        for key in ["max_clock_skew_s", "max_nonces", "reload_interval_ms"] {
            let c: NodeConfig = toml::from_str(&format!("[auth]\n{key} = 0")).unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(&format!("auth.{key}")), "{e}");
        }
        assert!(toml::from_str::<NodeConfig>("[auth]\nallowed_origin = []").is_err());
    }

    #[test]
    fn server_limits_must_be_positive() {
        for key in [
            "max_connections",
            "header_read_timeout_ms",
            "idle_timeout_ms",
        ] {
            let c: NodeConfig = toml::from_str(&format!("[server]\n{key} = 0")).unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(&format!("server.{key}")), "{e}");
        }
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = toml::from_str::<NodeConfig>("lisen = \"x\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lisen"), "{e}");
        let e = toml::from_str::<NodeConfig>("[plugins.openai]\nsecret = {}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("secret"), "{e}");
    }

    #[test]
    fn bounds_name_the_key() {
        for (toml, key) in [
            ("[jobs.retry]\nmax_delay_ms = 0", "jobs.retry.max_delay_ms"),
            (
                "[jobs.retry]\nmax_attempts = 1000",
                "jobs.retry.max_attempts",
            ),
            (
                "[router.retry]\nmax_attempts = 0",
                "router.retry.max_attempts",
            ),
            (
                "[router.retry]\nmultiplier = -1.0",
                "router.retry.multiplier",
            ),
            (
                "[jobs]\nmax_pending_per_tenant = 0",
                "jobs.max_pending_per_tenant",
            ),
            ("[jobs]\nmax_children = 0", "jobs.max_children"),
            (
                "[[deployments]]\nalias = \"a\"\nprovider = \"p\"\nmodel = \"m\"\nsecrets = { K = \"env:\" }",
                "secrets.K",
            ),
        ] {
            let c: NodeConfig = toml::from_str(toml).unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{toml}: {e}");
        }
        let c: NodeConfig =
            toml::from_str("[log]\nplugin_lines_per_s = 10\nplugin_burst = 20").unwrap();
        assert_eq!(c.log.plugin_burst, 20);
        assert!(toml::from_str::<NodeConfig>("[log]\nrate = 1").is_err());
    }
}
