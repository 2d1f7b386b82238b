//! What one loaded plugin version may do: its manifest *requests*
//! ([`Permissions`]), the operator *allows* (`[grants]` for every plugin not
//! signed by a trusted publisher, `[plugins.<name>]` for one plugin), and
//! [`resolve`] intersects the two once at load into one typed value,
//! [`Grants`]: every call's state carries it, and each host interface asks
//! it before doing anything. Its limits were checked against the operator's
//! ceilings when the manifest was read.
//!
//! The rules, in order: an interface (kv, llm, tools, jobs, agents, vectors,
//! tee, gpu) is
//! granted when the manifest requests it and the operator allows it (the
//! plugin's own setting, else `true` for a trusted publisher's plugin, else
//! the node-wide `[grants]` default). Outbound hosts are the manifest's,
//! narrowed to the plugin's `http` list when the operator sets one, without
//! loopback, private and other non-public addresses unless the publisher is
//! trusted, the operator lists them, or `[grants] private_addresses` is on;
//! then the operator's `allow_hosts` on top. A secret has a value only where
//! the operator maps it (`"env:NAME"`, `"key:NAME"` from the node's key store,
//! or a literal): a manifest naming an environment variable reads nothing by
//! itself; a mapping may require a privacy tier, and the node withholds it
//! below that tier (`crate::tee`). Containers are granted
//! only image by image, by the plugin's own `[plugins.<name>] containers`
//! list, whoever signed the plugin: the images the operator lists that the
//! manifest's patterns cover; network for them only with the operator's
//! `container_network = true` as well as the manifest's.

use crate::outbound::{HostPattern, OutboundPolicy};
pub use crate::signing::Verdict;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// `[permissions]` of a manifest: what the plugin requests. Everything not
/// requested is denied; what is requested is granted only as far as the
/// operator allows ([`resolve`]).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
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
    /// The tenant's vector collections (`hanzo:node/vectors`), every namespace.
    #[serde(default)]
    pub vectors: bool,
    /// The node's TEE status and attestation (`hanzo:node/tee`).
    #[serde(default)]
    pub tee: bool,
    /// The node's GPU inventory (`hanzo:node/gpu`).
    #[serde(default)]
    pub gpu: bool,
    /// Container images the plugin would run (`hanzo:node/containers`):
    /// `name:tag`, `name:*` for any tag, `*` for any image (an adapter that
    /// runs what the operator declares).
    #[serde(default)]
    pub containers: Vec<String>,
    /// Network access for those containers.
    #[serde(default)]
    pub container_network: bool,
}

/// `[grants]` in node.toml: what the operator allows plugins whose
/// publisher it does not trust, and whom it trusts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GrantsConfig {
    /// `hanzo:node/kv` (the plugin's own namespace), when requested.
    pub kv: bool,
    /// `hanzo:node/llm` (the router, spending the operator's upstream keys).
    pub llm: bool,
    /// `hanzo:node/tools` (listing and invoking the node's tools).
    pub tools: bool,
    /// `hanzo:node/jobs`.
    pub jobs: bool,
    /// `hanzo:node/agents`.
    pub agents: bool,
    /// `hanzo:node/vectors` (the calling tenant's collections).
    pub vectors: bool,
    /// `hanzo:node/tee` (the platform, the tier, attestation).
    pub tee: bool,
    /// `hanzo:node/gpu` (the GPU inventory).
    pub gpu: bool,
    /// Keep the manifest's grants of loopback, private, link-local and other
    /// non-public addresses (`127.0.0.1:8000`). Off: only a trusted
    /// publisher's plugin keeps them, or one whose operator lists them.
    pub private_addresses: bool,
    /// Refuse every plugin not signed by a trusted key (unsigned, signed by
    /// another key, or changed since it was signed). A refused version never
    /// replaces the one serving.
    pub strict: bool,
    /// Trusted publishers' Ed25519 public keys (64 hex digits, as
    /// `hanzo-node plugin keygen` writes them to `<key>.pub`).
    pub trusted_keys: Vec<String>,
    /// A folder of trusted public keys, one `*.pub` file each, read at
    /// every load (a key added there needs no restart).
    pub trust_dir: Option<PathBuf>,
}

impl Default for GrantsConfig {
    fn default() -> Self {
        GrantsConfig {
            kv: true,
            llm: true,
            tools: true,
            jobs: true,
            agents: true,
            vectors: true,
            tee: true,
            gpu: true,
            private_addresses: false,
            strict: false,
            trusted_keys: Vec::new(),
            trust_dir: None,
        }
    }
}

impl GrantsConfig {
    /// What is wrong with the section, naming the key.
    pub fn problem(&self) -> Option<String> {
        self.trusted_keys.iter().find_map(|k| {
            crate::signing::parse_public_key(k)
                .err()
                .map(|e| format!("grants.trusted_keys: {e}"))
        })
    }
}

/// `[plugins.<name>]` in node.toml: the operator's settings for one plugin,
/// by its manifest name. Each may narrow what the manifest requests or
/// widen what the node-wide `[grants]` allows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginOverrides {
    /// Settings that replace the manifest's `[config]` values.
    pub config: BTreeMap<String, toml::Value>,
    /// Values of the secrets the manifest declares: `"env:NAME"` (the
    /// node's environment variable, read at load), `"key:NAME"` (the node's
    /// key store) or the value itself; `{ from = "...", tier = 2 }` to
    /// release it only on a node of that privacy tier. A declared secret the
    /// operator does not map has no value.
    pub secrets: BTreeMap<String, SecretMapping>,
    /// The privacy tier the plugin needs to load at all (on top of its
    /// manifest's `tier`).
    pub tier: Option<u8>,
    /// Outbound hosts granted on top of the manifest's `permissions.http`
    /// (for example where a self-hosted upstream lives, `127.0.0.1:8000`).
    pub allow_hosts: Vec<String>,
    /// Of the manifest's `permissions.http`, the entries the plugin keeps
    /// (none: all it requests, as [`resolve`] says). Naming a non-public
    /// address here grants it.
    pub http: Option<Vec<String>>,
    /// Allow (`true`) or deny (`false`) each interface the manifest
    /// requests; unset: allowed for a trusted publisher's plugin, else as
    /// `[grants]` says. Never grants what the manifest does not request.
    pub kv: Option<bool>,
    pub llm: Option<bool>,
    pub tools: Option<bool>,
    pub jobs: Option<bool>,
    pub agents: Option<bool>,
    pub vectors: Option<bool>,
    pub tee: Option<bool>,
    pub gpu: Option<bool>,
    /// The images the plugin may run, as far as its manifest's
    /// `permissions.containers` covers them. Unset: none (containers are
    /// granted only by name).
    pub containers: Option<Vec<String>>,
    /// Network for its containers, when the manifest asks for it too.
    pub container_network: Option<bool>,
    /// How often a tool plugin is asked `describe()` again, instead of its
    /// manifest's `describe_every_s`.
    pub describe_every_s: Option<u64>,
}

/// The longest `describe_every_s` (the manifest's or the operator's): a day.
pub const MAX_DESCRIBE_EVERY_S: u64 = 86_400;

impl PluginOverrides {
    /// What is wrong with the settings in `section` (`plugins.<name>`),
    /// naming the key.
    pub fn problem(&self, section: &str) -> Option<String> {
        let hosts = self.allow_hosts.iter().map(|h| ("allow_hosts", h));
        let http = self.http.iter().flatten().map(|h| ("http", h));
        for (key, h) in hosts.chain(http) {
            if let Err(e) = HostPattern::parse(h) {
                return Some(format!("{section}.{key}: {e}"));
            }
        }
        let max = MAX_DESCRIBE_EVERY_S;
        if self.describe_every_s.is_some_and(|s| s == 0 || s > max) {
            return Some(format!(
                "{section}.describe_every_s must be between 1 and {max}"
            ));
        }
        if self.tier.is_some_and(|t| t > crate::tee::MAX_TIER) {
            return Some(format!("{section}.tier is 0 to {}", crate::tee::MAX_TIER));
        }
        self.secrets
            .iter()
            .find_map(|(k, v)| v.problem().map(|p| format!("{section}.secrets.{k} {p}")))
    }
}

/// Where a plugin secret's value comes from, and the tier it needs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SecretMapping {
    /// `"env:NAME"`, `"key:NAME"` or the value itself; tier 0.
    From(String),
    /// `{ from = "...", tier = N }`.
    Tiered { from: String, tier: u8 },
}

impl From<&str> for SecretMapping {
    fn from(from: &str) -> Self {
        SecretMapping::From(from.to_string())
    }
}

impl From<String> for SecretMapping {
    fn from(from: String) -> Self {
        SecretMapping::From(from)
    }
}

/// A mapping's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource<'a> {
    Env(&'a str),
    Key(&'a str),
    Literal(&'a str),
}

impl SecretMapping {
    pub fn source(&self) -> SecretSource<'_> {
        let from = match self {
            SecretMapping::From(f) | SecretMapping::Tiered { from: f, .. } => f.as_str(),
        };
        if let Some(var) = from.strip_prefix("env:") {
            SecretSource::Env(var)
        } else if let Some(key) = from.strip_prefix("key:") {
            SecretSource::Key(key)
        } else {
            SecretSource::Literal(from)
        }
    }

    /// The privacy tier the node needs to release it.
    pub fn tier(&self) -> u8 {
        match self {
            SecretMapping::From(_) => 0,
            SecretMapping::Tiered { tier, .. } => *tier,
        }
    }

    fn problem(&self) -> Option<String> {
        match self.source() {
            SecretSource::Env("") => Some("names no environment variable".into()),
            SecretSource::Key("") => Some("names no key".into()),
            _ if self.tier() > crate::tee::MAX_TIER => {
                Some(format!("tier is 0 to {}", crate::tee::MAX_TIER))
            }
            _ => None,
        }
    }

    /// The value from the environment or the literal, whatever the tier
    /// (a key-store key has none here): what `inspect` previews.
    pub fn from_env(&self) -> Result<Option<String>, String> {
        Ok(match self.source() {
            SecretSource::Env(var) => std::env::var(var).ok(),
            SecretSource::Key(_) => None,
            SecretSource::Literal(v) => Some(v.to_string()),
        })
    }
}

/// One plugin version's grants.
#[derive(Debug)]
pub struct Grants {
    /// The plugin's name (errors, logs, the kv namespace).
    pub plugin: String,
    pub limits: Limits,
    /// `hanzo:node/kv`.
    pub kv: bool,
    /// `hanzo:node/llm`.
    pub llm: bool,
    /// `hanzo:node/tools`.
    pub tools: bool,
    /// `hanzo:node/jobs`.
    pub jobs: bool,
    /// `hanzo:node/agents`.
    pub agents: bool,
    /// `hanzo:node/vectors`.
    pub vectors: bool,
    /// `hanzo:node/tee`.
    pub tee: bool,
    /// `hanzo:node/gpu`.
    pub gpu: bool,
    /// `hanzo:node/containers`: the images it may run, and whether with network.
    pub containers: ContainerGrant,
    /// The secrets the manifest declares, each with the value the operator
    /// mapped (none: declared but not mapped, or mapped to an unset
    /// variable).
    pub secrets: BTreeMap<String, Option<String>>,
    /// Declared secrets the node would not release, with why (their tier is
    /// above the node's, their key is missing).
    pub withheld: BTreeMap<String, String>,
    /// Secrets mapped to a key of the node's key store, with the key's name
    /// and the mapping's tier: read at each call, so that a rotation or a
    /// destruction reaches the plugin at once.
    pub keys: BTreeMap<String, (String, u8)>,
    /// Settings read through `hanzo:node/config`: the manifest's `[config]`
    /// with the operator's overrides.
    pub settings: BTreeMap<String, String>,
    /// The hosts and addresses outbound HTTP may reach.
    pub outbound: Arc<OutboundPolicy>,
    /// What the manifest requested, shown beside what was granted.
    pub requested: Permissions,
    /// Its publisher's signature, as checked at load.
    pub signature: Verdict,
}

/// An interface a plugin needs a grant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Kv,
    Llm,
    Tools,
    Jobs,
    Agents,
    Vectors,
    Tee,
    Gpu,
    Containers,
}

/// The container images a plugin may run (patterns: `name:tag`, `name:*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerGrant {
    pub images: Vec<String>,
    pub network: bool,
}

impl ContainerGrant {
    /// Whether `image` (`name:tag`; a bare name is `name:latest`) is granted.
    pub fn allows(&self, image: &str) -> bool {
        let (name, tag) = split_image(image);
        self.images.iter().any(|pattern| {
            let (n, t) = split_image(pattern);
            n == name && (t == "*" || t == tag)
        })
    }
}

/// Whether the manifest's pattern `requested` covers the operator's `granted`.
fn covers(requested: &str, granted: &str) -> bool {
    if requested == "*" || requested == granted {
        return true;
    }
    let (name, tag) = split_image(requested);
    tag == "*" && split_image(granted).0 == name
}

/// `name:tag` as its parts; a registry's port (`host:5000/name`) is part
/// of the name.
fn split_image(image: &str) -> (&str, &str) {
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

impl Capability {
    /// The manifest key that requests it.
    pub fn key(self) -> &'static str {
        match self {
            Capability::Kv => "permissions.kv",
            Capability::Llm => "permissions.llm",
            Capability::Tools => "permissions.tools",
            Capability::Jobs => "permissions.jobs",
            Capability::Agents => "permissions.agents",
            Capability::Vectors => "permissions.vectors",
            Capability::Tee => "permissions.tee",
            Capability::Gpu => "permissions.gpu",
            Capability::Containers => "permissions.containers",
        }
    }
}

/// A call of an interface the plugin was not granted.
#[derive(Debug, thiserror::Error)]
#[error("plugin `{plugin}` is not granted `{}`", capability.key())]
pub struct Denied {
    pub plugin: String,
    pub capability: Capability,
}

impl Grants {
    pub fn allows(&self, capability: Capability) -> bool {
        match capability {
            Capability::Kv => self.kv,
            Capability::Llm => self.llm,
            Capability::Tools => self.tools,
            Capability::Jobs => self.jobs,
            Capability::Agents => self.agents,
            Capability::Vectors => self.vectors,
            Capability::Tee => self.tee,
            Capability::Gpu => self.gpu,
            Capability::Containers => !self.containers.images.is_empty(),
        }
    }

    /// `Ok` when `capability` is granted; else the refusal naming it.
    pub fn require(&self, capability: Capability) -> Result<(), Denied> {
        if self.allows(capability) {
            Ok(())
        } else {
            Err(Denied {
                plugin: self.plugin.clone(),
                capability,
            })
        }
    }

    /// A declared secret's value: `Err` when the manifest does not declare
    /// it, `Ok(None)` when the operator gave no value.
    pub fn secret(&self, name: &str) -> Result<Option<&String>, ()> {
        self.secrets.get(name).map(Option::as_ref).ok_or(())
    }

    /// What was granted, in the shape of a request: shown beside
    /// [`Grants::requested`]. `secrets` lists the ones with a value.
    pub fn granted(&self) -> Permissions {
        Permissions {
            http: self.outbound.hosts.clone(),
            kv: self.kv,
            secrets: self
                .secrets
                .iter()
                .filter(|(k, v)| {
                    v.is_some() || (self.keys.contains_key(*k) && !self.withheld.contains_key(*k))
                })
                .map(|(k, _)| k.clone())
                .collect(),
            tools: self.tools,
            llm: self.llm,
            jobs: self.jobs,
            agents: self.agents,
            vectors: self.vectors,
            tee: self.tee,
            gpu: self.gpu,
            containers: self.containers.images.clone(),
            container_network: self.containers.network,
        }
    }
}

/// Everything [`resolve`] decides from.
pub struct Request<'a> {
    pub plugin: &'a str,
    /// The manifest's `[permissions]`.
    pub requested: &'a Permissions,
    pub limits: &'a Limits,
    /// The manifest's `[config]` merged with the operator's.
    pub settings: BTreeMap<String, String>,
    /// Its publisher's signature, as checked at load.
    pub signature: Verdict,
}

/// The node-wide defaults and the plugin's settings a tenant's own plugin
/// is resolved with: the `[grants]` defaults, but outbound HTTP only to the
/// hosts the operator lists for it in `[tenants.<t>.own_plugins.<name>]`
/// (`http`, `allow_hosts`), whoever signed it, and never a non-public
/// address by the node-wide `private_addresses`: a tenant's plugin must not
/// reach the operator's network unless the operator names the address.
pub fn for_tenant_plugin(
    node: &GrantsConfig,
    own: Option<&PluginOverrides>,
) -> (GrantsConfig, PluginOverrides) {
    let node = GrantsConfig {
        private_addresses: false,
        ..node.clone()
    };
    let mut own = own.cloned().unwrap_or_default();
    own.http.get_or_insert_with(Vec::new);
    (node, own)
}

/// What a plugin gets: its request intersected with what the operator
/// allows (the rules are in the module docs). Pure: `secret` gives a
/// mapped secret's value (from the environment, the key store, the
/// literal), or why the node withholds it.
pub fn resolve(
    request: Request<'_>,
    node: &GrantsConfig,
    plugin: &PluginOverrides,
    secret: impl Fn(&str, &SecretMapping) -> Result<Option<String>, String>,
) -> Grants {
    let requested = request.requested;
    let trusted = request.signature.trusted();
    let allowed =
        |asked: bool, own: Option<bool>, default: bool| asked && own.unwrap_or(trusted || default);
    let listed = |h: &HostPattern| {
        plugin
            .http
            .iter()
            .flatten()
            .any(|l| HostPattern::parse(l).is_ok_and(|l| &l == h))
    };
    let mut hosts: Vec<String> = requested
        .http
        .iter()
        .filter(|h| {
            let Ok(pattern) = HostPattern::parse(h) else {
                return false;
            };
            let kept = plugin.http.is_none() || listed(&pattern);
            let address_ok = !pattern.is_special_address()
                || trusted
                || node.private_addresses
                || listed(&pattern);
            kept && address_ok
        })
        .cloned()
        .collect();
    for h in &plugin.allow_hosts {
        if !hosts.contains(h) {
            hosts.push(h.clone());
        }
    }
    let mut withheld = BTreeMap::new();
    let mut keys = BTreeMap::new();
    let secrets = requested
        .secrets
        .iter()
        .map(|name| {
            let mapping = plugin.secrets.get(name);
            let value = match mapping.map(|m| secret(name, m)) {
                None => None,
                Some(Ok(value)) => value,
                Some(Err(why)) => {
                    withheld.insert(name.clone(), why);
                    None
                }
            };
            if let Some(m) = mapping
                && let SecretSource::Key(key) = m.source()
            {
                // Checked now (for `withheld`), read at each call.
                keys.insert(name.clone(), (key.to_string(), m.tier()));
                return (name.clone(), None);
            }
            (name.clone(), value)
        })
        .collect();
    Grants {
        plugin: request.plugin.to_string(),
        limits: request.limits.clone(),
        kv: allowed(requested.kv, plugin.kv, node.kv),
        llm: allowed(requested.llm, plugin.llm, node.llm),
        tools: allowed(requested.tools, plugin.tools, node.tools),
        jobs: allowed(requested.jobs, plugin.jobs, node.jobs),
        agents: allowed(requested.agents, plugin.agents, node.agents),
        vectors: allowed(requested.vectors, plugin.vectors, node.vectors),
        tee: allowed(requested.tee, plugin.tee, node.tee),
        gpu: allowed(requested.gpu, plugin.gpu, node.gpu),
        containers: ContainerGrant {
            images: plugin
                .containers
                .iter()
                .flatten()
                .filter(|o| requested.containers.iter().any(|r| covers(r, o)))
                .cloned()
                .collect(),
            network: requested.container_network && plugin.container_network == Some(true),
        },
        secrets,
        withheld,
        keys,
        settings: request.settings,
        outbound: Arc::new(OutboundPolicy::new(request.plugin, &hosts)),
        requested: requested.clone(),
        signature: request.signature,
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Linear memory per instance: all its memories together (a component
    /// may have several).
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

#[cfg(test)]
mod tests {
    use super::*;

    fn request(text: &str) -> Permissions {
        toml::from_str(text).unwrap()
    }

    fn grant(
        requested: &Permissions,
        signature: Verdict,
        node: &GrantsConfig,
        plugin: &PluginOverrides,
    ) -> Grants {
        resolve(
            Request {
                plugin: "p",
                requested,
                limits: &Limits::default(),
                settings: BTreeMap::new(),
                signature,
            },
            node,
            plugin,
            |_, m| match m.source() {
                SecretSource::Env(var) => {
                    Ok((var == "OPENAI_API_KEY").then(|| "sk-env".to_string()))
                }
                SecretSource::Key(k) => Err(format!("no key `{k}`")),
                SecretSource::Literal(v) => Ok(Some(v.to_string())),
            },
        )
    }

    fn overrides(text: &str) -> PluginOverrides {
        toml::from_str(text).unwrap()
    }

    const GREEDY: &str = r#"
        http = ["api.example.com", "127.0.0.1:8000", "[::1]:8000", "169.254.169.254:80", "localhost:8000"]
        secrets = ["HOME", "OPENAI_API_KEY"]
        kv = true
        llm = true
        tools = true
        jobs = true
        agents = true
    "#;

    #[test]
    fn containers_are_granted_image_by_image_by_the_operator_only() {
        let asks = request(
            r#"containers = ["tools:1", "runner:*", "evil:latest"]
               container_network = true"#,
        );
        // Requested, trusted, but not listed by the operator: nothing.
        let g = grant(
            &asks,
            Verdict::Trusted("k".into()),
            &GrantsConfig::default(),
            &PluginOverrides::default(),
        );
        assert!(!g.allows(Capability::Containers));
        assert!(!g.containers.allows("tools:1"));
        // Listed: only what was both requested and listed; network needs both.
        let g = grant(
            &asks,
            Verdict::Unsigned,
            &GrantsConfig::default(),
            &overrides(r#"containers = ["tools:1", "runner:*", "other:2"]"#),
        );
        assert_eq!(g.containers.images, ["tools:1", "runner:*"]);
        assert!(g.containers.allows("tools:1") && g.containers.allows("runner:7"));
        assert!(!g.containers.allows("tools:2") && !g.containers.allows("other:2"));
        assert!(!g.containers.allows("evil"), "a bare name is :latest");
        assert!(!g.containers.network);
        let g = grant(
            &asks,
            Verdict::Unsigned,
            &GrantsConfig::default(),
            &overrides(
                r#"containers = ["tools:1"]
                          container_network = true"#,
            ),
        );
        assert!(g.containers.network);
        // A registry port is part of the name, not the tag.
        let grant = ContainerGrant {
            images: vec!["reg:5000/tools".into()],
            network: false,
        };
        assert!(grant.allows("reg:5000/tools:latest"));
        assert!(!grant.allows("reg:5000/tools:2"));
    }

    #[test]
    fn an_unsigned_plugin_gets_public_hosts_and_no_secrets() {
        let g = grant(
            &request(GREEDY),
            Verdict::Unsigned,
            &GrantsConfig::default(),
            &PluginOverrides::default(),
        );
        // A name is kept (what it resolves to is checked after DNS); the
        // non-public addresses are not.
        assert_eq!(g.outbound.hosts, ["api.example.com", "localhost:8000"]);
        let addr = |s: &str| s.parse().unwrap();
        assert!(g.outbound.check_addr("x", addr("127.0.0.1:8000")).is_err());
        assert!(
            g.outbound
                .check_addr("x", addr("169.254.169.254:80"))
                .is_err()
        );
        // Declared, readable as "not set", never from the environment.
        assert_eq!(g.secret("HOME"), Ok(None));
        assert_eq!(g.secret("OPENAI_API_KEY"), Ok(None));
        assert!(g.granted().secrets.is_empty());
        assert!(g.kv && g.llm && g.tools && g.jobs && g.agents);
        assert_eq!(g.requested, request(GREEDY));
    }

    #[test]
    fn a_tenants_plugin_reaches_only_the_hosts_listed_for_it() {
        let open = GrantsConfig {
            private_addresses: true,
            ..GrantsConfig::default()
        };
        // Nothing listed: no host at all, not even a public one it asks for,
        // whoever signed it and whatever the node-wide setting says.
        for signature in [Verdict::Unsigned, Verdict::Trusted("k".into())] {
            let (node, own) = for_tenant_plugin(&open, None);
            let g = grant(&request(GREEDY), signature, &node, &own);
            assert!(g.outbound.hosts.is_empty(), "{:?}", g.outbound.hosts);
        }
        // Listed: those of its request the operator names, non-public ones
        // only by name; `allow_hosts` on top.
        let listed = overrides(
            "http = [\"api.example.com\", \"127.0.0.1:8000\"]\nallow_hosts = [\"10.0.0.5:9000\"]",
        );
        let (node, own) = for_tenant_plugin(&open, Some(&listed));
        let g = grant(&request(GREEDY), Verdict::Unsigned, &node, &own);
        assert_eq!(
            g.outbound.hosts,
            ["api.example.com", "127.0.0.1:8000", "10.0.0.5:9000"]
        );
        let (node, own) = for_tenant_plugin(&open, Some(&overrides("http = [\"localhost:8000\"]")));
        assert!(!node.private_addresses);
        let g = grant(&request(GREEDY), Verdict::Unsigned, &node, &own);
        assert_eq!(g.outbound.hosts, ["localhost:8000"]);
    }

    #[test]
    fn nothing_is_granted_that_is_not_requested() {
        let everything = overrides(
            "kv = true\nllm = true\ntools = true\njobs = true\nagents = true\n\
             secrets = { HOME = \"/root\" }",
        );
        let key = Verdict::Trusted("k".into());
        let g = grant(
            &Permissions::default(),
            key,
            &GrantsConfig::default(),
            &everything,
        );
        assert!(!(g.kv || g.llm || g.tools || g.jobs || g.agents));
        assert!(g.secret("HOME").is_err(), "not declared");
        assert!(g.outbound.hosts.is_empty());
    }

    #[test]
    fn the_operator_maps_secrets() {
        let o =
            overrides("secrets = { OPENAI_API_KEY = \"env:OPENAI_API_KEY\", HOME = \"literal\" }");
        let g = grant(
            &request(GREEDY),
            Verdict::Unsigned,
            &GrantsConfig::default(),
            &o,
        );
        assert_eq!(g.secret("OPENAI_API_KEY"), Ok(Some(&"sk-env".to_string())));
        assert_eq!(g.secret("HOME"), Ok(Some(&"literal".to_string())));
        // Mapped to an unset variable: no value.
        let o = overrides("secrets = { HOME = \"env:NOT_SET_ANYWHERE\" }");
        let g = grant(
            &request(GREEDY),
            Verdict::Unsigned,
            &GrantsConfig::default(),
            &o,
        );
        assert_eq!(g.secret("HOME"), Ok(None));
    }

    #[test]
    fn the_operator_grants_a_private_address() {
        let requested = request(GREEDY);
        // By naming it among the plugin's hosts ...
        let o = overrides("http = [\"127.0.0.1:8000\", \"api.example.com\"]");
        let g = grant(&requested, Verdict::Unsigned, &GrantsConfig::default(), &o);
        assert_eq!(g.outbound.hosts, ["api.example.com", "127.0.0.1:8000"]);
        // ... on top with allow_hosts ...
        let o = overrides("allow_hosts = [\"10.0.0.7:9000\"]");
        let g = grant(&requested, Verdict::Unsigned, &GrantsConfig::default(), &o);
        assert!(g.outbound.hosts.contains(&"10.0.0.7:9000".to_string()));
        // ... or for every plugin.
        let node = GrantsConfig {
            private_addresses: true,
            ..GrantsConfig::default()
        };
        let g = grant(
            &requested,
            Verdict::Unsigned,
            &node,
            &PluginOverrides::default(),
        );
        assert_eq!(g.outbound.hosts.len(), 5);
    }

    #[test]
    fn a_trusted_publisher_keeps_its_request_and_the_operator_narrows_it() {
        let requested = request(GREEDY);
        let strict_defaults = GrantsConfig {
            kv: false,
            llm: false,
            tools: false,
            jobs: false,
            agents: false,
            vectors: false,
            ..GrantsConfig::default()
        };
        let none = PluginOverrides::default();
        let g = grant(
            &requested,
            Verdict::Trusted("k".into()),
            &strict_defaults,
            &none,
        );
        assert_eq!(g.outbound.hosts, requested.http);
        assert!(g.kv && g.llm && g.tools && g.jobs && g.agents);
        assert_eq!(g.secret("HOME"), Ok(None), "secrets still need a mapping");
        // The same plugin unsigned, signed by an unknown key, or tampered.
        for v in [
            Verdict::Unsigned,
            Verdict::Untrusted("other".into()),
            Verdict::Invalid("changed".into()),
        ] {
            let g = grant(&requested, v, &strict_defaults, &none);
            assert!(!(g.kv || g.llm || g.tools || g.jobs || g.agents));
            assert_eq!(g.outbound.hosts, ["api.example.com", "localhost:8000"]);
        }
        // Narrowed: an interface and hosts taken away.
        let o = overrides("llm = false\nhttp = [\"api.example.com\"]");
        let g = grant(
            &requested,
            Verdict::Trusted("k".into()),
            &strict_defaults,
            &o,
        );
        assert!(!g.llm && g.kv && g.tools);
        assert_eq!(g.outbound.hosts, ["api.example.com"]);
        assert!(g.outbound.check_host("localhost", 8000).is_err());
        // An untrusted plugin widened where the node-wide default says no.
        let o = overrides("kv = true");
        let g = grant(&requested, Verdict::Unsigned, &strict_defaults, &o);
        assert!(g.kv && !g.llm);
    }

    #[test]
    fn bad_operator_entries_are_named() {
        let o = overrides("http = [\"http://x\"]");
        assert!(o.problem("plugins.p").unwrap().contains("plugins.p.http"));
        let o = overrides("allow_hosts = [\"10.0.0.1\"]");
        assert!(
            o.problem("plugins.p")
                .unwrap()
                .contains("plugins.p.allow_hosts")
        );
        let o = overrides("secrets = { K = \"env:\" }");
        assert!(
            o.problem("plugins.p")
                .unwrap()
                .contains("plugins.p.secrets.K")
        );
        let c: GrantsConfig = toml::from_str("trusted_keys = [\"abc\"]").unwrap();
        assert!(c.problem().unwrap().contains("grants.trusted_keys"));
    }
}
