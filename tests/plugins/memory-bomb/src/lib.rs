//! Test plugin `memory-bomb`: `allocate` takes memory 1 MiB at a time and
//! never gives it back (the host's memory limit must stop it), `ok` answers
//! `{"ok":true}`.

use hanzo_node_sdk::tool::{self, ToolError, ToolSpec, Toolbox};

struct MemoryBomb;

const EMPTY_OBJECT: &str = r#"{"type":"object"}"#;
const CHUNK: usize = 1024 * 1024;
const PAGE: usize = 4096;

impl Toolbox for MemoryBomb {
    fn describe() -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "allocate".into(),
                description: "Allocates memory until the sandbox stops it".into(),
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
            "allocate" => allocate(),
            "ok" => Ok(r#"{"ok":true}"#.to_string()),
            other => Err(tool::not_found(other)),
        }
    }
}

/// Allocates and touches 1 MiB chunks, keeping them all, until an
/// allocation fails (which aborts: a trap the host reports).
fn allocate() -> ! {
    let mut kept: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        // Write to every page so the memory is really used, not just reserved.
        for offset in (0..CHUNK).step_by(PAGE) {
            chunk[offset] = (kept.len() as u8).wrapping_add(1);
        }
        kept.push(std::hint::black_box(chunk));
    }
}

hanzo_node_sdk::export_tool!(MemoryBomb);
