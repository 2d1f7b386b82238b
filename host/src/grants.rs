//! What one loaded plugin version may do, resolved once at load from its
//! manifest and the operator's settings for it (`[plugins.<name>]`), and
//! held as one typed value: every call's state carries it, and each host
//! interface asks it before doing anything. Its limits were checked against
//! the operator's ceilings when the manifest was read.

use crate::outbound::OutboundPolicy;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;

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
    /// The secrets the manifest declares, each with the value the operator
    /// gave (none: declared but unset).
    pub secrets: BTreeMap<String, Option<String>>,
    /// Settings read through `hanzo:node/config`: the manifest's `[config]`
    /// with the operator's overrides.
    pub settings: BTreeMap<String, String>,
    /// The hosts and addresses outbound HTTP may reach.
    pub outbound: Arc<OutboundPolicy>,
}

/// An interface a plugin needs a grant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    Kv,
    Llm,
    Tools,
    Jobs,
    Agents,
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
