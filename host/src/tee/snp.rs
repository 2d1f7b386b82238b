//! AMD SEV-SNP: reports from the guest device (`/dev/sev-guest`, through
//! the `sev` crate), and their verification: the VCEK certificate must chain
//! to AMD's ARK through the ASK of a known product (Milan, Genoa, Turin; the
//! `sev` crate ships AMD's published ARK and ASK), and the VCEK must sign
//! the report.

use sev::certs::snp::{Certificate, Chain, Verifiable, builtin, ca};
use sev::firmware::guest::{AttestationReport, Firmware};
use sev::parser::ByteParser;

pub const DEVICE: &str = "/dev/sev-guest";

/// An SNP report's size (version 2 and later).
pub const REPORT_LEN: usize = 1184;

/// What a verified report says.
#[derive(Debug, Clone)]
pub struct SnpClaims {
    /// The AMD product whose ASK signed the VCEK.
    pub product: &'static str,
    pub version: u32,
    /// The launch measurement (SHA-384 of the initial guest image).
    pub measurement: [u8; 48],
    pub report_data: [u8; 64],
    pub host_data: [u8; 32],
    /// The guest policy allows a debugger (its memory can be read by the host).
    pub debug: bool,
    pub vmpl: u32,
    pub chip_id: Vec<u8>,
    pub reported_tcb: u64,
}

/// Evidence from the guest device: the report and the certificates the
/// host provisioned (VCEK, ASK, ARK; possibly none).
pub fn report(data: [u8; 64]) -> Result<(Vec<u8>, Vec<Vec<u8>>), String> {
    let mut fw = Firmware::open().map_err(|e| format!("{DEVICE}: {e}"))?;
    let (report, certs) = fw
        .get_ext_report(None, Some(data), Some(0))
        .map_err(|e| format!("SNP_GET_EXT_REPORT: {e}"))?;
    let certs = certs
        .unwrap_or_default()
        .into_iter()
        .map(|entry| entry.data().to_vec())
        .collect();
    Ok((report, certs))
}

/// The certificate in DER or PEM.
fn certificate(bytes: &[u8]) -> Result<Certificate, String> {
    let pem = bytes.starts_with(b"-----BEGIN");
    let cert = if pem {
        Certificate::from_pem(bytes)
    } else {
        Certificate::from_der(bytes)
    };
    cert.map_err(|e| format!("the VCEK is not an X.509 certificate: {e}"))
}

/// Verifies `report` (the raw 1184 bytes) against `vcek` (DER or PEM).
pub fn verify(report: &[u8], vcek: &[u8]) -> Result<SnpClaims, String> {
    if report.len() != REPORT_LEN {
        return Err(format!(
            "an SNP report is {REPORT_LEN} bytes, this one {}",
            report.len()
        ));
    }
    let parsed = AttestationReport::from_bytes(report)
        .map_err(|e| format!("not an SNP attestation report: {e}"))?;
    let vek = certificate(vcek)?;
    let products: [(&'static str, fn() -> _, fn() -> _); 3] = [
        ("milan", builtin::milan::ark, builtin::milan::ask),
        ("genoa", builtin::genoa::ark, builtin::genoa::ask),
        ("turin", builtin::turin::ark, builtin::turin::ask),
    ];
    let mut chained = None;
    for (product, ark, ask) in products {
        let (Ok(ark), Ok(ask)) = (ark(), ask()) else {
            continue;
        };
        let chain = Chain {
            ca: ca::Chain { ark, ask },
            vek: vek.clone(),
        };
        if (&chain).verify().is_ok() {
            chained = Some((product, chain));
            break;
        }
    }
    let Some((product, chain)) = chained else {
        return Err(
            "the VCEK is not signed by AMD (no Milan, Genoa or Turin ASK signs it)".to_string(),
        );
    };
    (&chain, &parsed)
        .verify()
        .map_err(|e| format!("the report's signature does not verify: {e}"))?;
    Ok(SnpClaims {
        product,
        version: parsed.version,
        measurement: parsed.measurement,
        report_data: parsed.report_data,
        host_data: parsed.host_data,
        debug: parsed.policy.debug_allowed(),
        vmpl: parsed.vmpl,
        chip_id: parsed.chip_id.to_vec(),
        reported_tcb: u64::from_le_bytes(report[0x180..0x188].try_into().unwrap_or([0; 8])),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Milan report and its VCEK captured from hardware, from the `sev`
    /// crate's tests (`tests/data/tee/README.md`).
    const REPORT_HEX: &str = include_str!("../../../tests/data/tee/snp_milan_report.hex");
    const VCEK: &[u8] = include_bytes!("../../../tests/data/tee/snp_milan_vcek.der");

    fn report() -> Vec<u8> {
        hex::decode(REPORT_HEX.trim()).unwrap()
    }

    #[test]
    fn a_real_milan_report_verifies() {
        let claims = verify(&report(), VCEK).unwrap();
        assert_eq!(claims.product, "milan");
        assert_eq!(&claims.measurement[..], &report()[0x90..0xC0]);
        assert_eq!(&claims.report_data[..], &report()[0x50..0x90]);
    }

    #[test]
    fn a_tampered_report_fails() {
        // One bit of the report data, of the measurement, of the signature.
        for at in [0x50, 0x90, 0x2A0 + 5] {
            let mut r = report();
            r[at] ^= 0x01;
            let e = verify(&r, VCEK).unwrap_err();
            assert!(e.contains("signature does not verify"), "{at:#x}: {e}");
        }
    }

    #[test]
    fn a_tampered_vcek_fails() {
        let mut vcek = VCEK.to_vec();
        // Inside the signed body (the public key), then in AMD's signature.
        for at in [vcek.len() / 3, vcek.len() - 10] {
            let saved = vcek[at];
            vcek[at] ^= 0x01;
            assert!(verify(&report(), &vcek).is_err(), "byte {at}");
            vcek[at] = saved;
        }
    }

    #[test]
    fn garbage_is_refused_with_a_reason() {
        assert!(verify(&[0; 10], VCEK).unwrap_err().contains("1184 bytes"));
        assert!(
            verify(&report(), b"not a cert")
                .unwrap_err()
                .contains("X.509")
        );
    }
}
