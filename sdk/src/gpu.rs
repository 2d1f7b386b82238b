//! The node's NVIDIA GPUs (`hanzo:node/gpu`, since hanzo:node 0.3.3), read
//! live through NVML: name, memory, utilisation, temperature and
//! confidential-computing mode. A node without a GPU answers an empty list.
//!
//! Access needs `permissions.gpu = true` in the manifest, granted by the
//! operator.

pub use crate::wit::hanzo::node::gpu::{Device, GpuError};

impl GpuError {
    /// The error in words.
    pub fn message(&self) -> String {
        match self {
            GpuError::Denied(m) => m.clone(),
        }
    }
}

/// The node's GPUs now; empty where there is none.
pub fn devices() -> Result<Vec<Device>, GpuError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::gpu::devices();
    #[cfg(not(target_arch = "wasm32"))]
    Ok(Vec::new())
}
