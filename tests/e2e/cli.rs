//! `hanzo-node plugin inspect` and `plugin list` as an operator runs them.

use crate::common::{Dirs, built_plugin, install, install_built, wasm};
use hanzo_node_sdk::wit_name;
use std::process::Command;

fn hanzo(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hanzo-node"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn inspect_reports_world_exports_imports_and_manifest_problems() {
    let dirs = Dirs::new();
    let dir = install(&dirs.plugins, "tools-basic", "tools-basic", |_| {});
    let file = dir.join("tools_basic.wasm");
    let (ok, out) = hanzo(&["plugin", "inspect", "--json", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["kind"], "tool");
    assert_eq!(v["world"], wit_name("tool"));
    let toolbox = wit_name("toolbox");
    assert!(
        v["exports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == toolbox.as_str()),
        "{v}"
    );
    assert!(
        v["imports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e.as_str().unwrap().starts_with("hanzo:node/log")),
        "{v}"
    );
    assert_eq!(v["problems"], serde_json::json!([]));

    // A manifest that names the wrong kind, with a typo'd key.
    std::fs::write(
        dir.join("plugin.toml"),
        "name = \"tools-basic\"\nkind = \"provider\"\nversion = \"1\"\n[limits]\nmemory_mbs = 3\n",
    )
    .unwrap();
    let (ok, out) = hanzo(&["plugin", "inspect", file.to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains("kind:    tool"), "{out}");
    assert!(out.contains("memory_mbs"), "{out}");

    // Not a component at all.
    let junk = dirs.root.path().join("junk.wasm");
    std::fs::write(&junk, b"\0asm junk").unwrap();
    let (ok, out) = hanzo(&["plugin", "inspect", junk.to_str().unwrap()]);
    assert!(!ok);
    assert!(out.contains("not a valid component"), "{out}");
    let _ = wasm("tools-basic");
}

#[test]
fn inspect_reads_python_and_javascript_components() {
    let dirs = Dirs::new();
    for (lang, name, world) in [("python", "python-tool", "tool"), ("js", "js-api", "api")] {
        let dir = install_built(&dirs.plugins, name, &built_plugin(lang, name), |_| {});
        let file = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "wasm"))
            .unwrap();
        let (ok, out) = hanzo(&["plugin", "inspect", "--json", file.to_str().unwrap()]);
        assert!(ok, "{lang}: {out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["world"], wit_name(world), "{lang}: {v}");
        assert_eq!(v["problems"], serde_json::json!([]), "{lang}: {v}");
        // A manifest naming another kind: the world it does implement is named.
        let manifest = dir.join("plugin.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let wrong = if world == "tool" { "provider" } else { "tool" };
        std::fs::write(
            &manifest,
            text.replace(
                &format!("kind = \"{world}\""),
                &format!("kind = \"{wrong}\""),
            ),
        )
        .unwrap();
        let (ok, out) = hanzo(&["plugin", "inspect", file.to_str().unwrap()]);
        assert!(!ok, "{lang}: {out}");
        assert!(
            out.contains(&format!("implements the `{}` world", wit_name(world))),
            "{lang}: {out}"
        );
    }
}

#[test]
fn list_shows_loaded_and_failed_plugins() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "tools-basic", "tools-basic", |_| {});
    // A tool component declared as an api plugin fails to load, visibly.
    install(&dirs.plugins, "mislabelled", "echo-version", |m| {
        m.insert("name".into(), toml::Value::String("mislabelled".into()));
        m.insert("kind".into(), toml::Value::String("api".into()));
        m.insert(
            "routes".into(),
            toml::Value::Array(vec![toml::Value::String("/x".into())]),
        );
    });
    let (ok, out) = hanzo(&[
        "plugin",
        "list",
        "--plugins",
        dirs.plugins.to_str().unwrap(),
        "--data-dir",
        dirs.data.to_str().unwrap(),
    ]);
    assert!(ok, "{out}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("tools-basic").contains("loaded") && line("tools-basic").contains("calculator"),
        "{out}"
    );
    assert!(
        line("mislabelled").contains("failed") && line("mislabelled").contains("api"),
        "{out}"
    );
}

/// The README's plugin example, dropped into a plugin directory as the README says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_example_plugin_works() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "greeter", "greeter", |_| {});
    let rt = crate::common::runtime(dirs.config()).await;
    let out = rt
        .invoke_tool("default", "greet", r#"{"name":"Ada"}"#)
        .await
        .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&out).unwrap()["greeting"],
        "Hello, Ada!"
    );
    let bad = rt.invoke_tool("default", "greet", r#"{"nom":"Ada"}"#).await;
    assert!(
        matches!(
            bad,
            Err(hanzo_node::bindings::tool_types::ToolError::InvalidArguments(_))
        ),
        "{bad:?}"
    );
}
