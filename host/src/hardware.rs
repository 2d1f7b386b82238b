//! What the node runs on: its GPUs (NVML) and its trusted-execution
//! platform, probed once at start. The TEE's tier 4 needs every GPU in
//! confidential-computing mode, so the GPUs are read first. `serve` and
//! `hanzo-node hardware` probe the same way.

use crate::gpu::Gpus;
use crate::tee::{Tee, TeeConfig};
use serde_json::{Value, json};
use std::sync::Arc;

pub struct Hardware {
    pub gpus: Arc<Gpus>,
    pub tee: Arc<Tee>,
}

impl Hardware {
    /// Probes the GPUs, then the TEE, whose own report (where there is a
    /// TEE) is bound to `public_key` and checked against `tee`'s policy.
    pub fn probe(tee: TeeConfig, public_key: [u8; 32]) -> Hardware {
        let gpus = Gpus::open();
        let devices = gpus.devices();
        let tee = Tee::detect(
            tee,
            public_key,
            crate::gpu::confidential_computing(&devices),
        );
        tracing::info!(
            platform = tee.status().platform.map_or("none", |p| p.as_str()),
            tier = tee.tier(),
            reason = %tee.status().reason,
            gpus = devices.len(),
            "trusted execution"
        );
        Hardware {
            gpus: Arc::new(gpus),
            tee: Arc::new(tee),
        }
    }

    /// Probes as `serve` does, without the node's identity: the TEE's own
    /// report is bound to a throwaway key (a look at the machine, not the
    /// node's attestation). `hanzo-node hardware` and the device probe.
    pub fn probe_alone(tee: TeeConfig) -> Hardware {
        Self::probe(tee, crate::tee::rand_bytes())
    }

    /// As `/v2/health` shows it: `tee` and `gpu`.
    pub fn json(&self) -> Value {
        json!({ "tee": self.tee.json(), "gpu": self.gpus.json() })
    }
}
