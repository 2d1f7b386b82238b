//! Tool lists that change while their plugin runs: an adapter of another
//! system's tools (an MCP server's, which says so with `list_changed`) has
//! no files that change when its tools do. Such a plugin is asked
//! `describe()` again every `describe_every_s`, and soon after a call of a
//! tool it listed answers "no such tool" (its list is stale). A changed
//! answer is published as a new version of the plugin that shares the old
//! one's grants, permits and parked instances; calls in flight finish on
//! the version they started on. A new list that would take another
//! plugin's tool name, or a failed `describe()`, keeps the old list.

use super::describe_tools;
use crate::bindings::tool_types::ToolSpec;
use crate::plugins::registry::conflict;
use crate::plugins::{LoadedPlugin, PluginKind, ToolSchemas};
use crate::runtime::Runtime;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// How often the loaded plugins are looked over.
const TICK: Duration = Duration::from_secs(1);
/// The least time between two `describe()` calls a stale list asks for:
/// a client calling a missing tool in a loop does not make a loop of them.
const STALE_SPACING: Duration = Duration::from_secs(2);

/// Looks over the loaded tool plugins every second while the node runs,
/// re-describing those that are due. Ends with the runtime.
pub async fn run(rt: Weak<Runtime>) {
    // When each folder's plugin was last described, and the folders being
    // described now.
    let mut described: HashMap<String, Instant> = HashMap::new();
    let running: Arc<Mutex<HashSet<String>>> = Default::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(rt) = rt.upgrade() else { return };
        let catalog = rt.registry.catalog();
        described.retain(|folder, _| catalog.slots.contains_key(folder));
        for (folder, plugin) in catalog
            .slots
            .iter()
            .filter_map(|(f, s)| Some((f, s.current.as_ref()?)))
            .filter(|(_, p)| p.kind() == PluginKind::Tool)
        {
            // A version loaded since was described at its load.
            let last = *described.entry(folder.clone()).or_insert_with(Instant::now);
            let last = last.max(loaded_instant(plugin));
            let due = plugin
                .describe_every
                .is_some_and(|every| last.elapsed() >= every)
                || (plugin.stale.load(Ordering::Relaxed) && last.elapsed() >= STALE_SPACING);
            if !due || !crate::lock(&running).insert(folder.clone()) {
                continue;
            }
            described.insert(folder.clone(), Instant::now());
            let (rt, folder, plugin) = (rt.clone(), folder.clone(), plugin.clone());
            let running = running.clone();
            tokio::spawn(async move {
                if let Err(e) = refresh(&rt, &folder, &plugin).await {
                    tracing::warn!(plugin = %plugin.name(), %folder, error = %e, "tools not re-listed: the old list stays");
                }
                crate::lock(&running).remove(&folder);
            });
        }
    }
}

/// When `plugin` was loaded, on the monotonic clock.
fn loaded_instant(plugin: &LoadedPlugin) -> Instant {
    let ago = plugin.loaded_at.elapsed().unwrap_or_default();
    Instant::now().checked_sub(ago).unwrap_or_else(Instant::now)
}

/// Asks `plugin` (serving `folder`) for its tools again and publishes them
/// when they changed. `Ok(true)`: they did.
pub async fn refresh(
    rt: &Arc<Runtime>,
    folder: &str,
    plugin: &Arc<LoadedPlugin>,
) -> Result<bool, String> {
    // After (or before) any load of the folder, never beside one.
    let _load = rt.registry.begin_load(folder).await;
    let is_current = |p: Option<&Arc<LoadedPlugin>>| p.is_some_and(|p| Arc::ptr_eq(p, plugin));
    if !is_current(
        rt.registry
            .catalog()
            .slots
            .get(folder)
            .and_then(|s| s.current.as_ref()),
    ) {
        return Ok(false);
    }
    plugin.stale.store(false, Ordering::Relaxed);
    let tools = describe_tools(rt, plugin).await?;
    if same_tools(&plugin.tools, &tools) {
        return Ok(false);
    }
    let (added, removed) = difference(&plugin.tools, &tools);
    let next = Arc::new(plugin.with_tools(tools));
    rt.registry.update(|slots| {
        if !is_current(slots.get(folder).and_then(|s| s.current.as_ref())) {
            return Ok(false);
        }
        if let Some(why) = conflict(slots, folder, &next) {
            return Err(why);
        }
        slots.get_mut(folder).expect("current above").current = Some(next.clone());
        tracing::info!(plugin = %next.name(), %folder, ?added, ?removed, "tools re-listed");
        Ok(true)
    })
}

/// Whether two answers of `describe()` offer the same tools.
fn same_tools(a: &[(ToolSpec, ToolSchemas)], b: &[(ToolSpec, ToolSchemas)]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|((x, _), (y, _))| {
            x.name == y.name
                && x.description == y.description
                && x.parameters == y.parameters
                && x.result == y.result
        })
}

/// The tool names `b` has and `a` has not, and the other way round.
fn difference(
    a: &[(ToolSpec, ToolSchemas)],
    b: &[(ToolSpec, ToolSchemas)],
) -> (Vec<String>, Vec<String>) {
    let names = |v: &[(ToolSpec, ToolSchemas)]| -> HashSet<String> {
        v.iter().map(|(s, _)| s.name.clone()).collect()
    };
    let (a, b) = (names(a), names(b));
    let mut added: Vec<String> = b.difference(&a).cloned().collect();
    let mut removed: Vec<String> = a.difference(&b).cloned().collect();
    added.sort();
    removed.sort();
    (added, removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugins::registry::compile_schema;

    fn tool(name: &str, description: &str) -> (ToolSpec, ToolSchemas) {
        let parameters = r#"{"type":"object"}"#.to_string();
        let schemas = ToolSchemas {
            parameters: Arc::new(compile_schema(&parameters).unwrap()),
            result: None,
        };
        let spec = ToolSpec {
            name: name.into(),
            description: description.into(),
            parameters,
            result: None,
        };
        (spec, schemas)
    }

    #[test]
    fn a_changed_answer_is_told_from_the_same_one() {
        let before = [tool("a", "A"), tool("b", "B")];
        assert!(same_tools(&before, &[tool("a", "A"), tool("b", "B")]));
        // A new description is a change (agents read it), as is a new tool.
        assert!(!same_tools(&before, &[tool("a", "A, now"), tool("b", "B")]));
        let after = [tool("b", "B"), tool("c", "C")];
        assert!(!same_tools(&before, &after));
        assert_eq!(
            difference(&before, &after),
            (vec!["c".to_string()], vec!["a".to_string()])
        );
    }
}
