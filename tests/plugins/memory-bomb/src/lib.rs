//! Test plugin `memory-bomb`: `allocate` takes memory 1 MiB at a time and
//! never gives it back (the host's memory limit must stop it), `ok` answers
//! `{"ok":true}`, `hold` and `hold_small` (the same code under two names,
//! for per-tool limits) take `{"mb": n}` MiB, give them back and answer
//! `{"memory_mb": m}`: the instance's linear memory afterwards.

use hanzo_node_sdk::tool::{self, ToolError, ToolSpec, Toolbox};

struct MemoryBomb;

const EMPTY_OBJECT: &str = r#"{"type":"object"}"#;
const HOLD: &str = r#"{"type":"object","properties":{"mb":{"type":"integer","minimum":0,"maximum":1024}},"required":["mb"]}"#;
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
                name: "hold".into(),
                description: "Takes `mb` MiB, gives them back, and says how large memory is".into(),
                parameters: HOLD.into(),
                result: None,
            },
            ToolSpec {
                name: "hold_small".into(),
                description: "The same as hold".into(),
                parameters: HOLD.into(),
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

    fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
        match name {
            "allocate" => allocate(),
            "ok" => Ok(r#"{"ok":true}"#.to_string()),
            "hold" | "hold_small" => hold(arguments),
            other => Err(tool::not_found(other)),
        }
    }
}

/// Takes and touches `mb` MiB, then frees them; the memory's size after.
fn hold(arguments: &str) -> Result<String, ToolError> {
    let args: serde_json::Value =
        serde_json::from_str(arguments).map_err(|e| ToolError::InvalidArguments(e.to_string()))?;
    let mb = args["mb"]
        .as_u64()
        .ok_or_else(|| ToolError::InvalidArguments("`mb` is a number".into()))?
        as usize;
    let mut held = vec![0u8; mb * CHUNK];
    for offset in (0..held.len()).step_by(PAGE) {
        held[offset] = 1;
    }
    drop(std::hint::black_box(held));
    let pages = core::arch::wasm32::memory_size(0);
    Ok(format!("{{\"memory_mb\":{}}}", pages * 65536 / CHUNK))
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
