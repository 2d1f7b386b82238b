//! Test plugin `spin-forever`: `spin` loops forever (the host's timeout must
//! end it), `panic` panics (a trap: the call fails, naming the plugin), `ok`
//! answers `{"ok":true}` (the plugin must still work after either).
//! With the setting `spin_in_describe = true`, `describe` itself loops
//! forever: the node must load it with a deadline and not wait on it.

use hanzo_node_sdk::tool::{self, ToolError, ToolSpec, Toolbox};

struct SpinForever;

const EMPTY_OBJECT: &str = r#"{"type":"object"}"#;

impl Toolbox for SpinForever {
    fn describe() -> Vec<ToolSpec> {
        if hanzo_node_sdk::config::get("spin_in_describe").as_deref() == Some("true") {
            spin();
        }
        vec![
            ToolSpec {
                name: "spin".into(),
                description: "Never returns".into(),
                parameters: EMPTY_OBJECT.into(),
                result: None,
            },
            ToolSpec {
                name: "panic".into(),
                description: "Panics, which traps the instance".into(),
                parameters: EMPTY_OBJECT.into(),
                result: None,
            },
            ToolSpec {
                name: "ok".into(),
                description: "Returns {\"ok\":true}".into(),
                parameters: EMPTY_OBJECT.into(),
                result: Some(EMPTY_OBJECT.into()),
            },
        ]
    }

    fn invoke(name: &str, _arguments: &str) -> Result<String, ToolError> {
        match name {
            "spin" => spin(),
            "panic" => panic!("this tool always panics"),
            "ok" => Ok(r#"{"ok":true}"#.to_string()),
            other => Err(tool::not_found(other)),
        }
    }
}

/// Loops forever. `black_box` hides the counter from the optimizer, so the
/// loop can neither be removed nor turned into an `unreachable` trap (an
/// empty side-effect-free loop is undefined behaviour in LLVM's model).
fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = std::hint::black_box(counter.wrapping_add(1));
    }
}

hanzo_node_sdk::export_tool!(SpinForever);
