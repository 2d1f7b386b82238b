//! Where a plugin's folder sits in the plugin directory, and whose plugin it
//! holds. `<dir>/<folder>` holds a plugin of the node, which every tenant may
//! use as far as the operator's lists allow; `<dir>/tenants/<tenant>/<folder>`
//! holds one of that tenant's own plugins, which no other tenant sees. A
//! folder is named by its path relative to the plugin directory (its key):
//! `openai`, `tenants/acme/crm`.

use crate::tenant::{Tenant, valid_tenant_name};
use std::path::Path;

/// The folder of the plugin directory that holds the tenants' own plugins
/// (so no plugin of the node can live in a folder of this name).
pub const TENANTS_DIR: &str = "tenants";

/// The tenant whose own plugin the folder `key` holds, if any.
pub fn owner(key: &str) -> Option<Tenant> {
    let rest = key.strip_prefix(TENANTS_DIR)?.strip_prefix('/')?;
    let (tenant, _) = rest.split_once('/')?;
    Some(Tenant::from(tenant))
}

/// The folder's own name, the last part of its key.
pub fn base(key: &str) -> &str {
    key.rsplit('/').next().unwrap_or(key)
}

/// The key of the folder `name` beside `key` (of the same owner).
pub fn sibling(key: &str, name: &str) -> String {
    match key.rsplit_once('/') {
        Some((parent, _)) => format!("{parent}/{name}"),
        None => name.to_string(),
    }
}

/// The plugin folders under `dir`, the node's and every tenant's, as keys.
/// Hidden folders (`.name`) are skipped; so are tenant folders whose name
/// cannot name a tenant, with a warning.
pub fn list(dir: &Path) -> Vec<String> {
    let mut keys = Vec::new();
    for name in subfolders(dir) {
        if name != TENANTS_DIR {
            keys.push(name);
            continue;
        }
        for tenant in subfolders(&dir.join(TENANTS_DIR)) {
            if !valid_tenant_name(&tenant) {
                tracing::warn!(
                    folder = %dir.join(TENANTS_DIR).join(&tenant).display(),
                    "not a tenant name (a-z, 0-9, `-`, `_`): its plugins are not loaded"
                );
                continue;
            }
            keys.extend(
                subfolders(&dir.join(TENANTS_DIR).join(&tenant))
                    .into_iter()
                    .map(|f| format!("{TENANTS_DIR}/{tenant}/{f}")),
            );
        }
    }
    keys
}

/// The visible subfolders of `dir` (none if it cannot be read).
fn subfolders(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect(),
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound || !dir.ends_with(TENANTS_DIR) {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read a plugin directory");
            }
            Vec::new()
        }
    }
}

/// What a changed path under the plugin directory touches.
#[derive(Debug, PartialEq, Eq)]
pub enum Changed {
    /// One plugin folder, by key.
    Folder(String),
    /// Every folder whose key starts with this prefix (`tenants/` or
    /// `tenants/acme/`): a whole tenant's folder came or went.
    Under(String),
}

/// The folder (or group of folders) a changed `path` under `root` belongs to.
pub fn changed(root: &Path, path: &Path) -> Option<Changed> {
    let rel = path.strip_prefix(root).ok()?;
    let parts: Vec<&str> = rel
        .components()
        .take(3)
        .map(|c| c.as_os_str().to_str())
        .collect::<Option<_>>()?;
    if parts.iter().any(|p| p.starts_with('.')) {
        return None;
    }
    match parts.as_slice() {
        [] => None,
        [first, ..] if *first != TENANTS_DIR => Some(Changed::Folder(first.to_string())),
        [_] => Some(Changed::Under(format!("{TENANTS_DIR}/"))),
        [_, tenant] => {
            valid_tenant_name(tenant).then(|| Changed::Under(format!("{TENANTS_DIR}/{tenant}/")))
        }
        [_, tenant, folder, ..] => valid_tenant_name(tenant)
            .then(|| Changed::Folder(format!("{TENANTS_DIR}/{tenant}/{folder}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_owner() {
        assert_eq!(owner("openai"), None);
        assert_eq!(owner("tenants/acme/crm").as_deref(), Some("acme"));
        assert_eq!(owner("tenants"), None);
        assert_eq!(owner("tenantsx/acme/crm"), None);
        assert_eq!(base("tenants/acme/crm"), "crm");
        assert_eq!(base("openai"), "openai");
        assert_eq!(sibling("tenants/acme/crm", "x"), "tenants/acme/x");
        assert_eq!(sibling("openai", "x"), "x");
    }

    #[test]
    fn changed_paths_map_to_folders() {
        let root = Path::new("/p");
        let f = |p: &str| changed(root, Path::new(p));
        assert_eq!(
            f("/p/openai/plugin.toml"),
            Some(Changed::Folder("openai".into()))
        );
        assert_eq!(f("/p/openai"), Some(Changed::Folder("openai".into())));
        assert_eq!(f("/p/.tmp/x"), None);
        assert_eq!(f("/p"), None);
        assert_eq!(f("/q/x"), None);
        assert_eq!(
            f("/p/tenants/acme/crm/crm.wasm"),
            Some(Changed::Folder("tenants/acme/crm".into()))
        );
        assert_eq!(
            f("/p/tenants/acme/crm"),
            Some(Changed::Folder("tenants/acme/crm".into()))
        );
        assert_eq!(
            f("/p/tenants/acme"),
            Some(Changed::Under("tenants/acme/".into()))
        );
        assert_eq!(f("/p/tenants"), Some(Changed::Under("tenants/".into())));
        assert_eq!(f("/p/tenants/Bad Name/crm"), None);
        assert_eq!(f("/p/tenants/acme/.partial/x"), None);
    }

    #[test]
    fn lists_the_node_and_tenant_folders() {
        let dir = tempfile::tempdir().unwrap();
        for d in [
            "openai",
            ".hidden",
            "tenants/acme/crm",
            "tenants/acme/.tmp",
            "tenants/beta/crm",
            "tenants/Not_Valid/x",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let mut keys = list(dir.path());
        keys.sort();
        assert_eq!(
            keys,
            ["openai", "tenants/acme/crm", "tenants/beta/crm"].map(String::from)
        );
    }
}
