//! Plugins: the manifest, a loaded plugin ready to instantiate, and the
//! registry of what is loaded (loading and hot swap: [`crate::loader`]).

pub mod folder;
pub mod manifest;
pub mod registry;

pub use manifest::{Manifest, PluginKind};
pub use registry::{Catalog, Registry, Slot, ToolEntry};

use crate::bindings::tool_types::ToolSpec;
use crate::bindings::versioned::ProviderPre;
use crate::bindings::versioned::ToolPre;
use crate::call_state::CallState;
use crate::grants::Grants;
use crate::tenant::Tenant;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};
use tokio::sync::Semaphore;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// A component linked and checked against its world, ready to instantiate.
#[derive(Clone)]
pub enum PluginPre {
    Provider(ProviderPre<CallState>),
    Tool(ToolPre<CallState>),
    Api(ProxyPre<CallState>),
}

/// One loaded version of a plugin. Immutable: a hot swap replaces the whole
/// value, and calls in flight keep the `Arc` of the version they started on.
pub struct LoadedPlugin {
    pub manifest: Manifest,
    /// The plugin's folder.
    pub dir: PathBuf,
    /// The tenant whose own plugin this is (`tenants/<tenant>/<folder>`):
    /// no other tenant sees it, and it runs only for that tenant. `None`:
    /// the node's, for every tenant the operator lets use it.
    pub owner: Option<Tenant>,
    pub component_file: PathBuf,
    /// blake3 of the component bytes.
    pub hash: blake3::Hash,
    /// blake3 of the manifest text (a manifest-only edit reloads too).
    pub manifest_hash: blake3::Hash,
    /// blake3 of its `plugin.sig`, if any (a new signature reloads too).
    pub signature_hash: Option<blake3::Hash>,
    pub size: u64,
    pub loaded_at: SystemTime,
    pub pre: PluginPre,
    /// What it may do, resolved at load; every call's state carries it.
    pub grants: Arc<Grants>,
    /// Caps calls running at once (`limits.max_concurrency`).
    pub concurrency: Arc<Semaphore>,
    /// What a tool plugin's `describe()` returned at load, with each tool's
    /// schemas compiled.
    pub tools: Vec<(ToolSpec, ToolSchemas)>,
    /// Whether its calls ran long lately (they then start off the serving threads).
    pub cpu: Arc<crate::sched::CpuHistory>,
    /// How often a tool plugin is asked `describe()` again (the operator's
    /// `describe_every_s`, else its manifest's); none: at load only.
    pub describe_every: Option<Duration>,
    /// A call said a tool it listed does not exist: its list is to be asked
    /// for again ([`crate::loader::refresh`]).
    pub stale: AtomicBool,
}

/// A tool's compiled JSON Schemas: its arguments' (checked before the
/// tool runs) and, when it declares one, its result's (checked after).
#[derive(Clone)]
pub struct ToolSchemas {
    pub parameters: Arc<jsonschema::Validator>,
    pub result: Option<Arc<jsonschema::Validator>>,
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    pub fn kind(&self) -> PluginKind {
        self.manifest.kind
    }

    /// The same version with `tools` as its tools: what a new `describe()`
    /// answer makes of it. It shares the grants, permits and CPU history,
    /// so parked instances and calls in flight carry on.
    pub fn with_tools(&self, tools: Vec<(ToolSpec, ToolSchemas)>) -> LoadedPlugin {
        LoadedPlugin {
            manifest: self.manifest.clone(),
            dir: self.dir.clone(),
            owner: self.owner.clone(),
            component_file: self.component_file.clone(),
            hash: self.hash,
            manifest_hash: self.manifest_hash,
            signature_hash: self.signature_hash,
            size: self.size,
            loaded_at: self.loaded_at,
            pre: self.pre.clone(),
            grants: self.grants.clone(),
            concurrency: self.concurrency.clone(),
            tools,
            cpu: self.cpu.clone(),
            describe_every: self.describe_every,
            stale: AtomicBool::new(false),
        }
    }

    /// Whether `tenant` may call it at all: the node's plugins, or its own.
    pub fn serves(&self, tenant: &Tenant) -> bool {
        self.owner.as_ref().is_none_or(|o| o == tenant)
    }
}
