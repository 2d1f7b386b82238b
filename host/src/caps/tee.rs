//! `hanzo:node/tee`: the node's platform and privacy tier, and fresh
//! evidence binding a plugin's nonce to the node's key (`crate::tee`). A
//! plugin needs `permissions.tee`.

use crate::bindings::tee::{Attestation, Host, Platform, TeeError, TeeStatus};
use crate::call_state::CallState;
use crate::grants::Capability;

fn platform(p: Option<crate::tee::Platform>) -> Platform {
    match p {
        None => Platform::None,
        Some(crate::tee::Platform::SevSnp) => Platform::SevSnp,
        Some(crate::tee::Platform::Tdx) => Platform::Tdx,
    }
}

impl Host for CallState {
    async fn status(&mut self) -> wasmtime::Result<Result<TeeStatus, TeeError>> {
        let node = match self.granted(Capability::Tee)? {
            Ok(node) => node,
            Err(denied) => return Ok(Err(TeeError::Denied(denied.to_string()))),
        };
        let s = node.tee().status();
        Ok(Ok(TeeStatus {
            platform: platform(s.platform),
            tier: s.tier,
            reason: s.reason.clone(),
            measurement: s.measurement.clone(),
        }))
    }

    async fn attest(&mut self, nonce: Vec<u8>) -> wasmtime::Result<Result<Attestation, TeeError>> {
        let node = match self.granted(Capability::Tee)? {
            Ok(node) => node,
            Err(denied) => return Ok(Err(TeeError::Denied(denied.to_string()))),
        };
        // The guest device blocks: off the async threads.
        let answer = tokio::task::spawn_blocking(move || node.tee().attest(&nonce)).await;
        Ok(match answer {
            Ok(Ok(e)) => Ok(Attestation {
                platform: platform(Some(e.platform)),
                evidence: e.evidence,
                report_data: e.report_data.to_vec(),
                certificates: e.certificates,
            }),
            Ok(Err(crate::tee::TeeError::Absent(m))) => Err(TeeError::Absent(m)),
            Ok(Err(crate::tee::TeeError::Invalid(m))) => Err(TeeError::Invalid(m)),
            Ok(Err(crate::tee::TeeError::Failed(m))) => Err(TeeError::Failed(m)),
            Err(e) => Err(TeeError::Failed(format!("attestation task: {e}"))),
        })
    }
}
