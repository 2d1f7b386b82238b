//! `hanzo-node plugin inspect FILE`: what a component is (which world it
//! implements), what it imports and exports, whether this host can link it,
//! and what is wrong with the manifest beside it.

use crate::bindings::provider::ProviderPre;
use crate::bindings::tool::ToolPre;
use crate::call_state::CallState;
use crate::engine::{Engine, PoolConfig};
use crate::plugins::manifest::{MANIFEST_FILE, Manifest, PluginKind};
use serde_json::{Value, json};
use std::path::Path;
use wasmtime::component::Linker;
use wasmtime_wasi_http::p2::bindings::ProxyPre;

pub fn inspect(file: &Path) -> anyhow::Result<Value> {
    let bytes =
        std::fs::read(file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
    let hash = blake3::hash(&bytes);
    let engine = Engine::new(
        &PoolConfig {
            instances: 4,
            max_memory_mb: 64,
            keep_resident_kib: 0,
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
                manifest_json = json!({
                    "path": manifest_path.display().to_string(),
                    "name": m.name,
                    "kind": m.kind.as_str(),
                    "version": m.version,
                    "routes": m.routes,
                    "permissions": {
                        "http": m.permissions.http,
                        "kv": m.permissions.kv,
                        "secrets": m.permissions.secrets,
                        "tools": m.permissions.tools,
                        "llm": m.permissions.llm,
                        "jobs": m.permissions.jobs,
                        "agents": m.permissions.agents,
                    },
                });
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
