//! `plugin.toml`: what a plugin is, what it may do and how much it may use.
//! Everything not granted here is denied; unknown keys are errors so a typo
//! never silently drops a limit.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The file name of a manifest inside a plugin folder.
pub const MANIFEST_FILE: &str = "plugin.toml";

/// Which world a plugin implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    Provider,
    Tool,
    Api,
}

impl PluginKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Provider => "provider",
            PluginKind::Tool => "tool",
            PluginKind::Api => "api",
        }
    }

    /// The WIT world a component of this kind must target.
    pub fn world(self) -> &'static str {
        match self {
            PluginKind::Provider => "hanzo:node/provider@0.1.0",
            PluginKind::Tool => "hanzo:node/tool@0.1.0",
            PluginKind::Api => "hanzo:node/api@0.1.0",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub kind: PluginKind,
    pub version: String,
    #[serde(default)]
    pub description: String,
    /// The component file beside the manifest; defaults to the folder's only `.wasm`.
    #[serde(default)]
    pub component: Option<String>,
    #[serde(default)]
    pub permissions: Permissions,
    #[serde(default)]
    pub limits: Limits,
    /// Plugin settings readable through `hanzo:node/config`.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    /// Path prefixes an API plugin serves.
    #[serde(default)]
    pub routes: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// Outbound HTTP hosts: `host`, `host:port` or `*.domain`.
    #[serde(default)]
    pub http: Vec<String>,
    /// Access to the plugin's own kv namespace.
    #[serde(default)]
    pub kv: bool,
    /// Secrets the plugin may read; the operator provides the values.
    #[serde(default)]
    pub secrets: Vec<String>,
    /// Listing and invoking the node's tools (API plugins and agents).
    #[serde(default)]
    pub tools: bool,
    /// The LLM router (`hanzo:node/llm`), for API plugins and agents.
    #[serde(default)]
    pub llm: bool,
    /// The job queue (`hanzo:node/jobs`): submit, inspect, cancel, fork, branch.
    #[serde(default)]
    pub jobs: bool,
    /// Agent definitions (`hanzo:node/agents`).
    #[serde(default)]
    pub agents: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Linear memory per instance.
    #[serde(default = "Limits::default_memory_mb")]
    pub memory_mb: u64,
    /// Wall-clock time per call, including time spent waiting on the host.
    #[serde(default = "Limits::default_timeout_ms")]
    pub timeout_ms: u64,
    /// Calls of this plugin running at once, each on its own instance;
    /// further calls wait. (Parked instances waiting for reuse are bounded
    /// separately, see `crate::warm`.)
    #[serde(default = "Limits::default_max_concurrency")]
    pub max_concurrency: usize,
    /// Largest kv value in bytes.
    #[serde(default = "Limits::default_kv_value_bytes")]
    pub kv_value_bytes: u64,
    /// Calls one instance serves, in sequence and for one tenant only,
    /// before it is dropped. 1 (the default): a fresh instance per call.
    /// More spares instantiating and resetting an instance per call, for a
    /// plugin that keeps no state between calls (or whose runtime is large
    /// to start). An instance that traps, times out, runs out of memory or
    /// grows past half its memory is never reused (see `crate::warm`).
    #[serde(default = "Limits::default_calls_per_instance")]
    pub calls_per_instance: u32,
}

impl Limits {
    fn default_memory_mb() -> u64 {
        128
    }
    fn default_timeout_ms() -> u64 {
        30_000
    }
    fn default_max_concurrency() -> usize {
        64
    }
    fn default_kv_value_bytes() -> u64 {
        1 << 20
    }
    fn default_calls_per_instance() -> u32 {
        1
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: Self::default_memory_mb(),
            timeout_ms: Self::default_timeout_ms(),
            max_concurrency: Self::default_max_concurrency(),
            kv_value_bytes: Self::default_kv_value_bytes(),
            calls_per_instance: Self::default_calls_per_instance(),
        }
    }
}

/// A manifest that cannot be used, with the reason in words.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Manifest {
    /// Reads and checks `dir/plugin.toml`.
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Read {
            path: path.clone(),
            source,
        })?;
        let manifest = Manifest::parse(&text).map_err(|message| ManifestError::Parse {
            path: path.clone(),
            message,
        })?;
        manifest
            .problems()
            .into_iter()
            .next()
            .map_or(Ok(manifest), |message| {
                Err(ManifestError::Invalid { path, message })
            })
    }

    pub fn parse(text: &str) -> Result<Manifest, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_string())
    }

    /// Everything wrong with a parsed manifest, in words (empty when usable).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !valid_name(&self.name) {
            out.push(format!(
                "name `{}` must be 1-64 characters of a-z, 0-9, `-` or `_`",
                self.name
            ));
        }
        if self.limits.memory_mb == 0 || self.limits.memory_mb > 4096 {
            out.push("limits.memory_mb must be between 1 and 4096".into());
        }
        if self.limits.timeout_ms == 0 {
            out.push("limits.timeout_ms must be positive".into());
        }
        if self.limits.max_concurrency == 0 {
            out.push("limits.max_concurrency must be positive".into());
        }
        if self.limits.calls_per_instance == 0 || self.limits.calls_per_instance > 100_000 {
            out.push("limits.calls_per_instance must be between 1 and 100000".into());
        }
        match self.kind {
            PluginKind::Api if self.routes.is_empty() => {
                out.push("an api plugin must declare at least one route in `routes`".into())
            }
            PluginKind::Api => {
                for r in &self.routes {
                    if !r.starts_with('/') || r.contains("..") || r.contains('?') {
                        out.push(format!("route `{r}` must be an absolute path prefix"));
                    }
                }
            }
            _ if !self.routes.is_empty() => out.push(format!(
                "`routes` is only for api plugins, not {}",
                self.kind.as_str()
            )),
            _ => {}
        }
        for host in &self.permissions.http {
            if let Err(e) = crate::caps::http::HostPattern::parse(host) {
                out.push(format!("permissions.http: {e}"));
            }
        }
        for (key, value) in &self.config {
            if value.is_table() || value.is_array() {
                out.push(format!("config.{key} must be a string, number or boolean"));
            }
        }
        out
    }

    /// The component file for a plugin folder.
    pub fn component_path(&self, dir: &Path) -> Result<PathBuf, ManifestError> {
        if let Some(file) = &self.component {
            if file.contains('/') || file.contains('\\') || file == ".." {
                return Err(ManifestError::Invalid {
                    path: dir.join(MANIFEST_FILE),
                    message: format!("component `{file}` must be a file name beside the manifest"),
                });
            }
            return Ok(dir.join(file));
        }
        let wasm: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|source| ManifestError::Read {
                path: dir.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
            .collect();
        match wasm.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(ManifestError::Invalid {
                path: dir.join(MANIFEST_FILE),
                message: "no .wasm file beside the manifest".into(),
            }),
            _ => Err(ManifestError::Invalid {
                path: dir.join(MANIFEST_FILE),
                message: "several .wasm files: name one with `component = \"...\"`".into(),
            }),
        }
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// A config value as the string a plugin reads.
pub fn config_value_string(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_manifest_has_deny_all_defaults() {
        let m = Manifest::parse("name = \"t\"\nkind = \"tool\"\nversion = \"1\"").unwrap();
        assert!(m.permissions.http.is_empty());
        assert!(!m.permissions.kv && !m.permissions.tools);
        assert!(m.permissions.secrets.is_empty());
        assert_eq!(m.limits.memory_mb, 128);
        assert_eq!(m.limits.calls_per_instance, 1, "a fresh instance per call");
        assert!(m.problems().is_empty());
    }

    #[test]
    fn calls_per_instance_is_bounded() {
        let with = |n: u32| {
            Manifest::parse(&format!(
                "name = \"t\"\nkind = \"tool\"\nversion = \"1\"\n[limits]\ncalls_per_instance = {n}"
            ))
            .unwrap()
            .problems()
        };
        assert!(with(64).is_empty());
        assert!(with(0)[0].contains("calls_per_instance"));
        assert!(with(100_001)[0].contains("calls_per_instance"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = Manifest::parse(
            "name = \"t\"\nkind = \"tool\"\nversion = \"1\"\n[limits]\nmemroy_mb = 3",
        )
        .unwrap_err();
        assert!(e.contains("memroy_mb"), "{e}");
    }

    #[test]
    fn api_plugins_need_routes_and_others_must_not_have_them() {
        let api = Manifest::parse("name = \"a\"\nkind = \"api\"\nversion = \"1\"").unwrap();
        assert!(api.problems()[0].contains("route"));
        let tool =
            Manifest::parse("name = \"a\"\nkind = \"tool\"\nversion = \"1\"\nroutes = [\"/x\"]")
                .unwrap();
        assert!(tool.problems()[0].contains("only for api"));
    }

    #[test]
    fn bad_names_and_hosts_are_reported() {
        let m = Manifest::parse(
            "name = \"Bad Name\"\nkind = \"tool\"\nversion = \"1\"\n[permissions]\nhttp = [\"http://x\"]",
        )
        .unwrap();
        let p = m.problems();
        assert_eq!(p.len(), 2, "{p:?}");
    }
}
