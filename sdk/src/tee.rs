//! The node's trusted execution environment (`hanzo:node/tee`, since
//! hanzo:node 0.3.3): the platform it runs in, its verified privacy tier,
//! and fresh attestation evidence binding a caller's nonce to the node's
//! Ed25519 key.
//!
//! ```no_run
//! use hanzo_node_sdk::tee;
//!
//! let status = tee::status().unwrap();
//! if status.tier >= 3 {
//!     let evidence = tee::attest(b"a nonce from the peer").unwrap();
//! }
//! ```
//!
//! Access needs `permissions.tee = true` in the manifest, granted by the
//! operator. On a node without a TEE, [`attest`] fails with
//! [`TeeError::Absent`], saying what was looked for.

pub use crate::wit::hanzo::node::tee::{Attestation, Platform, TeeError, TeeStatus};

impl TeeError {
    /// The error in words.
    pub fn message(&self) -> String {
        match self {
            TeeError::Denied(m)
            | TeeError::Absent(m)
            | TeeError::Invalid(m)
            | TeeError::Failed(m) => m.clone(),
        }
    }
}

/// The platform and the node's verified privacy tier (0 to 4).
pub fn status() -> Result<TeeStatus, TeeError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::tee::status();
    #[cfg(not(target_arch = "wasm32"))]
    Err(TeeError::Failed(crate::NO_HOST.to_string()))
}

/// Fresh evidence whose report data is blake3(`nonce`) followed by the
/// node's public key (`nonce`: 1 to 1024 bytes).
pub fn attest(nonce: &[u8]) -> Result<Attestation, TeeError> {
    #[cfg(target_arch = "wasm32")]
    return crate::wit::hanzo::node::tee::attest(nonce);
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = nonce;
        Err(TeeError::Failed(crate::NO_HOST.to_string()))
    }
}
