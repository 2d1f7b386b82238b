//! Watches the plugin directory and hot-swaps plugins: a folder whose files
//! changed is reloaded once it has been quiet for the debounce interval, so a
//! file still being written is not loaded half-way (and if it were, the load
//! fails and the working version keeps serving until the next change).
//! Each folder loads in a task of its own, so a slow or failing plugin
//! holds up no other folder, and nothing a load does can stop the watcher.

use crate::plugins::folder::{self, Changed};
use crate::runtime::Runtime;
use futures_util::FutureExt;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Keeps the watch alive; dropping it stops watching.
pub struct PluginWatcher {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
    checks: Arc<AtomicU64>,
}

impl PluginWatcher {
    /// How many times a folder was checked (and reloaded if it changed):
    /// counted when the check has ended.
    pub fn checks(&self) -> u64 {
        self.checks.load(Ordering::Relaxed)
    }
}

impl Drop for PluginWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether an event can mean new content. Opening and reading a file cannot,
/// and the loader itself opens and reads every file it checks: reacting to
/// those would check the folder again after each check, forever.
fn may_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) => false,
        _ => true,
    }
}

pub fn watch(runtime: Arc<Runtime>) -> notify::Result<PluginWatcher> {
    let root: PathBuf = runtime
        .plugins_dir
        .canonicalize()
        .unwrap_or_else(|_| runtime.plugins_dir.clone());
    let (tx, mut rx) = mpsc::unbounded_channel::<Changed>();
    let watch_root = root.clone();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if !may_change(&event.kind) => {}
            Ok(event) => {
                for path in &event.paths {
                    if let Some(changed) = folder::changed(&watch_root, path) {
                        let _ = tx.send(changed);
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "plugin directory watch error"),
        })?;
    watcher.watch(&root, RecursiveMode::Recursive)?;
    let debounce = Duration::from_millis(runtime.config.reload_debounce_ms);
    let checks = Arc::new(AtomicU64::new(0));
    let counter = checks.clone();
    let task = tokio::spawn(async move {
        // Folders changed, by when they last changed.
        let mut pending: HashMap<String, Instant> = HashMap::new();
        // Folders being loaded: a change meanwhile waits for the load to end.
        let mut running: HashSet<String> = HashSet::new();
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<String>();
        let mut tick = tokio::time::interval(Duration::from_millis(25));
        loop {
            tokio::select! {
                changed = rx.recv() => match changed {
                    Some(Changed::Folder(f)) => { pending.insert(f, Instant::now()); }
                    // A tenant's whole folder came or went: each folder
                    // under it now, and each loaded from it before.
                    Some(Changed::Under(prefix)) => {
                        let now = Instant::now();
                        let on_disk = folder::list(&runtime.plugins_dir);
                        let catalog = runtime.registry.catalog();
                        for f in on_disk.iter().chain(catalog.slots.keys()) {
                            if f.starts_with(&prefix) {
                                pending.insert(f.clone(), now);
                            }
                        }
                    }
                    None => break,
                },
                Some(folder) = done_rx.recv() => {
                    running.remove(&folder);
                    counter.fetch_add(1, Ordering::Relaxed);
                }
                _ = tick.tick() => {
                    let ready: Vec<String> = pending
                        .iter()
                        .filter(|(f, at)| at.elapsed() >= debounce && !running.contains(*f))
                        .map(|(f, _)| f.clone())
                        .collect();
                    for folder in ready {
                        pending.remove(&folder);
                        running.insert(folder.clone());
                        let (runtime, done) = (runtime.clone(), done_tx.clone());
                        tokio::spawn(async move {
                            // The loader turns a panic into a failed load;
                            // this is the last line, so that the folder is
                            // never left marked as running.
                            let load = AssertUnwindSafe(super::reload_folder(&runtime, &folder));
                            if load.catch_unwind().await.is_err() {
                                tracing::error!(folder, "loading the plugin folder panicked");
                            }
                            let _ = done.send(folder);
                        });
                    }
                }
            }
        }
    });
    Ok(PluginWatcher {
        _watcher: watcher,
        task,
        checks,
    })
}

#[cfg(test)]
mod tests {
    use super::may_change;
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind};

    #[test]
    fn reads_are_not_changes() {
        assert!(!may_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!may_change(&EventKind::Access(AccessKind::Read)));
        assert!(!may_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(may_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(may_change(&EventKind::Modify(ModifyKind::Any)));
        assert!(may_change(&EventKind::Create(CreateKind::File)));
        assert!(may_change(&EventKind::Remove(RemoveKind::Folder)));
        assert!(may_change(&EventKind::Any));
    }
}
