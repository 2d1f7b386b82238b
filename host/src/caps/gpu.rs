//! `hanzo:node/gpu`: the node's GPUs, read live through NVML
//! (`crate::gpu`). A plugin needs `permissions.gpu`.

use crate::bindings::gpu::{Device, GpuError, Host};
use crate::call_state::CallState;
use crate::grants::Capability;

impl Host for CallState {
    async fn devices(&mut self) -> wasmtime::Result<Result<Vec<Device>, GpuError>> {
        let node = match self.granted(Capability::Gpu)? {
            Ok(node) => node,
            Err(denied) => return Ok(Err(GpuError::Denied(denied.to_string()))),
        };
        let devices = tokio::task::spawn_blocking(move || node.gpus().devices())
            .await
            .unwrap_or_default();
        Ok(Ok(devices
            .into_iter()
            .map(|d| Device {
                index: d.index,
                name: d.name,
                uuid: d.uuid,
                memory_total_mb: d.memory_total_mb,
                memory_free_mb: d.memory_free_mb,
                utilization_pct: d.utilization_pct,
                temperature_c: d.temperature_c,
                confidential_computing: d.confidential_computing,
            })
            .collect()))
    }
}
