//! Intel TDX: quotes from the kernel's configfs-tsm (`super::tsm`), and
//! their verification with `dcap-qvl`: the PCK certificate chain up to
//! Intel's SGX root CA, the quoting enclave's report signed by the PCK key,
//! the quote signed by the attestation key that report vouches for, and the
//! platform's TCB level judged against Intel's collateral (TCB info, QE
//! identity, CRLs: fetched from Intel's PCS or a PCCS, and given to the
//! node, which reaches neither by itself).

use dcap_qvl::QuoteCollateralV3;

pub const DEVICE: &str = "/dev/tdx_guest";

/// What a verified quote says.
#[derive(Debug, Clone)]
pub struct TdxClaims {
    /// Intel's verdict on the platform's TCB: `UpToDate`, `SWHardeningNeeded`,
    /// `OutOfDate`, ...
    pub tcb_status: String,
    pub advisory_ids: Vec<String>,
    /// The TD's build-time measurement.
    pub mr_td: [u8; 48],
    /// The run-time measurement registers 0 to 3.
    pub rtmr: [[u8; 48]; 4],
    pub report_data: [u8; 64],
    /// The TD runs with `ATTRIBUTES.DEBUG` (its memory is readable by the host).
    pub debug: bool,
}

/// Collateral in `dcap-qvl`'s JSON form (what `dcap-qvl` and Phala's PCCS
/// tools write).
pub fn collateral(json: &[u8]) -> Result<QuoteCollateralV3, String> {
    serde_json::from_slice(json).map_err(|e| format!("the collateral is not valid: {e}"))
}

/// Verifies `quote` against `collateral` as of `now` (Unix seconds).
pub fn verify(quote: &[u8], collateral: &QuoteCollateralV3, now: u64) -> Result<TdxClaims, String> {
    let verified = dcap_qvl::verify::verify(quote, collateral, now)
        .map_err(|e| format!("the quote does not verify: {e:#}"))?;
    let Some(td) = verified.report.as_td10() else {
        return Err("the quote is an SGX enclave's, not a TD's".to_string());
    };
    Ok(TdxClaims {
        tcb_status: verified.status.clone(),
        advisory_ids: verified.advisory_ids.clone(),
        mr_td: td.mr_td,
        rtmr: [td.rt_mr0, td.rt_mr1, td.rt_mr2, td.rt_mr3],
        report_data: td.report_data,
        debug: td.td_attributes[0] & 1 == 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TDX quote captured from hardware and its collateral from Intel's
    /// PCS, from `dcap-qvl`'s samples (`tests/data/tee/README.md`).
    const QUOTE: &[u8] = include_bytes!("../../../tests/data/tee/tdx_quote.bin");
    const COLLATERAL: &[u8] = include_bytes!("../../../tests/data/tee/tdx_quote_collateral.json");
    /// Within the collateral's validity (its TCB info was issued on
    /// 2025-06-19 and is good for a month).
    const WHEN: u64 = 1_750_377_600; // 2025-06-20T00:00:00Z

    #[test]
    fn a_real_quote_verifies() {
        let claims = verify(QUOTE, &collateral(COLLATERAL).unwrap(), WHEN).unwrap();
        assert_eq!(claims.tcb_status, "UpToDate");
        assert!(!claims.debug);
        assert!(claims.mr_td.iter().any(|&b| b != 0));
    }

    #[test]
    fn a_tampered_quote_fails() {
        let c = collateral(COLLATERAL).unwrap();
        // The header, MRTD, report data, and the signature.
        for at in [8, 48 + 136, 48 + 520, 48 + 584 + 4 + 10] {
            let mut q = QUOTE.to_vec();
            q[at] ^= 0x01;
            assert!(verify(&q, &c, WHEN).is_err(), "byte {at}");
        }
    }

    #[test]
    fn expired_collateral_fails() {
        let c = collateral(COLLATERAL).unwrap();
        let a_year_later = WHEN + 365 * 86_400;
        assert!(verify(QUOTE, &c, a_year_later).is_err());
    }

    #[test]
    fn tampered_collateral_fails() {
        let mut c = collateral(COLLATERAL).unwrap();
        c.tcb_info = c.tcb_info.replacen("UpToDate", "OutOfDate", 1);
        assert!(verify(QUOTE, &c, WHEN).is_err());
    }
}
