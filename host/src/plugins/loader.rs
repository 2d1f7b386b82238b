//! Loading one plugin folder: manifest, component (through the compile cache),
//! linking against the host's interfaces, checking the world's exports, and
//! for tool plugins asking them which tools they offer. Only a version that
//! passed every step replaces the one serving calls.

use super::manifest::{MANIFEST_FILE, config_value_string};
use super::registry::{Slot, compile_schema};
use super::{LoadedPlugin, Manifest, PluginKind, PluginPre};
use crate::bindings::provider::ProviderPre;
use crate::bindings::tool::ToolPre;
use crate::caps::http::OutboundPolicy;
use crate::runtime::Runtime;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::Semaphore;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// The tenant on whose behalf the node itself calls plugins (e.g. `describe`).
pub const NODE_TENANT: &str = "_node";

/// What became of a folder after a (re)load.
#[derive(Debug, PartialEq, Eq)]
pub enum LoadOutcome {
    Loaded,
    Unchanged,
    Unloaded,
    /// The new version failed; the previous one (if any) keeps serving.
    Failed(String),
}

enum Prepared {
    Ready(Box<LoadedPlugin>),
    Unchanged,
    Gone,
}

impl Runtime {
    /// Loads every folder of the plugin directory.
    pub async fn load_all(self: &Arc<Self>) -> Vec<(String, LoadOutcome)> {
        let dir = self.plugins_dir.clone();
        let mut folders: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.'))
                .collect(),
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read the plugin directory");
                Vec::new()
            }
        };
        folders.sort();
        let mut out = Vec::new();
        for f in folders {
            let outcome = self.reload_folder(&f).await;
            out.push((f, outcome));
        }
        out
    }

    /// (Re)loads one folder of the plugin directory and publishes the result.
    pub async fn reload_folder(self: &Arc<Self>, folder: &str) -> LoadOutcome {
        let dir = self.plugins_dir.join(folder);
        let current = self
            .registry
            .catalog()
            .slots
            .get(folder)
            .and_then(|s| s.current.clone());
        let started = std::time::Instant::now();
        let result = self.prepare(&dir, current.as_ref()).await;
        let result = result.and_then(|p| match p {
            Prepared::Ready(plugin) => {
                let name = plugin.manifest.name.clone();
                let clash = self
                    .registry
                    .catalog()
                    .slots
                    .values()
                    .find(|s| {
                        s.folder != folder
                            && s.current.as_ref().is_some_and(|c| c.manifest.name == name)
                    })
                    .map(|s| s.folder.clone());
                match clash {
                    Some(other) => Err(format!(
                        "plugin name `{name}` is already used by folder `{other}`"
                    )),
                    None => Ok(Prepared::Ready(plugin)),
                }
            }
            other => Ok(other),
        });
        match result {
            Ok(Prepared::Ready(plugin)) => {
                let plugin = Arc::new(*plugin);
                tracing::info!(
                    plugin = %plugin.manifest.name,
                    kind = plugin.manifest.kind.as_str(),
                    version = %plugin.manifest.version,
                    blake3 = %plugin.hash.to_hex(),
                    ms = started.elapsed().as_millis() as u64,
                    swapped = current.is_some(),
                    "plugin loaded"
                );
                self.registry.update(|slots| {
                    slots.insert(
                        folder.to_string(),
                        Slot {
                            folder: folder.to_string(),
                            current: Some(plugin),
                            error: None,
                            error_at: None,
                        },
                    )
                });
                // Parked instances of the version swapped out go now.
                self.prune_warm();
                LoadOutcome::Loaded
            }
            Ok(Prepared::Unchanged) => LoadOutcome::Unchanged,
            Ok(Prepared::Gone) => {
                let removed = self.registry.update(|slots| slots.remove(folder));
                if removed.is_some() {
                    tracing::info!(folder, "plugin unloaded");
                    self.prune_warm();
                }
                LoadOutcome::Unloaded
            }
            Err(error) => {
                tracing::warn!(folder, %error, keeps_serving = current.is_some(), "plugin failed to load");
                self.registry.update(|slots| {
                    let slot = slots.entry(folder.to_string()).or_insert_with(|| Slot {
                        folder: folder.to_string(),
                        current: None,
                        error: None,
                        error_at: None,
                    });
                    slot.error = Some(error.clone());
                    slot.error_at = Some(SystemTime::now());
                });
                LoadOutcome::Failed(error)
            }
        }
    }

    async fn prepare(
        self: &Arc<Self>,
        dir: &Path,
        current: Option<&Arc<LoadedPlugin>>,
    ) -> Result<Prepared, String> {
        let manifest_path = dir.join(MANIFEST_FILE);
        if !dir.is_dir() || !manifest_path.is_file() {
            return Ok(Prepared::Gone);
        }
        let manifest_text = std::fs::read(&manifest_path)
            .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        let manifest_hash = blake3::hash(&manifest_text);
        let manifest = Manifest::load(dir).map_err(|e| e.to_string())?;
        let component_file = manifest.component_path(dir).map_err(|e| e.to_string())?;
        if !component_file.is_file() {
            return Ok(Prepared::Gone);
        }
        let bytes = std::fs::read(&component_file)
            .map_err(|e| format!("{}: {e}", component_file.display()))?;
        let hash = blake3::hash(&bytes);
        if let Some(c) = current
            && c.hash == hash
            && c.manifest_hash == manifest_hash
        {
            return Ok(Prepared::Unchanged);
        }
        let size = bytes.len() as u64;
        let rt = self.clone();
        let component = tokio::task::spawn_blocking(move || rt.engine.component(&bytes, &hash))
            .await
            .map_err(|e| format!("compile task failed: {e}"))?
            .map_err(|e| {
                format!(
                    "{} is not a valid component: {e:#}",
                    component_file.display()
                )
            })?;

        let pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| format!("cannot link {}: {e:#}", component_file.display()))?;
        let not_world = |e: wasmtime::Error| {
            format!(
                "{} does not implement the `{}` world its manifest names: {e:#}",
                component_file.display(),
                manifest.kind.world()
            )
        };
        let pre = match manifest.kind {
            PluginKind::Provider => PluginPre::Provider(ProviderPre::new(pre).map_err(not_world)?),
            PluginKind::Tool => PluginPre::Tool(ToolPre::new(pre).map_err(not_world)?),
            PluginKind::Api => PluginPre::Api(ProxyPre::new(pre).map_err(not_world)?),
        };

        let overrides = self
            .config
            .plugins
            .get(&manifest.name)
            .cloned()
            .unwrap_or_default();
        let mut settings: BTreeMap<String, String> = manifest
            .config
            .iter()
            .map(|(k, v)| (k.clone(), config_value_string(v)))
            .collect();
        for (k, v) in &overrides.config {
            settings.insert(k.clone(), config_value_string(v));
        }
        let secrets = manifest
            .permissions
            .secrets
            .iter()
            .filter_map(|name| {
                overrides
                    .secrets
                    .get(name)
                    .cloned()
                    .or_else(|| std::env::var(name).ok())
                    .map(|v| (name.clone(), v))
            })
            .collect();
        let mut hosts = manifest.permissions.http.clone();
        hosts.extend(overrides.allow_hosts.iter().cloned());
        let mut plugin = LoadedPlugin {
            outbound: Arc::new(OutboundPolicy::new(&manifest.name, &hosts)),
            concurrency: Arc::new(Semaphore::new(manifest.limits.max_concurrency)),
            manifest,
            dir: dir.to_path_buf(),
            component_file,
            hash,
            manifest_hash,
            size,
            loaded_at: SystemTime::now(),
            pre,
            settings,
            secrets,
            tools: Vec::new(),
            cpu: Default::default(),
        };
        if plugin.manifest.kind == PluginKind::Tool {
            plugin = self.describe_tools(plugin).await?;
        }
        Ok(Prepared::Ready(Box::new(plugin)))
    }

    /// Asks a tool plugin for its tools and compiles their schemas.
    async fn describe_tools(
        self: &Arc<Self>,
        plugin: LoadedPlugin,
    ) -> Result<LoadedPlugin, String> {
        let plugin = Arc::new(plugin);
        let specs = self
            .describe(&plugin, NODE_TENANT.into())
            .await
            .map_err(|e| format!("describe() failed: {e}"))?;
        let mut plugin =
            Arc::into_inner(plugin).ok_or("describe() kept a reference to the plugin")?;
        let mut seen = std::collections::BTreeSet::new();
        for spec in specs {
            if spec.name.is_empty()
                || spec.name.len() > 128
                || spec.name.contains(char::is_whitespace)
            {
                return Err(format!(
                    "tool name `{}` must be 1-128 characters without spaces",
                    spec.name
                ));
            }
            if !seen.insert(spec.name.clone()) {
                return Err(format!("tool `{}` is described twice", spec.name));
            }
            let validator = compile_schema(&spec.parameters)
                .map_err(|e| format!("tool `{}` parameters: {e}", spec.name))?;
            if let Some(result) = &spec.result {
                compile_schema(result).map_err(|e| format!("tool `{}` result: {e}", spec.name))?;
            }
            plugin.tools.push((spec, Arc::new(validator)));
        }
        Ok(plugin)
    }
}
