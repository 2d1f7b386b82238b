//! The registry: an atomically swapped, immutable catalog of plugin slots and
//! the indexes derived from them (by name, tools, API routes), one set for
//! the node's plugins and one for each tenant's own. Readers take a snapshot
//! without locks; the loader is the only writer. A plugin's name, routes and
//! tools are its own within what its callers see: a plugin that would share
//! any of them with one loaded from another folder of its scope is refused
//! ([`conflict`]), so no plugin can take over another's calls (or the
//! operator's settings for it).
//!
//! It also knows which folders are being loaded right now, for
//! `/v2/health`, and keeps loads of one folder from running at once.

use super::manifest::route_key;
use super::{LoadedPlugin, ToolSchemas};
use crate::bindings::tool_types::ToolSpec;
use crate::bindings::tools::ToolInfo;
use crate::tenant::Tenant;
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// One folder of the plugin directory: the version serving calls, if any, and
/// the last failure to load a newer one.
#[derive(Clone)]
pub struct Slot {
    pub folder: String,
    pub current: Option<Arc<LoadedPlugin>>,
    pub error: Option<String>,
    pub error_at: Option<SystemTime>,
}

/// A tool and the plugin that provides it, with its compiled argument schema.
pub struct ToolEntry {
    pub plugin: Arc<LoadedPlugin>,
    pub spec: ToolSpec,
    pub schemas: ToolSchemas,
}

impl ToolEntry {
    pub fn info(&self) -> ToolInfo {
        ToolInfo {
            plugin: self.plugin.manifest.name.clone(),
            spec: self.spec.clone(),
        }
    }
}

/// The plugins one scope sees by name, tool and route: the node's, or one
/// tenant's own.
#[derive(Default)]
pub struct Layer {
    /// Loaded plugins by manifest name.
    pub by_name: BTreeMap<String, Arc<LoadedPlugin>>,
    /// Tools by name (unique within the scope: see [`conflict`]).
    pub tools: BTreeMap<String, Arc<ToolEntry>>,
    /// API routes, longest prefix first.
    pub routes: Vec<(String, Arc<LoadedPlugin>)>,
}

impl Layer {
    fn add(&mut self, p: &Arc<LoadedPlugin>) {
        self.by_name.insert(p.manifest.name.clone(), p.clone());
    }

    /// Indexes the tools and routes of the plugins added.
    fn index(mut self) -> Layer {
        for p in self.by_name.values() {
            for (spec, schemas) in &p.tools {
                self.tools.entry(spec.name.clone()).or_insert_with(|| {
                    Arc::new(ToolEntry {
                        plugin: p.clone(),
                        spec: spec.clone(),
                        schemas: schemas.clone(),
                    })
                });
            }
            for r in &p.manifest.routes {
                self.routes.push((route_key(r).to_string(), p.clone()));
            }
        }
        self.routes
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        self
    }

    /// The plugin serving `path` and its matching route: the declared prefix
    /// that matches whole path segments (no two plugins' routes overlap, see
    /// [`conflict`]; one plugin's own may, and then the longest wins).
    fn route_entry(&self, path: &str) -> Option<(&str, &Arc<LoadedPlugin>)> {
        self.routes
            .iter()
            .find(|(prefix, _)| {
                prefix.is_empty()
                    || path == prefix
                    || (path.starts_with(prefix.as_str())
                        && path.as_bytes().get(prefix.len()) == Some(&b'/'))
            })
            .map(|(prefix, p)| (prefix.as_str(), p))
    }
}

/// What is loaded: every folder's slot, and the plugins each scope sees.
/// A tenant sees the node's plugins and its own; where both hold a name, a
/// tool or a route, the node's comes first (a tenant's plugin is refused
/// one the node's hold at its load, but a node plugin loaded later wins).
#[derive(Default)]
pub struct Catalog {
    /// By folder key ([`super::folder`]).
    pub slots: BTreeMap<String, Slot>,
    /// The node's plugins.
    pub shared: Layer,
    /// Each tenant's own plugins.
    pub tenants: BTreeMap<Tenant, Layer>,
}

impl Catalog {
    fn from_slots(slots: BTreeMap<String, Slot>) -> Catalog {
        let mut shared = Layer::default();
        let mut tenants: BTreeMap<Tenant, Layer> = BTreeMap::new();
        for p in slots.values().filter_map(|s| s.current.as_ref()) {
            match &p.owner {
                None => shared.add(p),
                Some(t) => tenants.entry(t.clone()).or_default().add(p),
            }
        }
        Catalog {
            slots,
            shared: shared.index(),
            tenants: tenants.into_iter().map(|(t, l)| (t, l.index())).collect(),
        }
    }

    /// `tenant`'s own layer, if it has plugins of its own.
    fn own(&self, tenant: &Tenant) -> Option<&Layer> {
        self.tenants.get(tenant)
    }

    /// The plugin named `name` that `tenant` sees.
    pub fn plugin(&self, tenant: &Tenant, name: &str) -> Option<&Arc<LoadedPlugin>> {
        self.shared
            .by_name
            .get(name)
            .or_else(|| self.own(tenant)?.by_name.get(name))
    }

    /// The tool named `name` that `tenant` sees.
    pub fn tool(&self, tenant: &Tenant, name: &str) -> Option<&Arc<ToolEntry>> {
        self.shared
            .tools
            .get(name)
            .or_else(|| self.own(tenant)?.tools.get(name))
    }

    /// Every tool `tenant` sees, by name.
    pub fn tools(&self, tenant: &Tenant) -> impl Iterator<Item = &Arc<ToolEntry>> {
        let own = self.own(tenant).into_iter().flat_map(|l| {
            l.tools
                .iter()
                .filter(|(name, _)| !self.shared.tools.contains_key(*name))
                .map(|(_, t)| t)
        });
        self.shared.tools.values().chain(own)
    }

    /// Every loaded plugin `tenant` sees (`None`: the node's only).
    pub fn plugins(&self, tenant: Option<&Tenant>) -> impl Iterator<Item = &Arc<LoadedPlugin>> {
        let own = tenant.and_then(|t| self.own(t)).into_iter().flat_map(|l| {
            l.by_name
                .iter()
                .filter(|(name, _)| !self.shared.by_name.contains_key(*name))
                .map(|(_, p)| p)
        });
        self.shared.by_name.values().chain(own)
    }

    /// Every loaded plugin, the node's and all tenants'.
    pub fn loaded(&self) -> impl Iterator<Item = &Arc<LoadedPlugin>> {
        self.slots.values().filter_map(|s| s.current.as_ref())
    }

    /// The node's API plugin serving `path`.
    pub fn route(&self, path: &str) -> Option<&Arc<LoadedPlugin>> {
        self.shared.route_entry(path).map(|(_, p)| p)
    }

    /// The node's plugin serving `path` and the level its matching route needs.
    pub fn route_with_level(&self, path: &str) -> Option<(&Arc<LoadedPlugin>, crate::auth::Level)> {
        Self::with_level(self.shared.route_entry(path))
    }

    /// `tenant`'s own plugin serving `path` (when none of the node's does),
    /// and the level its matching route needs.
    pub fn own_route_with_level(
        &self,
        tenant: &Tenant,
        path: &str,
    ) -> Option<(&Arc<LoadedPlugin>, crate::auth::Level)> {
        Self::with_level(self.own(tenant)?.route_entry(path))
    }

    fn with_level<'a>(
        entry: Option<(&str, &'a Arc<LoadedPlugin>)>,
    ) -> Option<(&'a Arc<LoadedPlugin>, crate::auth::Level)> {
        entry.map(|(prefix, p)| (p, p.manifest.route_level(prefix)))
    }
}

/// Whether two api routes would compete for a path: equal, one a prefix of
/// the other on a segment boundary, or either the root (`/`), which serves
/// every path.
pub fn routes_overlap(a: &str, b: &str) -> bool {
    let (a, b) = (route_key(a), route_key(b));
    let under = |path: &str, prefix: &str| {
        path.starts_with(prefix) && path.as_bytes().get(prefix.len()) == Some(&b'/')
    };
    a.is_empty() || b.is_empty() || a == b || under(a, b) || under(b, a)
}

/// Why `plugin`, loaded from `folder`, cannot join the plugins loaded from
/// the other folders of `slots` that share a scope with it: a name, route or
/// tool one of them holds. `None` when it can. The holder keeps what it
/// holds: the newcomer is refused (also when the holder later goes: see the
/// loader). A tenant's plugin shares a scope with the node's and that
/// tenant's own; the node's with the node's (a tenant's own plugins cannot
/// keep the operator from loading one).
pub fn conflict(
    slots: &BTreeMap<String, Slot>,
    folder: &str,
    plugin: &LoadedPlugin,
) -> Option<String> {
    let name = &plugin.manifest.name;
    for slot in slots.values().filter(|s| s.folder != folder) {
        let Some(other) = &slot.current else {
            continue;
        };
        if other.owner.is_some() && other.owner != plugin.owner {
            continue;
        }
        let holder = format!(
            "plugin `{}` (folder `{}`)",
            other.manifest.name, slot.folder
        );
        if &other.manifest.name == name {
            return Some(format!(
                "plugin name `{name}` is already used by folder `{}`",
                slot.folder
            ));
        }
        for route in &plugin.manifest.routes {
            if let Some(taken) = other
                .manifest
                .routes
                .iter()
                .find(|r| routes_overlap(route, r))
            {
                return Some(format!(
                    "route `{route}` overlaps route `{taken}` of {holder}"
                ));
            }
        }
        for (spec, _) in &plugin.tools {
            if other.tools.iter().any(|(t, _)| t.name == spec.name) {
                return Some(format!(
                    "tool `{}` is already provided by {holder}",
                    spec.name
                ));
            }
        }
    }
    None
}

/// Compiles a tool's parameter schema (JSON text).
pub fn compile_schema(schema: &str) -> Result<jsonschema::Validator, String> {
    let value: serde_json::Value =
        serde_json::from_str(schema).map_err(|e| format!("schema is not JSON: {e}"))?;
    jsonschema::validator_for(&value).map_err(|e| format!("invalid JSON Schema: {e}"))
}

pub struct Registry {
    current: ArcSwap<Catalog>,
    write: std::sync::Mutex<()>,
    /// Folders with a load running or waiting, and the lock that runs one
    /// load of a folder at a time.
    loads: std::sync::Mutex<HashMap<String, FolderLoads>>,
    /// Set once the node has started (see [`Registry::started`]).
    started: AtomicBool,
    /// Bounds the loads that compile and describe at once.
    load_permits: std::sync::OnceLock<Arc<tokio::sync::Semaphore>>,
}

struct FolderLoads {
    lock: Arc<tokio::sync::Mutex<()>>,
    /// Loads running or waiting for the lock.
    count: usize,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            current: ArcSwap::from_pointee(Catalog::default()),
            write: std::sync::Mutex::new(()),
            loads: Default::default(),
            started: AtomicBool::new(false),
            load_permits: Default::default(),
        }
    }
}

/// A load of one folder in progress: listed by [`Registry::loading`] until
/// dropped.
pub struct FolderLoad<'a> {
    registry: &'a Registry,
    folder: String,
    _guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for FolderLoad<'_> {
    fn drop(&mut self) {
        // The lock is released before the entry may go, so that a waiter
        // that finds no entry never finds the lock still held.
        self._guard = None;
        let mut loads = crate::lock(&self.registry.loads);
        if let Some(entry) = loads.get_mut(&self.folder) {
            entry.count -= 1;
            if entry.count == 0 {
                loads.remove(&self.folder);
            }
        }
    }
}

impl Registry {
    /// A consistent snapshot; cheap, lock-free.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.current.load_full()
    }

    /// The node's plugin named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.current.load().shared.by_name.get(name).cloned()
    }

    /// Starts a load of `folder`: waits for one already running to end.
    pub async fn begin_load(&self, folder: &str) -> FolderLoad<'_> {
        let lock = {
            let mut loads = crate::lock(&self.loads);
            let entry = loads
                .entry(folder.to_string())
                .or_insert_with(|| FolderLoads {
                    lock: Arc::new(tokio::sync::Mutex::new(())),
                    count: 0,
                });
            entry.count += 1;
            entry.lock.clone()
        };
        // Counted before waiting: a drop while waiting still uncounts it.
        let mut load = FolderLoad {
            registry: self,
            folder: folder.to_string(),
            _guard: None,
        };
        load._guard = Some(lock.lock_owned().await);
        load
    }

    /// Folders being loaded now (or waiting to be), sorted.
    pub fn loading(&self) -> Vec<String> {
        let mut v: Vec<String> = crate::lock(&self.loads).keys().cloned().collect();
        v.sort();
        v
    }

    /// Whether the node has started: its plugin directory loaded once and
    /// the jobs of its last run recovered (`/v2/health` says `starting`
    /// until then).
    pub fn started(&self) -> bool {
        self.started.load(Ordering::Acquire)
    }

    /// Marks the node as started (see [`Registry::started`]).
    pub fn set_started(&self) {
        self.started.store(true, Ordering::Release);
    }

    /// The permits for loads compiling or describing at once, `parallelism`
    /// of them (the first call decides).
    pub(crate) fn load_permits(&self, parallelism: usize) -> Arc<tokio::sync::Semaphore> {
        self.load_permits
            .get_or_init(|| Arc::new(tokio::sync::Semaphore::new(parallelism.max(1))))
            .clone()
    }

    /// Applies `change` to a copy of the slots and publishes the result.
    pub fn update<R>(&self, change: impl FnOnce(&mut BTreeMap<String, Slot>) -> R) -> R {
        let _guard = crate::lock(&self.write);
        let mut slots = self.current.load().slots.clone();
        let r = change(&mut slots);
        self.current.store(Arc::new(Catalog::from_slots(slots)));
        r
    }
}

#[cfg(test)]
mod tests {
    use super::routes_overlap;

    #[test]
    fn routes_overlap_on_whole_segments() {
        for (a, b) in [
            ("/v1", "/v1"),
            ("/v1", "/v1/"),
            ("/v1", "/v1/chat"),
            ("/v1/chat/", "/v1"),
            ("/", "/anything"),
            ("/x", "/"),
            ("/", "/"),
        ] {
            assert!(routes_overlap(a, b), "{a} {b}");
            assert!(routes_overlap(b, a), "{b} {a}");
        }
        for (a, b) in [
            ("/v1", "/v10"),
            ("/v1/chat", "/v1/chats"),
            ("/v2/tools", "/v2/jobs"),
        ] {
            assert!(!routes_overlap(a, b), "{a} {b}");
            assert!(!routes_overlap(b, a), "{b} {a}");
        }
    }
}
