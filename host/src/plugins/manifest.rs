//! `plugin.toml`: what a plugin is, what it may do and how much it may use.
//! Everything not granted here is denied; unknown keys are errors so a typo
//! never silently drops a limit, and every limit has a ceiling (some set by
//! the operator, see [`Ceilings`]).

pub use crate::context::config_value_string;
use crate::grants::MAX_DESCRIBE_EVERY_S;
pub use crate::grants::{Limits, Permissions};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The file name of a manifest inside a plugin folder.
pub const MANIFEST_FILE: &str = "plugin.toml";

/// The largest manifest read, in bytes.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// The largest component read, in bytes (language runtimes such as Python
/// take tens of MiB).
pub const MAX_COMPONENT_BYTES: u64 = 1 << 30;

/// Paths the host answers itself (`crate::server`); no route may claim them
/// or anything under them.
pub const HOST_PATHS: &[&str] = &[
    "/v2/health",
    "/v2/plugins",
    "/v2/usage",
    "/v2/deployments",
    "/v2/ws",
    "/v2/tenants",
    "/v2/tool-settings",
];

/// Ceilings of the limits a manifest may ask for: the node's own, and those
/// the operator sets in `node.toml`.
#[derive(Debug, Clone, Copy)]
pub struct Ceilings {
    /// `pool.max_memory_mb`: the largest memory the instance pool provides.
    pub max_memory_mb: u64,
}

impl Ceilings {
    /// Calls of one plugin running at once.
    pub const MAX_CONCURRENCY: usize = 10_000;
    /// Time limit of one call: an hour.
    pub const MAX_TIMEOUT_MS: u64 = 3_600_000;
    /// Calls one instance serves before it is dropped.
    pub const MAX_CALLS_PER_INSTANCE: u32 = 100_000;
    /// Largest kv value (and never more than the plugin's memory).
    pub const MAX_KV_VALUE_BYTES: u64 = 64 << 20;

    pub fn from_pool(pool: &crate::engine::PoolConfig) -> Ceilings {
        Ceilings {
            max_memory_mb: pool.max_memory_mb,
        }
    }
}

impl Default for Ceilings {
    /// The ceilings of a node with the default `node.toml`.
    fn default() -> Self {
        Ceilings::from_pool(&crate::engine::PoolConfig::default())
    }
}

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
    pub fn world(self) -> String {
        crate::bindings::wit_name(self.as_str())
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
    /// The privacy tier the plugin needs (0 to 4, `crate::tee`): a node
    /// below it refuses to load the plugin, saying why.
    #[serde(default)]
    pub tier: u8,
    /// Plugin settings readable through `hanzo:node/config`.
    #[serde(default)]
    pub config: BTreeMap<String, toml::Value>,
    /// Path prefixes an API plugin serves.
    #[serde(default)]
    pub routes: Vec<String>,
    /// The level each route needs (`public`, `user`, `agent` or `admin`),
    /// by route; a route not named here needs `user`.
    #[serde(default)]
    pub route_levels: BTreeMap<String, crate::auth::Level>,
    /// A tool plugin whose tools change while it runs (an adapter of
    /// another system's tools) is asked `describe()` again this often, and
    /// its tools are re-listed when the answer changed. None: at load only
    /// (and when a call says a listed tool does not exist).
    #[serde(default)]
    pub describe_every_s: Option<u64>,
}

impl Manifest {
    /// The settings `hanzo:node/config` serves: the manifest's `[config]`
    /// with the operator's `overrides` on top.
    pub fn settings(&self, overrides: &BTreeMap<String, toml::Value>) -> BTreeMap<String, String> {
        self.config
            .iter()
            .chain(overrides)
            .map(|(k, v)| (k.clone(), config_value_string(v)))
            .collect()
    }

    /// The level a request to `route` (one of [`Manifest::routes`], as
    /// [`route_key`] writes it) needs.
    pub fn route_level(&self, route: &str) -> crate::auth::Level {
        self.route_levels
            .iter()
            .find(|(r, _)| route_key(r) == route)
            .map(|(_, l)| *l)
            .unwrap_or_default()
    }
}

/// A route as routes are compared: without trailing slashes (`/v1/` is `/v1`).
pub fn route_key(route: &str) -> &str {
    route.trim_end_matches('/')
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
    pub fn load(dir: &Path, ceilings: &Ceilings) -> Result<Manifest, ManifestError> {
        let text = read_manifest(dir)?;
        Manifest::from_text(dir, &text, ceilings)
    }

    /// Checks the text of `dir/plugin.toml`, read by [`read_manifest`].
    pub fn from_text(
        dir: &Path,
        text: &str,
        ceilings: &Ceilings,
    ) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let manifest = Manifest::parse(text).map_err(|message| ManifestError::Parse {
            path: path.clone(),
            message,
        })?;
        manifest
            .problems(ceilings)
            .into_iter()
            .next()
            .map_or(Ok(manifest), |message| {
                Err(ManifestError::Invalid { path, message })
            })
    }

    /// Parses a manifest. A syntax error says where (line and column) and
    /// what, but never quotes the text: the error is served over HTTP
    /// (`/v2/plugins`), and the text might not be a manifest at all.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        toml::from_str(text).map_err(|e| {
            let message = e.message().trim_end();
            match e.span() {
                Some(span) => {
                    let (line, column) = line_column(text, span.start);
                    format!("TOML parse error at line {line}, column {column}: {message}")
                }
                None => format!("TOML parse error: {message}"),
            }
        })
    }

    /// Everything wrong with a parsed manifest, in words (empty when usable).
    pub fn problems(&self, ceilings: &Ceilings) -> Vec<String> {
        let mut out = Vec::new();
        if !valid_name(&self.name) {
            out.push(format!(
                "name `{}` must be 1-64 characters of a-z, 0-9, `-` or `_`",
                self.name
            ));
        }
        let l = &self.limits;
        let max_memory_mb = ceilings.max_memory_mb;
        if l.memory_mb == 0 || l.memory_mb > max_memory_mb {
            out.push(format!(
                "limits.memory_mb must be between 1 and {max_memory_mb} (the node's pool.max_memory_mb)"
            ));
        }
        if l.timeout_ms == 0 || l.timeout_ms > Ceilings::MAX_TIMEOUT_MS {
            out.push(format!(
                "limits.timeout_ms must be between 1 and {}",
                Ceilings::MAX_TIMEOUT_MS
            ));
        }
        if l.max_concurrency == 0 || l.max_concurrency > Ceilings::MAX_CONCURRENCY {
            out.push(format!(
                "limits.max_concurrency must be between 1 and {}",
                Ceilings::MAX_CONCURRENCY
            ));
        }
        if l.calls_per_instance == 0 || l.calls_per_instance > Ceilings::MAX_CALLS_PER_INSTANCE {
            out.push(format!(
                "limits.calls_per_instance must be between 1 and {}",
                Ceilings::MAX_CALLS_PER_INSTANCE
            ));
        }
        let max_kv = Ceilings::MAX_KV_VALUE_BYTES.min(l.memory_mb.saturating_mul(1 << 20));
        if l.kv_value_bytes == 0 || l.kv_value_bytes > max_kv {
            out.push(format!(
                "limits.kv_value_bytes must be between 1 and {max_kv} (64 MiB, and never more than memory_mb)"
            ));
        }
        match self.kind {
            PluginKind::Api if self.routes.is_empty() => {
                out.push("an api plugin must declare at least one route in `routes`".into())
            }
            PluginKind::Api => {
                for r in &self.routes {
                    if let Some(problem) = route_problem(r) {
                        out.push(format!("route `{r}` {problem}"));
                    }
                }
            }
            _ if !self.routes.is_empty() || !self.route_levels.is_empty() => out.push(format!(
                "`routes` is only for api plugins, not {}",
                self.kind.as_str()
            )),
            _ => {}
        }
        match self.describe_every_s {
            Some(_) if self.kind != PluginKind::Tool => out.push(format!(
                "`describe_every_s` is only for tool plugins, not {}",
                self.kind.as_str()
            )),
            Some(s) if s == 0 || s > MAX_DESCRIBE_EVERY_S => out.push(format!(
                "describe_every_s must be between 1 and {MAX_DESCRIBE_EVERY_S}"
            )),
            _ => {}
        }
        for r in self.route_levels.keys() {
            if !self.routes.iter().any(|own| route_key(own) == route_key(r)) {
                out.push(format!(
                    "route_levels names `{r}`, which is not one of `routes`"
                ));
            }
        }
        for host in &self.permissions.http {
            if let Err(e) = crate::outbound::HostPattern::parse(host) {
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

    /// The component file for a plugin folder: the one the manifest names
    /// (which may not exist), else the folder's only `.wasm` file (`None`:
    /// there is none).
    pub fn component_path(&self, dir: &Path) -> Result<Option<PathBuf>, ManifestError> {
        if let Some(file) = &self.component {
            if file.is_empty()
                || file.contains('/')
                || file.contains('\\')
                || file == "."
                || file == ".."
            {
                return Err(ManifestError::Invalid {
                    path: dir.join(MANIFEST_FILE),
                    message: format!("component `{file}` must be a file name beside the manifest"),
                });
            }
            return Ok(Some(dir.join(file)));
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
            [one] => Ok(Some(one.clone())),
            [] => Ok(None),
            _ => Err(ManifestError::Invalid {
                path: dir.join(MANIFEST_FILE),
                message: "several .wasm files: name one with `component = \"...\"`".into(),
            }),
        }
    }
}

/// What is wrong with an api route, if anything.
fn route_problem(route: &str) -> Option<String> {
    if !route.starts_with('/') {
        return Some("must be an absolute path prefix".into());
    }
    if !route.bytes().all(|b| b.is_ascii_graphic()) || route.contains(['?', '#']) {
        return Some("must be a plain path: visible ASCII, no `?` or `#`".into());
    }
    let trimmed = route_key(route);
    if trimmed
        .split('/')
        .skip(1)
        .any(|seg| seg.is_empty() || seg == "." || seg == "..")
    {
        return Some("must not have empty, `.` or `..` segments".into());
    }
    HOST_PATHS
        .iter()
        .find(|h| trimmed == **h || trimmed.starts_with(&format!("{h}/")))
        .map(|h| format!("claims `{h}`, which the node serves itself"))
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let mut end = offset.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Reads `dir/plugin.toml` (see [`read_plugin_file`]) as text.
pub fn read_manifest(dir: &Path) -> Result<String, ManifestError> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = read_plugin_file(&path, MAX_MANIFEST_BYTES)?;
    String::from_utf8(bytes).map_err(|e| ManifestError::Invalid {
        path,
        message: format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })
}

/// Reads a file of a plugin folder (its manifest or component), at most
/// `limit` bytes.
///
/// Symbolic links are refused outright rather than followed when they stay
/// inside the folder: the link is refused by the `open` itself
/// (`O_NOFOLLOW`), so no one can swap a checked link for one pointing
/// elsewhere between a check and the read, which a canonicalize-then-check
/// would allow. Swapping a plugin's version works as well by renaming a
/// file into place. (The plugin folder itself may be a link: where folders
/// live is the operator's choice.) Only regular files are read: a FIFO would
/// block the loader, a device never ends.
pub fn read_plugin_file(path: &Path, limit: u64) -> Result<Vec<u8>, ManifestError> {
    let read_err = |source: std::io::Error| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    };
    let invalid = |message: String| ManifestError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(invalid(
            "is a symbolic link; plugin files must be regular files in the plugin folder".into(),
        ));
    }
    let file = match options.open(path) {
        Ok(f) => f,
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(invalid(
                "is a symbolic link; plugin files must be regular files in the plugin folder"
                    .into(),
            ));
        }
        Err(e) => return Err(read_err(e)),
    };
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(invalid("is not a regular file".into()));
    }
    if meta.len() > limit {
        return Err(invalid(format!(
            "is {} bytes, more than the {limit} allowed",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // `take`: the file may grow while it is read.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > limit {
        return Err(invalid(format!("is more than the {limit} bytes allowed")));
    }
    Ok(bytes)
}

/// Whether `name` may name a plugin.
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
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
        assert!(m.problems(&Ceilings::default()).is_empty());
    }

    #[test]
    fn calls_per_instance_is_bounded() {
        let with = |n: u32| {
            Manifest::parse(&format!(
                "name = \"t\"\nkind = \"tool\"\nversion = \"1\"\n[limits]\ncalls_per_instance = {n}"
            ))
            .unwrap()
            .problems(&Ceilings::default())
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
        assert!(api.problems(&Ceilings::default())[0].contains("route"));
        let tool =
            Manifest::parse("name = \"a\"\nkind = \"tool\"\nversion = \"1\"\nroutes = [\"/x\"]")
                .unwrap();
        assert!(tool.problems(&Ceilings::default())[0].contains("only for api"));
    }

    #[test]
    fn each_route_declares_its_level() {
        use crate::auth::Level;
        let m = Manifest::parse(
            "name = \"a\"\nkind = \"api\"\nversion = \"1\"\nroutes = [\"/x/\", \"/y\"]\n\
             route_levels = { \"/x\" = \"public\" }",
        )
        .unwrap();
        assert!(m.problems(&Ceilings::default()).is_empty());
        assert_eq!(m.route_level("/x"), Level::Public);
        assert_eq!(m.route_level("/y"), Level::User, "user unless named");
        let stray = Manifest::parse(
            "name = \"a\"\nkind = \"api\"\nversion = \"1\"\nroutes = [\"/x\"]\n\
             route_levels = { \"/z\" = \"admin\" }",
        )
        .unwrap();
        assert!(stray.problems(&Ceilings::default())[0].contains("/z"));
        assert!(
            Manifest::parse(
                "name = \"a\"\nkind = \"api\"\nversion = \"1\"\nroutes = [\"/x\"]\n\
                 route_levels = { \"/x\" = \"root\" }"
            )
            .is_err()
        );
    }

    #[test]
    fn bad_names_and_hosts_are_reported() {
        let m = Manifest::parse(
            "name = \"Bad Name\"\nkind = \"tool\"\nversion = \"1\"\n[permissions]\nhttp = [\"http://x\"]",
        )
        .unwrap();
        let p = m.problems(&Ceilings::default());
        assert_eq!(p.len(), 2, "{p:?}");
    }

    fn tool_with_limits(limits: &str) -> Manifest {
        Manifest::parse(&format!(
            "name = \"t\"\nkind = \"tool\"\nversion = \"1\"\n[limits]\n{limits}"
        ))
        .unwrap()
    }

    #[test]
    fn every_limit_has_a_ceiling() {
        let c = Ceilings { max_memory_mb: 512 };
        for (limits, key) in [
            ("max_concurrency = 9000000000000000000", "max_concurrency"),
            ("max_concurrency = 10001", "max_concurrency"),
            ("timeout_ms = 3600001", "timeout_ms"),
            ("timeout_ms = 0", "timeout_ms"),
            ("memory_mb = 513", "memory_mb"),
            ("kv_value_bytes = 0", "kv_value_bytes"),
            ("kv_value_bytes = 67108865", "kv_value_bytes"),
            // A value larger than the memory it would be read into.
            ("memory_mb = 1\nkv_value_bytes = 2000000", "kv_value_bytes"),
        ] {
            let p = tool_with_limits(limits).problems(&c);
            assert_eq!(p.len(), 1, "{limits}: {p:?}");
            assert!(p[0].contains(key), "{limits}: {p:?}");
        }
        let ok = "max_concurrency = 10000\ntimeout_ms = 3600000\nmemory_mb = 512";
        assert!(tool_with_limits(ok).problems(&c).is_empty());
        // The memory ceiling is the operator's pool size, not a constant.
        let p = tool_with_limits("memory_mb = 2048").problems(&c);
        assert!(p[0].contains("between 1 and 512"), "{p:?}");
        assert!(
            tool_with_limits("memory_mb = 2048")
                .problems(&Ceilings {
                    max_memory_mb: 4096
                })
                .is_empty()
        );
    }

    #[test]
    fn routes_must_be_plain_paths_outside_the_hosts_own() {
        let problems = |route: &str| {
            Manifest::parse(&format!(
                "name = \"a\"\nkind = \"api\"\nversion = \"1\"\nroutes = [\"{route}\"]"
            ))
            .unwrap()
            .problems(&Ceilings::default())
        };
        for ok in ["/", "/v1", "/v1/", "/v2", "/v2/tools", "/v2/healthz"] {
            assert!(problems(ok).is_empty(), "{ok}: {:?}", problems(ok));
        }
        for bad in [
            "v1",
            "/v1//chat",
            "/v1/./chat",
            "/v1/../v2",
            "/v1?x",
            "/v1#x",
            "/v1 chat",
            "/v2/health",
            "/v2/health/",
            "/v2/plugins/openai",
            "/v2/ws",
            "/v2/usage",
            "/v2/deployments",
        ] {
            assert_eq!(problems(bad).len(), 1, "{bad}");
        }
        assert!(problems("/v2/plugins/x")[0].contains("node serves itself"));
    }

    #[test]
    fn parse_errors_name_the_place_but_never_quote_the_text() {
        let text =
            "name = \"t\"\nkind = \"tool\"\nversion = \"1\"\nroot:x:0:0:root:/root:/bin/bash\n";
        let e = Manifest::parse(text).unwrap_err();
        assert!(e.contains("line 4"), "{e}");
        assert!(!e.contains("root:x"), "{e}");
        assert!(!e.contains("/bin/bash"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn links_and_special_files_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.txt");
        std::fs::write(&secret, "password = hunter2\n").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&secret, dir.path().join(MANIFEST_FILE)).unwrap();
        let e = Manifest::load(dir.path(), &Ceilings::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");

        // A FIFO would block the reader until someone writes to it.
        let fifo = dir.path().join("x.wasm");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = read_plugin_file(&fifo, 100).unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");

        let big = dir.path().join("big.wasm");
        std::fs::write(&big, [0u8; 101]).unwrap();
        let e = read_plugin_file(&big, 100).unwrap_err().to_string();
        assert!(e.contains("more than the 100"), "{e}");
        assert_eq!(read_plugin_file(&big, 101).unwrap().len(), 101);
    }
}
