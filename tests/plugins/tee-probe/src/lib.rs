//! Test plugin `tee-probe`:
//! - `status {}` → `{"platform","tier","reason","measurement"}` (`hanzo:node/tee`)
//! - `attest {"nonce"}` → `{"platform","evidence_len","report_data"}`
//! - `gpus {}` → `{"devices":[{"index","name","memory_total_mb",...}]}` (`hanzo:node/gpu`)
//! - `secret {"name"}` → `{"value"}` (`hanzo:node/config`)
//!
//! Host errors come back as failed calls naming the error case.

use hanzo_node_sdk::tool::{self, ToolError, ToolSpec, Toolbox};
use hanzo_node_sdk::{config, gpu, tee};
use serde::Deserialize;
use serde_json::json;

struct TeeProbe;

#[derive(Deserialize, Default)]
struct Args {
    #[serde(default)]
    nonce: String,
    #[serde(default)]
    name: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Toolbox for TeeProbe {
    fn describe() -> Vec<ToolSpec> {
        ["status", "attest", "gpus", "secret"]
            .into_iter()
            .map(|name| {
                tool::spec(
                    name,
                    "A TEE, GPU or secret probe",
                    json!({"type": "object"}),
                    None,
                )
            })
            .collect()
    }

    fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
        let a: Args = tool::parse_args(arguments)?;
        let result = match name {
            "status" => {
                let s =
                    tee::status().map_err(|e| tool::failed(format!("{e:?}: {}", e.message())))?;
                json!({
                    "platform": format!("{:?}", s.platform),
                    "tier": s.tier,
                    "reason": s.reason,
                    "measurement": s.measurement,
                })
            }
            "attest" => {
                let e = tee::attest(a.nonce.as_bytes())
                    .map_err(|e| tool::failed(format!("{e:?}: {}", e.message())))?;
                json!({
                    "platform": format!("{:?}", e.platform),
                    "evidence_len": e.evidence.len(),
                    "report_data": hex(&e.report_data),
                })
            }
            "gpus" => {
                let devices =
                    gpu::devices().map_err(|e| tool::failed(format!("{e:?}: {}", e.message())))?;
                json!({"devices": devices.iter().map(|d| json!({
                    "index": d.index, "name": d.name, "uuid": d.uuid,
                    "memory_total_mb": d.memory_total_mb, "memory_free_mb": d.memory_free_mb,
                    "confidential_computing": d.confidential_computing,
                })).collect::<Vec<_>>()})
            }
            "secret" => match config::secret(&a.name) {
                Ok(value) => json!({"value": value}),
                Err(e) => return Err(tool::failed(format!("{e:?}"))),
            },
            other => return Err(tool::not_found(other)),
        };
        tool::to_result(&result)
    }
}

hanzo_node_sdk::export_tool!(TeeProbe);
