//! Trusted execution: which confidential-computing platform the node runs
//! in, the privacy tier it can prove, attestation evidence bound to its
//! identity, and the verification of such evidence (the node's own at start,
//! anyone's on request).
//!
//! The flow is the seed's: generate a report → verify it with the
//! manufacturer's CA → extract the measurements → validate them against the
//! operator's policy → release secrets up to the tier that earns. Where
//! there is no platform the node says so: it never makes a report up.
//!
//! Privacy tiers:
//! - 0 open: no protection asked for;
//! - 1 encrypted: the key store seals its keys at rest (`keys`); every node;
//! - 2 confidential: the node runs in a TEE that produced a report;
//! - 3 verified: that report verifies against the manufacturer's chain and
//!   the operator's policy (`[tee] measurements`, no debug);
//! - 4 TEE-I/O: tier 3, and every GPU in confidential-computing mode.

pub mod http;
pub mod keys;
pub mod snp;
pub mod tdx;
pub mod tsm;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// The highest tier.
pub const MAX_TIER: u8 = 4;

/// A privacy tier's name.
pub fn tier_name(tier: u8) -> &'static str {
    match tier {
        0 => "open",
        1 => "encrypted",
        2 => "confidential",
        3 => "verified",
        _ => "tee-io",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    SevSnp,
    Tdx,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::SevSnp => "sev-snp",
            Platform::Tdx => "tdx",
        }
    }

    pub fn parse(s: &str) -> Option<Platform> {
        match s {
            "sev-snp" | "snp" | "sev_guest" => Some(Platform::SevSnp),
            "tdx" | "tdx_guest" => Some(Platform::Tdx),
            _ => None,
        }
    }
}

/// `[tee]` in node.toml: what the node needs to verify its own evidence
/// offline, and the operator's policy for it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TeeConfig {
    /// This chip's VCEK (DER or PEM, from AMD's KDS) where the host
    /// provisions none with the report.
    pub vcek: Option<PathBuf>,
    /// Collateral for this platform's TDX quotes (dcap-qvl's JSON, from
    /// Intel's PCS or a PCCS).
    pub tdx_collateral: Option<PathBuf>,
    /// Launch measurements (hex) the node's own must be one of for tier 3;
    /// empty: any that verifies.
    pub measurements: Vec<String>,
    /// Count a TEE whose guest may be debugged (the host can read its
    /// memory) as verified. Off.
    pub allow_debug: bool,
}

impl TeeConfig {
    pub fn problem(&self) -> Option<String> {
        self.measurements.iter().find_map(|m| {
            (hex::decode(m).map(|b| b.len()) != Ok(48))
                .then(|| format!("tee.measurements: `{m}` is not 48 bytes of hex"))
        })
    }
}

/// The node's platform and tier, decided once at start.
#[derive(Debug, Clone, Serialize)]
pub struct TeeStatus {
    pub platform: Option<Platform>,
    pub tier: u8,
    pub tier_name: &'static str,
    /// Why the tier is what it is.
    pub reason: String,
    /// The verified launch measurement (hex).
    pub measurement: Option<String>,
    /// Whether the GPUs run in confidential-computing mode (none: no GPU).
    pub gpu_cc: Option<bool>,
}

/// Fresh evidence from the platform.
#[derive(Debug, Clone)]
pub struct Evidence {
    pub platform: Platform,
    /// The SNP report or the TDX quote.
    pub evidence: Vec<u8>,
    pub report_data: [u8; 64],
    /// DER certificates the platform returned.
    pub certificates: Vec<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum TeeError {
    #[error("{0}")]
    Absent(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Failed(String),
}

/// The longest nonce a caller may bind.
pub const MAX_NONCE: usize = 1024;

/// The 64 bytes of report data: blake3(nonce), then the node's public key.
pub fn report_data(nonce: &[u8], public_key: &[u8; 32]) -> [u8; 64] {
    let mut data = [0; 64];
    data[..32].copy_from_slice(blake3::hash(nonce).as_bytes());
    data[32..].copy_from_slice(public_key);
    data
}

/// What was looked for, and found.
fn probe() -> Option<(Platform, &'static str)> {
    if Path::new(snp::DEVICE).exists() {
        return Some((Platform::SevSnp, snp::DEVICE));
    }
    if Path::new(tdx::DEVICE).exists() {
        return Some((Platform::Tdx, tdx::DEVICE));
    }
    None
}

/// The node's trusted-execution service.
pub struct Tee {
    config: TeeConfig,
    public_key: [u8; 32],
    status: TeeStatus,
}

impl Tee {
    /// Probes the platform and, where there is one, attests and verifies
    /// the node itself to decide its tier. `gpu_cc`: the GPUs' CC mode.
    pub fn detect(config: TeeConfig, public_key: [u8; 32], gpu_cc: Option<bool>) -> Tee {
        let probed = probe();
        let mut tee = Tee {
            config,
            public_key,
            status: TeeStatus {
                platform: probed.map(|(platform, _)| platform),
                tier: 1,
                tier_name: tier_name(1),
                reason: String::new(),
                measurement: None,
                gpu_cc,
            },
        };
        let (tier, reason, measurement) = match probed {
            None => (
                1,
                format!(
                    "no TEE: none of {}, {} or {} exists; the key store seals keys at rest (tier 1)",
                    snp::DEVICE,
                    tdx::DEVICE,
                    tsm::ROOT
                ),
                None,
            ),
            Some((platform, device)) => match tee.attest(&rand_bytes::<32>()) {
                Err(e) => (
                    1,
                    format!("{device} is present but gave no report: {e}"),
                    None,
                ),
                Ok(evidence) => match tee.verify_own(&evidence) {
                    Err(e) => (
                        2,
                        format!("running in {}; not verified: {e}", platform.as_str()),
                        None,
                    ),
                    Ok(m) if gpu_cc == Some(true) => (
                        4,
                        format!(
                            "{} verified, GPUs in confidential-computing mode",
                            platform.as_str()
                        ),
                        Some(m),
                    ),
                    Ok(m) => (3, format!("{} report verified", platform.as_str()), Some(m)),
                },
            },
        };
        tee.status.tier = tier;
        tee.status.tier_name = tier_name(tier);
        tee.status.reason = reason;
        tee.status.measurement = measurement;
        tee
    }

    pub fn status(&self) -> &TeeStatus {
        &self.status
    }

    pub fn tier(&self) -> u8 {
        self.status.tier
    }

    /// `Ok` when the node's tier reaches `required`; else why not, naming
    /// `what` asked for it.
    pub fn admit(&self, required: u8, what: &str) -> Result<(), String> {
        if required <= self.status.tier {
            return Ok(());
        }
        Err(format!(
            "{what} requires privacy tier {required} ({}); this node's verified tier is {} ({}): {}",
            tier_name(required),
            self.status.tier,
            self.status.tier_name,
            self.status.reason
        ))
    }

    /// Fresh evidence binding `nonce` and the node's public key.
    pub fn attest(&self, nonce: &[u8]) -> Result<Evidence, TeeError> {
        if nonce.is_empty() || nonce.len() > MAX_NONCE {
            return Err(TeeError::Invalid(format!(
                "a nonce is 1 to {MAX_NONCE} bytes, this one {}",
                nonce.len()
            )));
        }
        let Some(platform) = self.status.platform else {
            return Err(TeeError::Absent(self.status.reason.clone()));
        };
        let data = report_data(nonce, &self.public_key);
        let (evidence, certificates) = match platform {
            Platform::SevSnp => snp::report(data).map_err(TeeError::Failed)?,
            Platform::Tdx => {
                let r = tsm::report(Path::new(tsm::ROOT), &data)
                    .map_err(|e| TeeError::Failed(format!("{}: {e}", tsm::ROOT)))?;
                (r.outblob, Vec::new())
            }
        };
        Ok(Evidence {
            platform,
            evidence,
            report_data: data,
            certificates,
        })
    }

    /// Verifies the node's own evidence with what it has (the certificates
    /// the platform returned, or the operator's files), then the policy;
    /// the launch measurement, in hex.
    fn verify_own(&self, e: &Evidence) -> Result<String, String> {
        let claims = match e.platform {
            Platform::SevSnp => {
                let vcek = match &self.config.vcek {
                    Some(path) => read(path)?,
                    // The extended report's first certificate is the VCEK.
                    None => e.certificates.first().cloned().ok_or(
                        "the host provisioned no VCEK and `[tee] vcek` is not set".to_string(),
                    )?,
                };
                Claims::from(snp::verify(&e.evidence, &vcek)?)
            }
            Platform::Tdx => {
                let path = self.config.tdx_collateral.as_ref().ok_or(
                    "`[tee] tdx_collateral` is not set (the node cannot reach Intel's PCS)"
                        .to_string(),
                )?;
                let collateral = tdx::collateral(&read(path)?)?;
                Claims::from(tdx::verify(&e.evidence, &collateral, unix_now())?)
            }
        };
        if claims.report_data != e.report_data {
            return Err("the report does not carry the data it was asked for".to_string());
        }
        self.policy(&claims)?;
        Ok(hex::encode(claims.measurement))
    }

    /// The operator's policy: no debuggable guest, a listed measurement.
    fn policy(&self, claims: &Claims) -> Result<(), String> {
        if claims.debug && !self.config.allow_debug {
            return Err("the guest may be debugged by its host".to_string());
        }
        let m = hex::encode(claims.measurement);
        let listed = self
            .config
            .measurements
            .iter()
            .any(|l| l.eq_ignore_ascii_case(&m));
        if !self.config.measurements.is_empty() && !listed {
            return Err(format!("measurement {m} is not in `[tee] measurements`"));
        }
        Ok(())
    }

    /// The node's status as `/v2/health` shows it.
    pub fn json(&self) -> Value {
        serde_json::to_value(&self.status).unwrap_or(Value::Null)
    }
}

/// A platform's claims, as the policy reads them.
struct Claims {
    measurement: [u8; 48],
    report_data: [u8; 64],
    debug: bool,
}

impl From<snp::SnpClaims> for Claims {
    fn from(c: snp::SnpClaims) -> Claims {
        Claims {
            measurement: c.measurement,
            report_data: c.report_data,
            debug: c.debug,
        }
    }
}

impl From<tdx::TdxClaims> for Claims {
    fn from(c: tdx::TdxClaims) -> Claims {
        Claims {
            measurement: c.mr_td,
            report_data: c.report_data,
            debug: c.debug,
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn rand_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0; N];
    getrandom::fill(&mut b).expect("the OS has randomness");
    b
}

/// A request to verify someone's evidence (`POST /v2/attestation/verify`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyRequest {
    /// `sev-snp` or `tdx`.
    pub platform: String,
    /// The report or quote, base64 or hex.
    pub evidence: String,
    /// SNP: the VCEK (PEM, or DER in base64 or hex).
    #[serde(default)]
    pub vcek: Option<String>,
    /// TDX: the collateral (dcap-qvl's JSON object).
    #[serde(default)]
    pub collateral: Option<Value>,
    /// Check that the report data binds this nonce (base64 or hex, as it
    /// was sent) and `public_key` (hex) as the node attests them.
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub public_key: Option<String>,
    /// Judge the collateral's validity as of this time (Unix seconds; a
    /// stored quote's audit); default now.
    #[serde(default)]
    pub at: Option<u64>,
}

/// Hex or standard base64 (with or without padding).
pub fn decode_bytes(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 == 0 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return hex::decode(s).ok();
    }
    base64_decode(s)
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    const ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    ANY_PADDING.decode(s).ok()
}

/// Verifies someone's evidence; the verdict, or why it fails.
pub fn verify_request(r: &VerifyRequest) -> Result<Value, (&'static str, String)> {
    let invalid = |m: String| ("invalid_request", m);
    let platform = Platform::parse(&r.platform).ok_or_else(|| {
        invalid(format!(
            "platform is `sev-snp` or `tdx`, not `{}`",
            r.platform
        ))
    })?;
    let evidence = decode_bytes(&r.evidence)
        .ok_or_else(|| invalid("evidence is neither hex nor base64".into()))?;
    let fail = |m: String| ("verification_failed", m);
    let (claims, mut verdict) = match platform {
        Platform::SevSnp => {
            let vcek = r
                .vcek
                .as_deref()
                .ok_or_else(|| invalid("an SNP report needs `vcek`".into()))?;
            let vcek = if vcek.trim_start().starts_with("-----BEGIN") {
                vcek.as_bytes().to_vec()
            } else {
                decode_bytes(vcek)
                    .ok_or_else(|| invalid("vcek is neither PEM, hex nor base64".into()))?
            };
            let c = snp::verify(&evidence, &vcek).map_err(fail)?;
            let v = json!({
                "product": c.product,
                "version": c.version,
                "vmpl": c.vmpl,
                "host_data": hex::encode(c.host_data),
                "chip_id": hex::encode(&c.chip_id),
                "reported_tcb": format!("{:016x}", c.reported_tcb),
            });
            (Claims::from(c), v)
        }
        Platform::Tdx => {
            let collateral = r
                .collateral
                .as_ref()
                .ok_or_else(|| invalid("a TDX quote needs `collateral`".into()))?;
            let collateral: dcap_qvl::QuoteCollateralV3 =
                serde_json::from_value(collateral.clone())
                    .map_err(|e| invalid(format!("collateral: {e}")))?;
            let c =
                tdx::verify(&evidence, &collateral, r.at.unwrap_or_else(unix_now)).map_err(fail)?;
            let v = json!({
                "tcb_status": c.tcb_status,
                "advisory_ids": c.advisory_ids,
                "rtmr": c.rtmr.iter().map(hex::encode).collect::<Vec<_>>(),
            });
            (Claims::from(c), v)
        }
    };
    verdict["verified"] = json!(true);
    verdict["platform"] = json!(platform.as_str());
    verdict["measurement"] = json!(hex::encode(claims.measurement));
    verdict["report_data"] = json!(hex::encode(claims.report_data));
    verdict["debug"] = json!(claims.debug);
    if let Some(nonce) = &r.nonce {
        let nonce =
            decode_bytes(nonce).ok_or_else(|| invalid("nonce is neither hex nor base64".into()))?;
        let key = r
            .public_key
            .as_deref()
            .ok_or_else(|| invalid("`nonce` needs `public_key`".into()))?;
        let key: [u8; 32] = hex::decode(key)
            .ok()
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| invalid("public_key is 64 hex digits".into()))?;
        if report_data(&nonce, &key) != claims.report_data {
            return Err(fail(
                "the report data does not bind this nonce and public key".into(),
            ));
        }
        verdict["bound"] = json!(true);
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_machine_has_no_tee_and_says_so() {
        // The test machines have none; where one runs in a TEE, skip.
        if probe().is_some() {
            return;
        }
        let tee = Tee::detect(TeeConfig::default(), [7; 32], None);
        assert_eq!(tee.tier(), 1);
        assert!(tee.status().reason.contains("/dev/sev-guest"));
        match tee.attest(b"nonce") {
            Err(TeeError::Absent(why)) => assert!(why.contains("no TEE"), "{why}"),
            other => panic!("{other:?}"),
        }
        let e = tee.admit(2, "secret `K`").unwrap_err();
        assert!(e.contains("requires privacy tier 2 (confidential)"), "{e}");
        assert!(e.contains("verified tier is 1"), "{e}");
        assert!(tee.admit(1, "secret `K`").is_ok());
    }

    #[test]
    fn nonces_are_bounded() {
        let tee = Tee::detect(TeeConfig::default(), [7; 32], None);
        assert!(matches!(tee.attest(b""), Err(TeeError::Invalid(_))));
        assert!(matches!(
            tee.attest(&[0; MAX_NONCE + 1]),
            Err(TeeError::Invalid(_))
        ));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Hostile evidence gets an error, never a panic: any bytes as an
        /// SNP report (of the right size too) or a TDX quote.
        #[test]
        fn any_bytes_are_refused_without_a_panic(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048),
            flip in 0usize..snp::REPORT_LEN,
        ) {
            let vcek = include_bytes!("../../../tests/data/tee/snp_milan_vcek.der");
            proptest::prop_assert!(snp::verify(&bytes, vcek).is_err());
            let mut sized = bytes.clone();
            sized.resize(snp::REPORT_LEN, 0);
            sized[flip] ^= 0xff;
            proptest::prop_assert!(snp::verify(&sized, vcek).is_err());
            proptest::prop_assert!(snp::verify(&sized, &bytes).is_err());
            let collateral = tdx::collateral(include_bytes!(
                "../../../tests/data/tee/tdx_quote_collateral.json"
            ))
            .unwrap();
            proptest::prop_assert!(tdx::verify(&bytes, &collateral, 1_750_377_600).is_err());
            // A real quote with any byte of what is signed changed (the
            // header, the TD report, the signature; the zeros that pad the
            // certificate chain at the end are signed by nothing).
            let mut quote = include_bytes!("../../../tests/data/tee/tdx_quote.bin").to_vec();
            let at = flip % 700;
            quote[at] ^= 0xff;
            proptest::prop_assert!(tdx::verify(&quote, &collateral, 1_750_377_600).is_err());
        }
    }

    #[test]
    fn report_data_binds_the_nonce_and_the_key() {
        let d = report_data(b"n", &[9; 32]);
        assert_eq!(&d[..32], blake3::hash(b"n").as_bytes());
        assert_eq!(&d[32..], &[9; 32]);
        assert_ne!(report_data(b"m", &[9; 32]), d);
    }

    #[test]
    fn bytes_decode_from_hex_and_base64() {
        assert_eq!(decode_bytes("00ff").unwrap(), vec![0, 255]);
        assert_eq!(decode_bytes("AP8=").unwrap(), vec![0, 255]);
        assert_eq!(decode_bytes("aGVsbG8").unwrap(), b"hello");
        assert!(decode_bytes("!!").is_none());
    }

    #[test]
    fn the_policy_refuses_debug_and_unlisted_measurements() {
        let mut config = TeeConfig::default();
        let tee = |c: &TeeConfig| Tee::detect(c.clone(), [0; 32], None);
        let claims = Claims {
            measurement: [1; 48],
            report_data: [0; 64],
            debug: true,
        };
        assert!(
            tee(&config)
                .policy(&claims)
                .unwrap_err()
                .contains("debugged")
        );
        config.allow_debug = true;
        assert!(tee(&config).policy(&claims).is_ok());
        config.measurements = vec![hex::encode([2; 48])];
        assert!(tee(&config).policy(&claims).unwrap_err().contains("not in"));
        config
            .measurements
            .push(hex::encode([1; 48]).to_uppercase());
        assert!(tee(&config).policy(&claims).is_ok());
        assert!(config.problem().is_none());
        config.measurements.push("abc".into());
        assert!(config.problem().unwrap().contains("48 bytes"));
    }
}
