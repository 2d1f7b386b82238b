//! Test plugin `echo-version`.
//!
//! - `noop`: `{}` → `{}`, doing nothing at all; the benchmark's trivial call.
//! - `answer`: `{"answer": config("answer")}` (`"unset"` when unset), which
//!   tells the tests which manifest version or override is live.
//! - `slow_answer`: `{"ms": n}` sleeps n ms, then answers like `answer`: a call
//!   that is still in flight while the plugin is swapped.
//! - `calls`: `{"calls": n}`, how many calls this instance has served (this
//!   one included): 1 on a fresh instance, more when instances are reused.
//! - `trap`: aborts the instance.
//! - `grow`: `{"mb": n}` allocates and touches n MiB, frees it, answers `{}`:
//!   an instance left with a large linear memory.
//! - `leak`: makes a host resource (a clock pollable) and never drops it:
//!   an instance that still holds host resources after its call.
//! - `log_flood`: `{"lines": n, "text": s}` logs `s` (numbered) n times as
//!   fast as it can: a plugin that floods the node's log.

use hanzo_node_sdk::tool::{self, ToolError, ToolSpec, Toolbox};
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};

/// Calls this instance served: plugin state that lives as long as the instance.
static CALLS: AtomicU32 = AtomicU32::new(0);

struct EchoVersion;

const EMPTY_OBJECT: &str = r#"{"type":"object","additionalProperties":false}"#;

impl Toolbox for EchoVersion {
    fn describe() -> Vec<ToolSpec> {
        vec![
            ToolSpec {
                name: "noop".into(),
                description: "Does nothing and returns {}".into(),
                parameters: EMPTY_OBJECT.into(),
                result: Some(EMPTY_OBJECT.into()),
            },
            ToolSpec {
                name: "answer".into(),
                description: "Returns the `answer` config setting".into(),
                parameters: EMPTY_OBJECT.into(),
                result: Some(
                    r#"{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"]}"#
                        .into(),
                ),
            },
            ToolSpec {
                name: "calls".into(),
                description: "How many calls this instance has served".into(),
                parameters: EMPTY_OBJECT.into(),
                result: None,
            },
            ToolSpec {
                name: "trap".into(),
                description: "Aborts the instance".into(),
                parameters: EMPTY_OBJECT.into(),
                result: None,
            },
            ToolSpec {
                name: "grow".into(),
                description: "Allocates and touches `mb` MiB, then frees it".into(),
                parameters: r#"{"type":"object","properties":{"mb":{"type":"integer","minimum":0,"maximum":64}},"required":["mb"]}"#.into(),
                result: None,
            },
            ToolSpec {
                name: "leak".into(),
                description: "Leaves a host resource undropped".into(),
                parameters: EMPTY_OBJECT.into(),
                result: None,
            },
            ToolSpec {
                name: "log_flood".into(),
                description: "Logs `text` `lines` times, as fast as it can".into(),
                parameters: r#"{"type":"object","properties":{"lines":{"type":"integer","minimum":0,"maximum":1000000},"text":{"type":"string"}},"required":["lines","text"]}"#.into(),
                result: None,
            },
            ToolSpec {
                name: "slow_answer".into(),
                description: "Sleeps `ms` milliseconds, then returns the `answer` config setting".into(),
                parameters: r#"{"type":"object","properties":{"ms":{"type":"integer","minimum":0,"maximum":60000}},"required":["ms"]}"#.into(),
                result: None,
            },
        ]
    }

    fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        match name {
            "calls" => tool::to_result(&json!({ "calls": calls })),
            "trap" => std::process::abort(),
            "grow" => {
                #[derive(serde::Deserialize)]
                struct Args {
                    mb: usize,
                }
                let args: Args = tool::parse_args(arguments)?;
                let mut block = vec![0u8; args.mb << 20];
                for page in block.chunks_mut(4096) {
                    page[0] = 1;
                }
                drop(std::hint::black_box(block));
                Ok("{}".to_string())
            }
            "leak" => {
                let pollable =
                    hanzo_node_sdk::wasip2::clocks::monotonic_clock::subscribe_duration(0);
                std::mem::forget(pollable);
                Ok("{}".to_string())
            }
            "log_flood" => {
                #[derive(serde::Deserialize)]
                struct Args {
                    lines: u32,
                    text: String,
                }
                let args: Args = tool::parse_args(arguments)?;
                for i in 0..args.lines {
                    hanzo_node_sdk::log::info(&format!("{} {i}", args.text));
                }
                tool::to_result(&json!({ "logged": args.lines }))
            }
            // No parsing, no allocation beyond the result: this is the
            // floor of a plugin call.
            "noop" => Ok("{}".to_string()),
            "answer" => answer(),
            "slow_answer" => {
                #[derive(serde::Deserialize)]
                struct Args {
                    ms: u64,
                }
                let args: Args = tool::parse_args(arguments)?;
                // std's sleep is a wasi:clocks pollable: the host waits
                // asynchronously, without holding a thread.
                std::thread::sleep(std::time::Duration::from_millis(args.ms));
                answer()
            }
            other => Err(tool::not_found(other)),
        }
    }
}

/// The `answer` setting of the plugin version serving this call.
fn answer() -> Result<String, ToolError> {
    let answer = hanzo_node_sdk::config::get("answer").unwrap_or_else(|| "unset".into());
    tool::to_result(&json!({ "answer": answer }))
}

hanzo_node_sdk::export_tool!(EchoVersion);
