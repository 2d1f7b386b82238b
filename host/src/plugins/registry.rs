//! The registry: an atomically swapped, immutable catalog of plugin slots and
//! the indexes derived from them (by name, tools, API routes). Readers take a
//! snapshot without locks; the loader is the only writer.

use super::LoadedPlugin;
use crate::bindings::tool_types::ToolSpec;
use crate::bindings::tools::ToolInfo;
use arc_swap::ArcSwap;
use std::collections::BTreeMap;
use std::sync::Arc;
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
    pub validator: Arc<jsonschema::Validator>,
}

impl ToolEntry {
    pub fn info(&self) -> ToolInfo {
        ToolInfo {
            plugin: self.plugin.manifest.name.clone(),
            spec: self.spec.clone(),
        }
    }
}

#[derive(Default)]
pub struct Catalog {
    /// By folder name.
    pub slots: BTreeMap<String, Slot>,
    /// Loaded plugins by manifest name.
    pub by_name: BTreeMap<String, Arc<LoadedPlugin>>,
    /// Tools by name; on a clash the plugin whose name sorts first wins.
    pub tools: BTreeMap<String, Arc<ToolEntry>>,
    /// API routes, longest prefix first.
    pub routes: Vec<(String, Arc<LoadedPlugin>)>,
}

impl Catalog {
    fn from_slots(slots: BTreeMap<String, Slot>) -> Catalog {
        let mut by_name = BTreeMap::new();
        for slot in slots.values() {
            if let Some(p) = &slot.current {
                by_name.insert(p.manifest.name.clone(), p.clone());
            }
        }
        let mut tools = BTreeMap::new();
        let mut routes = Vec::new();
        for p in by_name.values() {
            for (spec, validator) in &p.tools {
                tools.entry(spec.name.clone()).or_insert_with(|| {
                    Arc::new(ToolEntry {
                        plugin: p.clone(),
                        spec: spec.clone(),
                        validator: validator.clone(),
                    })
                });
            }
            for r in &p.manifest.routes {
                routes.push((r.trim_end_matches('/').to_string(), p.clone()));
            }
        }
        routes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        Catalog {
            slots,
            by_name,
            tools,
            routes,
        }
    }

    /// The API plugin serving `path`: the longest declared prefix that matches
    /// whole path segments.
    pub fn route(&self, path: &str) -> Option<&Arc<LoadedPlugin>> {
        self.routes
            .iter()
            .find(|(prefix, _)| {
                prefix.is_empty()
                    || path == prefix
                    || (path.starts_with(prefix.as_str())
                        && path.as_bytes().get(prefix.len()) == Some(&b'/'))
            })
            .map(|(_, p)| p)
    }
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
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            current: ArcSwap::from_pointee(Catalog::default()),
            write: std::sync::Mutex::new(()),
        }
    }
}

impl Registry {
    /// A consistent snapshot; cheap, lock-free.
    pub fn catalog(&self) -> Arc<Catalog> {
        self.current.load_full()
    }

    pub fn get(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.current.load().by_name.get(name).cloned()
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
