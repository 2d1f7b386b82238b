//! `hanzo-node plugin inspect FILE`: what a component is (which world it
//! implements), what it imports and exports, whether this host can link it,
//! what is wrong with the manifest beside it, and what its manifest requests
//! beside what this node's operator grants it. `plugin sign|verify`: a
//! plugin folder's publisher signature (`crate::signing`).

use crate::bindings::versioned::ProviderPre;
use crate::bindings::versioned::ToolPre;
use crate::call_state::CallState;
use crate::config::NodeConfig;
use crate::engine::{Engine, PoolConfig};
use crate::grants::{Request, Verdict};
use crate::plugins::manifest::{
    MANIFEST_FILE, MAX_COMPONENT_BYTES, Manifest, PluginKind, read_manifest, read_plugin_file,
};
use crate::signing::{MAX_SIGNATURE_BYTES, SIGNATURE_FILE, TrustStore};
use serde_json::{Value, json};
use std::path::Path;
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

/// What `hanzo-node plugin inspect` shows; `config` is the node's (its
/// `[grants]` and `[plugins.<name>]` decide what is granted).
pub fn inspect(file: &Path, config: &NodeConfig) -> anyhow::Result<Value> {
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let hash = blake3::hash(&bytes);
    let engine = Engine::new(
        &PoolConfig {
            instances: 4,
            max_memory_mb: 64,
            keep_resident_kib: 0,
            warm_memory_mb: 0,
        },
        None,
    )
    .map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let component = engine
        .component(&bytes, &hash)
        .map_err(|e| anyhow::anyhow!("{} is not a valid component: {e:#}", file.display()))?;
    let ty = component.component_type();
    let imports: Vec<String> = ty
        .imports(&engine.wasmtime)
        .map(|(n, _)| n.to_string())
        .collect();
    let exports: Vec<String> = ty
        .exports(&engine.wasmtime)
        .map(|(n, _)| n.to_string())
        .collect();

    let mut linker: Linker<CallState> = Linker::new(&engine.wasmtime);
    crate::caps::add_to_linker(&mut linker).map_err(|e| anyhow::anyhow!("{e:#}"))?;
    let (kind, link_problem) = match linker.instantiate_pre(&component) {
        Err(e) => (None, Some(format!("cannot link: {e:#}"))),
        Ok(pre) => {
            if ProviderPre::new(pre.clone()).is_ok() {
                (Some(PluginKind::Provider), None)
            } else if ToolPre::new(pre.clone()).is_ok() {
                (Some(PluginKind::Tool), None)
            } else if ProxyPre::new(pre).is_ok() {
                (Some(PluginKind::Api), None)
            } else {
                (
                    None,
                    Some("exports none of the provider, tool or api worlds".to_string()),
                )
            }
        }
    };

    let dir = file.parent().unwrap_or(Path::new("."));
    let manifest_path = dir.join(MANIFEST_FILE);
    let mut problems: Vec<String> = link_problem.into_iter().collect();
    let mut manifest_json = Value::Null;
    if manifest_path.is_file() {
        match crate::plugins::manifest::read_manifest(dir)
            .map_err(|e| e.to_string())
            .and_then(|t| Manifest::parse(&t))
        {
            Ok(m) => {
                // The ceilings of a default node.toml: inspect reads no config.
                problems.extend(m.problems(&crate::plugins::manifest::Ceilings::default()));
                if let Some(k) = kind
                    && k != m.kind
                {
                    problems.push(format!(
                        "the manifest says kind `{}` but the component implements the `{}` world",
                        m.kind.as_str(),
                        k.world()
                    ));
                }
                let signature = verdict(dir, &hash, config)?;
                let grants = grant(&m, signature, config);
                manifest_json = json!({
                    "path": manifest_path.display().to_string(),
                    "name": m.name,
                    "kind": m.kind.as_str(),
                    "version": m.version,
                    "routes": m.routes,
                    "requested": grants.requested,
                    "granted": grants.granted(),
                    "signature": grants.signature.to_json(),
                });
                if config.grants.strict
                    && let Some(refusal) = grants.signature.strict_refusal()
                {
                    problems.push(refusal);
                }
            }
            Err(e) => problems.push(format!("{}: {e}", manifest_path.display())),
        }
    } else {
        problems.push(format!("no {MANIFEST_FILE} beside the component"));
    }
    Ok(json!({
        "file": file.display().to_string(),
        "size": bytes.len(),
        "blake3": hash.to_hex().to_string(),
        "kind": kind.map(|k| k.as_str()),
        "world": kind.map(|k| k.world()),
        "imports": imports,
        "exports": exports,
        "manifest": manifest_json,
        "problems": problems,
    }))
}

/// What the node configured by `config` grants the plugin of manifest `m`.
fn grant(m: &Manifest, signature: Verdict, config: &NodeConfig) -> crate::grants::Grants {
    let overrides = config.plugins.get(&m.name).cloned().unwrap_or_default();
    let settings = m.settings(&overrides.config);
    crate::grants::resolve(
        Request {
            plugin: &m.name,
            requested: &m.permissions,
            limits: &m.limits,
            settings,
            signature,
        },
        &config.grants,
        &overrides,
        |_, m| m.from_env(),
    )
}

/// The verdict on the signature in `dir` for a component hashing to
/// `component`, with the trust store of `config`.
fn verdict(dir: &Path, component: &blake3::Hash, config: &NodeConfig) -> anyhow::Result<Verdict> {
    let manifest = blake3::hash(read_manifest(dir)?.as_bytes());
    let trust = TrustStore::new(
        &config.grants.trusted_keys,
        config.grants.trust_dir.as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    let path = dir.join(SIGNATURE_FILE);
    if std::fs::symlink_metadata(&path).is_err() {
        return Ok(Verdict::Unsigned);
    }
    Ok(match read_plugin_file(&path, MAX_SIGNATURE_BYTES) {
        Ok(bytes) => crate::signing::check(Some(&bytes), component, &manifest, &trust),
        Err(e) => Verdict::Invalid(e.to_string()),
    })
}

/// A plugin folder's manifest and the blake3 of its component (the one
/// the loader would load).
fn folder_hashes(dir: &Path) -> anyhow::Result<(blake3::Hash, blake3::Hash)> {
    let text = read_manifest(dir)?;
    let m = Manifest::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    let file = m
        .component_path(dir)?
        .ok_or_else(|| anyhow::anyhow!("{}: no .wasm file beside the manifest", dir.display()))?;
    let bytes = read_plugin_file(&file, MAX_COMPONENT_BYTES)?;
    Ok((blake3::hash(&bytes), blake3::hash(text.as_bytes())))
}

/// `hanzo-node plugin sign`: writes `dir/plugin.sig` for the folder's
/// component and manifest as they are now, signed with `key`.
pub fn sign_folder(
    dir: &Path,
    key: &ed25519_dalek::SigningKey,
) -> anyhow::Result<std::path::PathBuf> {
    let (component, manifest) = folder_hashes(dir)?;
    let path = dir.join(SIGNATURE_FILE);
    // Written beside, then renamed: a watching node never reads half a file.
    let tmp = dir.join(format!(".{SIGNATURE_FILE}.tmp"));
    std::fs::write(&tmp, crate::signing::sign(key, &component, &manifest))?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

/// `hanzo-node plugin verify`: the verdict on a plugin folder's signature,
/// with the trust store of `config`.
pub fn verify_folder(dir: &Path, config: &NodeConfig) -> anyhow::Result<Verdict> {
    let (component, _) = folder_hashes(dir)?;
    verdict(dir, &component, config)
}
