//! Watches the plugin directory and hot-swaps plugins: a folder whose files
//! changed is reloaded once it has been quiet for the debounce interval, so a
//! file still being written is not loaded half-way (and if it were, the load
//! fails and the working version keeps serving until the next change).
//! Each folder loads in a task of its own, so a slow or failing plugin
//! holds up no other folder, and nothing a load does can stop the watcher.

use crate::runtime::Runtime;
use futures_util::FutureExt;
use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher};
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
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

/// The plugin folder a changed path belongs to.
fn folder_of(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let first = rel.components().next()?;
    let name = first.as_os_str().to_str()?;
    (!name.starts_with('.')).then(|| name.to_string())
}

pub fn watch(runtime: Arc<Runtime>) -> notify::Result<PluginWatcher> {
    let root: PathBuf = runtime
        .plugins_dir
        .canonicalize()
        .unwrap_or_else(|_| runtime.plugins_dir.clone());
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let watch_root = root.clone();
    let mut watcher =
        notify::recommended_watcher(move |event: notify::Result<notify::Event>| match event {
            Ok(event) if !may_change(&event.kind) => {}
            Ok(event) => {
                for path in &event.paths {
                    if let Some(folder) = folder_of(&watch_root, path) {
                        let _ = tx.send(folder);
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
                folder = rx.recv() => match folder {
                    Some(f) => { pending.insert(f, Instant::now()); }
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
    use super::{folder_of, may_change};
    use notify::EventKind;
    use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind};
    use std::path::Path;

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

    #[test]
    fn paths_map_to_their_plugin_folder() {
        let root = Path::new("/p");
        assert_eq!(
            folder_of(root, Path::new("/p/openai/plugin.toml")).as_deref(),
            Some("openai")
        );
        assert_eq!(
            folder_of(root, Path::new("/p/openai")).as_deref(),
            Some("openai")
        );
        assert_eq!(folder_of(root, Path::new("/p/.tmp/x")), None);
        assert_eq!(folder_of(root, Path::new("/p")), None);
        assert_eq!(folder_of(root, Path::new("/q/x")), None);
    }
}
