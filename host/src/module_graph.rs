//! The host's modules depend one way: no module imports one that imports it
//! back, directly or through others. A service depends on what it uses (the
//! router on `Providers`, jobs on `JobHost`, host functions on `Services`),
//! never on the runtime that owns it. Test-only: reads `host/src`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `crate::x` paths named in `source` (outside comments and tests).
fn imports(source: &str) -> BTreeSet<String> {
    let code: String = source
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .map(|l| l.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::c}`: the first name of each part.
            let group = &group[..group.find("};").unwrap_or(group.len())];
            for part in group.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect();
                found.insert(name);
            }
        } else {
            found.insert(
                rest.chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect(),
            );
        }
    }
    found
}

/// Top-level module → the top-level modules its files import.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let top = rel
                .components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy();
            let top = top.trim_end_matches(".rs").to_string();
            if ["lib", "main", "module_graph"].contains(&top.as_str()) {
                continue;
            }
            let source = std::fs::read_to_string(&path).unwrap();
            let mut names = imports(&source);
            // `crate::lock` and `crate::VERSION` are lib.rs items, not modules.
            for own in [top.as_str(), "lock", "VERSION", ""] {
                names.remove(own);
            }
            deps.entry(top).or_default().extend(names);
        }
    }
    deps
}

/// A path `from` → … → `to`, if there is one.
fn path(
    deps: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    to: &str,
    seen: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if !seen.insert(from.to_string()) {
        return None;
    }
    for next in deps.get(from).into_iter().flatten() {
        if next == to {
            return Some(vec![from.to_string(), to.to_string()]);
        }
        if let Some(mut rest) = path(deps, next, to, seen) {
            rest.insert(0, from.to_string());
            return Some(rest);
        }
    }
    None
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let deps = graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(deps.contains_key("runtime") && deps.contains_key("router"));
    for (module, uses) in &deps {
        for used in uses {
            if let Some(back) = path(&deps, used, module, &mut BTreeSet::new()) {
                panic!("{module} imports {used}, and {}", back.join(" → "));
            }
        }
    }
}

#[test]
fn imports_are_read_from_paths_and_groups() {
    let found =
        imports("use crate::router::Router;\nuse crate::{jobs::Jobs, store};\n// crate::runtime\n");
    assert_eq!(found, ["jobs", "router", "store"].map(String::from).into());
}
