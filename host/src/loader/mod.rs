//! Loading one plugin folder: manifest, component (through the compile cache),
//! linking against the host's interfaces, checking the world's exports, and
//! for tool plugins asking them which tools they offer. Only a version that
//! passed every step, and claims no name, route or tool another folder's
//! plugin holds, replaces the one serving calls.
//!
//! Loading one folder has a deadline and cannot take the loader down: a
//! panic fails that folder only. Folders load in parallel (bounded), each
//! independent of the others, so one slow plugin delays no other.

pub mod refresh;
pub mod watcher;
mod wit_version;

pub use crate::config::LoaderConfig;

use crate::bindings::tool_types::ToolSpec;
use crate::bindings::versioned::ProviderPre;
use crate::bindings::versioned::ToolPre;
use crate::grants::{Request, Verdict};
use crate::plugins::manifest::{
    Ceilings, MANIFEST_FILE, MAX_COMPONENT_BYTES, read_manifest, read_plugin_file,
};
use crate::plugins::registry::{Slot, compile_schema, conflict, routes_overlap};
use crate::plugins::{LoadedPlugin, Manifest, PluginKind, PluginPre, ToolSchemas, folder};
use crate::runtime::Runtime;
use crate::signing::{MAX_SIGNATURE_BYTES, SIGNATURE_FILE, TrustStore};
use crate::tenant::Tenant;
use futures_util::FutureExt;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use wasmtime::component::Component;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

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

/// A folder's files, read and compiled.
enum Compiled {
    New {
        manifest: Manifest,
        manifest_hash: blake3::Hash,
        component_file: PathBuf,
        hash: blake3::Hash,
        size: u64,
        component: Component,
        signature: Verdict,
        signature_hash: Option<blake3::Hash>,
    },
    Unchanged,
    Gone,
}

/// What a folder's manifest claims, read before loading at startup to
/// order the claims.
struct Claims {
    name: String,
    kind: PluginKind,
    routes: Vec<String>,
    owner: Option<Tenant>,
}

impl Claims {
    /// The claims of a usable manifest (one that is not will fail to load).
    fn read(root: &Path, key: &str, ceilings: &Ceilings) -> Option<Claims> {
        let dir = root.join(key);
        let m = Manifest::from_text(&dir, &read_manifest(&dir).ok()?, ceilings).ok()?;
        Some(Claims {
            name: m.name,
            kind: m.kind,
            routes: m.routes,
            owner: folder::owner(key),
        })
    }

    /// Whether the two compete for callers: the node's plugins with each
    /// other and with every tenant's, a tenant's with its own.
    fn shares_scope(&self, other: &Claims) -> bool {
        self.owner.is_none() || other.owner.is_none() || self.owner == other.owner
    }

    /// What both claim for certain, from their manifests: a name or an
    /// overlapping route.
    fn contest(&self, other: &Claims) -> Option<String> {
        if !self.shares_scope(other) {
            return None;
        }
        if self.name == other.name {
            return Some(format!("plugin name `{}`", self.name));
        }
        self.routes.iter().find_map(|a| {
            other
                .routes
                .iter()
                .find(|b| routes_overlap(a, b))
                .map(|b| format!("route `{a}` (overlapping `{b}`)"))
        })
    }
}

/// Loads every folder of the plugin directory (the node's and the
/// tenants', see [`folder`]), in parallel; the outcomes are in folder order.
///
/// Who gets a contested name, route or tool does not depend on which
/// load finishes first, nor on a folder's name sorting first. Folders
/// named like the plugin they hold (the operator's `openai` folder
/// holding the `openai` plugin) rank before the others. Names and routes
/// are known from the manifests before loading: of two folders claiming
/// the same name or overlapping routes, the lower-ranked one is refused,
/// and both are when they rank the same, so that neither serves the
/// other's requests (a folder `0openai` cannot take the name `openai`,
/// nor `/v1/chat` from the `/v1` of api-openai). Tools are known only
/// once loaded: a tool plugin claims its tools after the tool plugins
/// ahead of it (lower rank, then folder order) have loaded or failed,
/// waiting at most their load deadline, and is refused if one of them
/// holds one of its tools. The node's folders rank before the tenants' own,
/// which compete only with the node's and their own tenant's.
pub async fn load_all(rt: &Arc<Runtime>) -> Vec<(String, LoadOutcome)> {
    let ceilings = Ceilings::from_pool(&rt.config.pool);
    let mut order: Vec<(String, Option<Claims>)> = folder::list(&rt.plugins_dir)
        .into_iter()
        .map(|f| {
            let claims = Claims::read(&rt.plugins_dir, &f, &ceilings);
            (f, claims)
        })
        .collect();
    let rank = |key: &str, claims: &Option<Claims>| {
        let tenants = 2 * u8::from(folder::owner(key).is_some());
        tenants + u8::from(!claims.as_ref().is_some_and(|c| c.name == folder::base(key)))
    };
    order.sort_by_cached_key(|(folder, claims)| (rank(folder, claims), folder.clone()));
    let (done, settled): (Vec<_>, Vec<_>) = order.iter().map(|_| watch::channel(false)).unzip();
    let mut tasks = Vec::new();
    for ((i, (folder, claims)), done) in order.iter().enumerate().zip(done) {
        let mut ahead = Vec::new();
        let mut contested = None;
        if let Some(c) = claims {
            let my_rank = rank(folder, claims);
            for (j, (other, o)) in order.iter().enumerate() {
                let Some(o) = o.as_ref().filter(|_| j != i) else {
                    continue;
                };
                let their_rank = rank(other, &order[j].1);
                match c.contest(o) {
                    Some(what) if my_rank == their_rank => {
                        contested.get_or_insert(format!(
                            "{what} is also claimed by folder `{other}`, so neither is \
                             loaded: remove one, then change the other or restart"
                        ));
                    }
                    Some(what) if my_rank > their_rank => {
                        contested.get_or_insert(format!(
                            "{what} is claimed by folder `{other}`, which holds a plugin \
                             of its own name and so goes first"
                        ));
                    }
                    Some(_) => {}
                    None if j < i
                        && c.kind == PluginKind::Tool
                        && o.kind == PluginKind::Tool
                        && c.shares_scope(o) =>
                    {
                        ahead.push(settled[j].clone())
                    }
                    None => {}
                }
            }
        }
        let rt = rt.clone();
        let name = folder.clone();
        let task = tokio::spawn(async move {
            let outcome = match contested {
                Some(error) => {
                    let _load = rt.registry.begin_load(&name).await;
                    failed(&rt, &name, false, error)
                }
                None => {
                    load_folder(&rt, &name, async move {
                        for mut rx in ahead {
                            // An error: the sender is gone, which settles too.
                            let _ = rx.wait_for(|settled| *settled).await;
                        }
                    })
                    .await
                }
            };
            let _ = done.send(true);
            outcome
        });
        tasks.push((folder.clone(), task));
    }
    drop(settled);
    let mut out = Vec::new();
    for (folder, task) in tasks {
        let outcome = task.await.unwrap_or_else(|e| {
            LoadOutcome::Failed(format!("the loader failed unexpectedly: {e}"))
        });
        out.push((folder, outcome));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// (Re)loads one folder of the plugin directory and publishes the result.
pub async fn reload_folder(rt: &Arc<Runtime>, folder: &str) -> LoadOutcome {
    load_folder(rt, folder, async {}).await
}

/// Loads `folder`, then claims its name, routes and tools once `turn`
/// is ready. Loads of one folder run one at a time.
async fn load_folder(
    rt: &Arc<Runtime>,
    folder: &str,
    turn: impl Future<Output = ()>,
) -> LoadOutcome {
    let _load = rt.registry.begin_load(folder).await;
    let current = rt
        .registry
        .catalog()
        .slots
        .get(folder)
        .and_then(|s| s.current.clone());
    let started = Instant::now();
    let result = prepare_bounded(rt, folder, current.as_ref()).await;
    turn.await;
    match result {
        Ok(Prepared::Ready(plugin)) => {
            let plugin = Arc::new(*plugin);
            let refused = name_owner(rt, folder, &plugin).or_else(|| {
                rt.registry.update(|slots| {
                    let why = conflict(slots, folder, &plugin);
                    if why.is_none() {
                        slots.insert(
                            folder.to_string(),
                            Slot {
                                folder: folder.to_string(),
                                current: Some(plugin.clone()),
                                error: None,
                                error_at: None,
                            },
                        );
                    }
                    why
                })
            });
            if let Some(error) = refused {
                return failed(rt, folder, current.is_some(), error);
            }
            tracing::info!(
                plugin = %plugin.manifest.name,
                kind = plugin.manifest.kind.as_str(),
                version = %plugin.manifest.version,
                blake3 = %plugin.hash.to_hex(),
                ms = started.elapsed().as_millis() as u64,
                swapped = current.is_some(),
                "plugin loaded"
            );
            // Parked instances of the version swapped out go now.
            rt.prune_warm();
            LoadOutcome::Loaded
        }
        Ok(Prepared::Unchanged) => LoadOutcome::Unchanged,
        Ok(Prepared::Gone) => {
            let removed = rt.registry.update(|slots| slots.remove(folder));
            if removed.is_some() {
                tracing::info!(folder, "plugin unloaded");
                rt.prune_warm();
            }
            LoadOutcome::Unloaded
        }
        Err(error) => failed(rt, folder, current.is_some(), error),
    }
}

/// A plugin named like another folder of its scope belongs there:
/// `0openai/plugin.toml` saying `name = "openai"` is refused while an
/// `openai` folder holds a manifest, loaded or not; so is a tenant's own
/// plugin named like a folder of the node's.
fn name_owner(rt: &Runtime, key: &str, plugin: &LoadedPlugin) -> Option<String> {
    let name = &plugin.manifest.name;
    let mut owners = vec![name.to_string()];
    if plugin.owner.is_some() {
        owners.push(folder::sibling(key, name));
    }
    owners
        .into_iter()
        .filter(|o| o != key)
        .find(|o| std::fs::symlink_metadata(rt.plugins_dir.join(o).join(MANIFEST_FILE)).is_ok())
        .map(|o| format!("plugin name `{name}` belongs to folder `{o}`"))
}

/// Records a failed load of `folder`: the version serving (if any) keeps
/// serving.
fn failed(rt: &Runtime, folder: &str, keeps_serving: bool, error: String) -> LoadOutcome {
    tracing::warn!(folder, %error, keeps_serving, "plugin failed to load");
    rt.registry.update(|slots| {
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

/// [`Runtime::prepare`] within the load deadline, with a panic turned
/// into a failure of this folder. The deadline runs from when the load
/// may start compiling (see [`LoaderConfig::parallelism`]).
async fn prepare_bounded(
    rt: &Arc<Runtime>,
    folder: &str,
    current: Option<&Arc<LoadedPlugin>>,
) -> Result<Prepared, String> {
    let dir = rt.plugins_dir.join(folder);
    // A small component compiles in well under a second: it does not wait
    // behind large ones (a Python or JavaScript runtime compiles for seconds)
    // for a permit, so the node's small plugins serve while those compile.
    let permit = if components_size(&dir) <= SMALL_COMPONENT_BYTES {
        None
    } else {
        let permits = rt.registry.load_permits(rt.config.loader.parallelism());
        Some(
            permits
                .acquire_owned()
                .await
                .map_err(|e| format!("cannot load: {e}"))?,
        )
    };
    let limit = Duration::from_secs(rt.config.loader.timeout_s);
    let prepare = AssertUnwindSafe(prepare(rt, folder, &dir, current, permit)).catch_unwind();
    match tokio::time::timeout(limit, prepare).await {
        Err(_) => Err(format!(
            "loading took longer than {} s (loader.timeout_s)",
            limit.as_secs()
        )),
        Ok(Err(panic)) => Err(format!(
            "the loader failed unexpectedly: {}",
            panic_message(panic.as_ref())
        )),
        Ok(Ok(result)) => result,
    }
}

/// Components up to this size load without waiting for a compile permit.
const SMALL_COMPONENT_BYTES: u64 = 2 << 20;

/// The bytes of the `.wasm` files in `dir` (what loading it will compile).
fn components_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "wasm"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// Reads and compiles a folder's files. Blocking: call off the async
/// threads.
fn compile_folder(
    rt: &Runtime,
    dir: &Path,
    current: Option<&LoadedPlugin>,
) -> Result<Compiled, String> {
    let manifest_path = dir.join(MANIFEST_FILE);
    if !dir.is_dir() || std::fs::symlink_metadata(&manifest_path).is_err() {
        return Ok(Compiled::Gone);
    }
    let text = read_manifest(dir).map_err(|e| e.to_string())?;
    let manifest_hash = blake3::hash(text.as_bytes());
    let ceilings = Ceilings::from_pool(&rt.config.pool);
    let manifest = Manifest::from_text(dir, &text, &ceilings).map_err(|e| e.to_string())?;
    let component_file = manifest.component_path(dir).map_err(|e| e.to_string())?;
    let present = component_file
        .as_ref()
        .is_some_and(|f| std::fs::symlink_metadata(f).is_ok());
    let component_file = match component_file {
        Some(f) if present => f,
        // The component file is missing while the manifest is there: a
        // swap by delete-then-copy is under way. The loaded version
        // keeps serving until the new file is complete.
        _ if current.is_some() => {
            tracing::info!(folder = %dir.display(), "component file missing: the loaded version keeps serving");
            return Ok(Compiled::Unchanged);
        }
        Some(_) => return Ok(Compiled::Gone),
        None => {
            return Err(format!(
                "{}: no .wasm file beside the manifest",
                manifest_path.display()
            ));
        }
    };
    let bytes =
        read_plugin_file(&component_file, MAX_COMPONENT_BYTES).map_err(|e| e.to_string())?;
    let hash = blake3::hash(&bytes);
    let signature_file = match read_plugin_file(&dir.join(SIGNATURE_FILE), MAX_SIGNATURE_BYTES) {
        Ok(b) => Some(Ok(b)),
        Err(crate::plugins::manifest::ManifestError::Read { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            None
        }
        Err(e) => Some(Err(e.to_string())),
    };
    let signature_hash = signature_file
        .as_ref()
        .map(|f| blake3::hash(f.as_deref().unwrap_or_default()));
    if let Some(c) = current
        && c.hash == hash
        && c.manifest_hash == manifest_hash
        && c.signature_hash == signature_hash
    {
        return Ok(Compiled::Unchanged);
    }
    // Checked before compiling: in strict mode a refused file costs no
    // compile, and the version serving keeps serving.
    let grants = &rt.config.grants;
    let trust = TrustStore::new(&grants.trusted_keys, grants.trust_dir.as_deref())?;
    let signature = match &signature_file {
        Some(Err(why)) => Verdict::Invalid(why.clone()),
        Some(Ok(b)) => crate::signing::check(Some(b.as_slice()), &hash, &manifest_hash, &trust),
        None => Verdict::Unsigned,
    };
    if grants.strict
        && let Some(refusal) = signature.strict_refusal()
    {
        return Err(refusal);
    }
    let component = rt.engine.component(&bytes, &hash).map_err(|e| {
        format!(
            "{} is not a valid component: {e:#}",
            component_file.display()
        )
    })?;
    wit_version::check(&rt.engine.wasmtime, &component)
        .map_err(|e| format!("{} is {e}", component_file.display()))?;
    Ok(Compiled::New {
        manifest,
        manifest_hash,
        component_file,
        hash,
        size: bytes.len() as u64,
        component,
        signature,
        signature_hash,
    })
}

/// Reads, compiles (holding `permit`), links and, for a tool plugin,
/// describes the plugin of folder `key` (in `dir`).
async fn prepare(
    rt: &Arc<Runtime>,
    key: &str,
    dir: &Path,
    current: Option<&Arc<LoadedPlugin>>,
    permit: Option<OwnedSemaphorePermit>,
) -> Result<Prepared, String> {
    let blocking_rt = rt.clone();
    let (blocking_dir, blocking_current) = (dir.to_path_buf(), current.cloned());
    let compiled = tokio::task::spawn_blocking(move || {
        // Held until compiling ends, even if the load is given up on
        // meanwhile: compiling is what takes the CPUs, and a slow
        // `describe` holds up no other load.
        let _permit = permit;
        compile_folder(&blocking_rt, &blocking_dir, blocking_current.as_deref())
    })
    .await
    .map_err(|e| match e.try_into_panic() {
        Ok(panic) => format!(
            "the loader failed unexpectedly: {}",
            panic_message(panic.as_ref())
        ),
        Err(e) => format!("compile task failed: {e}"),
    })??;
    let Compiled::New {
        manifest,
        manifest_hash,
        component_file,
        hash,
        size,
        component,
        signature,
        signature_hash,
    } = compiled
    else {
        return Ok(match compiled {
            Compiled::Gone => Prepared::Gone,
            _ => Prepared::Unchanged,
        });
    };

    let pre = rt
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

    let owner = folder::owner(key);
    let (node_grants, overrides) = match &owner {
        None => (
            rt.config.grants.clone(),
            rt.config
                .plugins
                .get(&manifest.name)
                .cloned()
                .unwrap_or_default(),
        ),
        Some(tenant) => crate::grants::for_tenant_plugin(
            &rt.config.grants,
            rt.config
                .tenants
                .get(tenant)
                .own_plugins
                .get(&manifest.name),
        ),
    };
    // A plugin that needs a higher privacy tier than this node proves
    // does not run here at all.
    let tier = manifest.tier.max(overrides.tier.unwrap_or(0));
    rt.tee.admit(tier, &format!("plugin `{}`", manifest.name))?;
    let settings = manifest.settings(&overrides.config);
    if let Verdict::Invalid(why) = &signature {
        tracing::warn!(plugin = %manifest.name, %why, "plugin signature does not verify: loaded as unsigned");
    }
    let grants = Arc::new(crate::grants::resolve(
        Request {
            plugin: &manifest.name,
            requested: &manifest.permissions,
            limits: &manifest.limits,
            settings,
            signature,
        },
        &node_grants,
        &overrides,
        |name, mapping| rt.release_secret(&manifest.name, name, mapping),
    ));
    for (secret, why) in &grants.withheld {
        tracing::warn!(plugin = %manifest.name, secret, %why, "secret withheld");
    }
    let mut plugin = LoadedPlugin {
        grants,
        // Bounded by the manifest's checks (`Ceilings::MAX_CONCURRENCY`).
        concurrency: Arc::new(Semaphore::new(manifest.limits.max_concurrency)),
        manifest,
        dir: dir.to_path_buf(),
        owner,
        component_file,
        hash,
        manifest_hash,
        signature_hash,
        size,
        loaded_at: SystemTime::now(),
        pre,
        tools: Vec::new(),
        cpu: Default::default(),
        describe_every: None,
        stale: Default::default(),
    };
    if plugin.manifest.kind == PluginKind::Tool {
        plugin.describe_every = overrides
            .describe_every_s
            .or(plugin.manifest.describe_every_s)
            .map(Duration::from_secs);
        let plugin_arc = Arc::new(plugin);
        let tools = describe_tools(rt, &plugin_arc).await?;
        plugin = Arc::into_inner(plugin_arc).ok_or("describe() kept a reference to the plugin")?;
        plugin.tools = tools;
    }
    Ok(Prepared::Ready(Box::new(plugin)))
}

/// Asks a tool plugin for its tools and compiles their schemas.
pub(crate) async fn describe_tools(
    rt: &Arc<Runtime>,
    plugin: &Arc<LoadedPlugin>,
) -> Result<Vec<(ToolSpec, ToolSchemas)>, String> {
    // A tenant's own plugin runs only for its tenant, even at load.
    let tenant = plugin.owner.clone().unwrap_or_else(Tenant::node);
    let specs = rt
        .describe(plugin, tenant)
        .await
        .map_err(|e| format!("describe() failed: {e}"))?;
    let mut tools = Vec::with_capacity(specs.len());
    let mut seen = std::collections::BTreeSet::new();
    for spec in specs {
        if spec.name.is_empty() || spec.name.len() > 128 || spec.name.contains(char::is_whitespace)
        {
            return Err(format!(
                "tool name `{}` must be 1-128 characters without spaces",
                spec.name
            ));
        }
        if !seen.insert(spec.name.clone()) {
            return Err(format!("tool `{}` is described twice", spec.name));
        }
        let parameters = compile_schema(&spec.parameters)
            .map_err(|e| format!("tool `{}` parameters: {e}", spec.name))?;
        let result = match &spec.result {
            Some(result) => Some(Arc::new(
                compile_schema(result).map_err(|e| format!("tool `{}` result: {e}", spec.name))?,
            )),
            None => None,
        };
        let schemas = ToolSchemas {
            parameters: Arc::new(parameters),
            result,
        };
        tools.push((spec, schemas));
    }
    Ok(tools)
}
/// The message of a caught panic.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}
