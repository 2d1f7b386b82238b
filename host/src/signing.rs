//! Publishers' signatures on plugins. A publisher signs one version of a
//! plugin (its component and its manifest together) with an Ed25519 key,
//! and the signature lies beside the manifest in `plugin.sig`:
//!
//! ```toml
//! # hanzo-node plugin signature
//! key = "<the publisher's public key: 64 hex digits>"
//! signature = "<the Ed25519 signature: 128 hex digits>"
//! ```
//!
//! What is signed is a 32-byte digest: blake3 in key-derivation mode
//! (context [`CONTEXT`]) over the blake3 of the component's bytes followed
//! by the blake3 of the manifest's bytes. Changing either file, or pairing
//! one with another signed plugin's, breaks the signature. The operator
//! decides whom it trusts ([`TrustStore`], from `[grants]`); what a trusted
//! publisher's plugin may do is `crate::grants`' business.
//!
//! Keys are files of hex digits: `hanzo-node plugin keygen PATH` writes the
//! secret seed to `PATH` (owner-only) and the public key to `PATH.pub`.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The signature file beside a plugin's manifest.
pub const SIGNATURE_FILE: &str = "plugin.sig";

/// The largest signature file read, in bytes.
pub const MAX_SIGNATURE_BYTES: u64 = 4096;

/// blake3's key-derivation context of the signed digest: a signature made
/// for anything else never verifies as a plugin's.
pub const CONTEXT: &str = "hanzo-node 2026 plugin signature v1";

/// What a plugin version's signature says about its publisher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No `plugin.sig` beside the manifest.
    Unsigned,
    /// Signed by this trusted key (hex).
    Trusted(String),
    /// A valid signature, by this key (hex) that the operator does not trust.
    Untrusted(String),
    /// A `plugin.sig` that does not verify: the files changed since they
    /// were signed, or the file is malformed.
    Invalid(String),
}

impl Verdict {
    pub fn trusted(&self) -> bool {
        matches!(self, Verdict::Trusted(_))
    }

    /// `unsigned`, `trusted`, `untrusted` or `invalid`.
    pub fn state(&self) -> &'static str {
        match self {
            Verdict::Unsigned => "unsigned",
            Verdict::Trusted(_) => "trusted",
            Verdict::Untrusted(_) => "untrusted",
            Verdict::Invalid(_) => "invalid",
        }
    }

    /// The signing key (hex), when the signature verified.
    pub fn key(&self) -> Option<&str> {
        match self {
            Verdict::Trusted(k) | Verdict::Untrusted(k) => Some(k),
            _ => None,
        }
    }

    /// As `/v2/plugins` and `plugin inspect` show it: `state`, the signing
    /// `key` and, when invalid, the `problem`.
    pub fn to_json(&self) -> serde_json::Value {
        let problem = match self {
            Verdict::Invalid(why) => Some(why.as_str()),
            _ => None,
        };
        serde_json::json!({ "state": self.state(), "key": self.key(), "problem": problem })
    }

    /// Why `strict = true` refuses the plugin (`None`: it does not).
    pub fn strict_refusal(&self) -> Option<String> {
        match self {
            Verdict::Trusted(_) => None,
            Verdict::Unsigned => Some(format!(
                "refused by grants.strict: the plugin is not signed (no {SIGNATURE_FILE}; \
                 sign it with `hanzo-node plugin sign`)"
            )),
            Verdict::Untrusted(key) => Some(format!(
                "refused by grants.strict: signed by key {key}, which is not in \
                 grants.trusted_keys or grants.trust_dir"
            )),
            Verdict::Invalid(why) => Some(format!(
                "refused by grants.strict: {SIGNATURE_FILE} does not verify: {why}"
            )),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    key: String,
    signature: String,
}

/// The digest a publisher signs for one plugin version.
pub fn digest(component: &blake3::Hash, manifest: &blake3::Hash) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(CONTEXT);
    h.update(component.as_bytes());
    h.update(manifest.as_bytes());
    *h.finalize().as_bytes()
}

fn decode<const N: usize>(what: &str, text: &str) -> Result<[u8; N], String> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text.trim(), &mut out)
        .map_err(|_| format!("{what} must be {} hex digits", 2 * N))?;
    Ok(out)
}

/// A public key as written in `<key>.pub` and `grants.trusted_keys`.
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, String> {
    let bytes = decode::<32>("an Ed25519 public key", text)?;
    VerifyingKey::from_bytes(&bytes).map_err(|_| "not a valid Ed25519 public key".to_string())
}

/// A public key in hex.
pub fn public_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

/// A new signing key from the operating system's randomness.
pub fn generate_key() -> Result<SigningKey, String> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| format!("no randomness from the OS: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// A signing key as written by [`write_key_pair`].
pub fn parse_signing_key(text: &str) -> Result<SigningKey, String> {
    Ok(SigningKey::from_bytes(&decode::<32>(
        "a signing key",
        text,
    )?))
}

/// Writes `key`'s secret to `path` (owner-only, never over an existing
/// file) and its public key to `path.pub`.
pub fn write_key_pair(path: &Path, key: &SigningKey) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    writeln!(file, "{}", hex::encode(key.to_bytes()))?;
    let mut public = path.as_os_str().to_owned();
    public.push(".pub");
    std::fs::write(
        public,
        format!("{}\n", public_key_hex(&key.verifying_key())),
    )
}

/// The text of `plugin.sig` for the plugin version whose files hash to
/// `component` and `manifest`.
pub fn sign(key: &SigningKey, component: &blake3::Hash, manifest: &blake3::Hash) -> String {
    let signature = key.sign(&digest(component, manifest));
    let file = SignatureFile {
        key: public_key_hex(&key.verifying_key()),
        signature: hex::encode(signature.to_bytes()),
    };
    format!(
        "# hanzo-node plugin signature (check it: hanzo-node plugin verify FOLDER)\n{}",
        toml::to_string(&file).expect("two strings serialize")
    )
}

/// The keys the operator trusts.
#[derive(Debug, Default)]
pub struct TrustStore {
    keys: Vec<VerifyingKey>,
}

impl TrustStore {
    /// `keys` (hex) and every `*.pub` file of `dir`.
    pub fn new(keys: &[String], dir: Option<&Path>) -> Result<TrustStore, String> {
        let mut store = TrustStore::default();
        for k in keys {
            store
                .keys
                .push(parse_public_key(k).map_err(|e| format!("grants.trusted_keys: {e}"))?);
        }
        if let Some(dir) = dir {
            let entries = std::fs::read_dir(dir)
                .map_err(|e| format!("grants.trust_dir {}: {e}", dir.display()))?;
            for entry in entries.filter_map(Result::ok) {
                let path = entry.path();
                if path.extension().is_none_or(|x| x != "pub") {
                    continue;
                }
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                let key =
                    parse_public_key(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                store.keys.push(key);
            }
        }
        Ok(store)
    }

    pub fn trusts(&self, key: &VerifyingKey) -> bool {
        self.keys.contains(key)
    }
}

/// The verdict on a plugin version from its `plugin.sig` text (`None`: no
/// such file) and the blake3 of its component and manifest.
pub fn check(
    signature_file: Option<&[u8]>,
    component: &blake3::Hash,
    manifest: &blake3::Hash,
    trust: &TrustStore,
) -> Verdict {
    let Some(bytes) = signature_file else {
        return Verdict::Unsigned;
    };
    let parsed = std::str::from_utf8(bytes)
        .map_err(|_| "not UTF-8 text".to_string())
        .and_then(|t| toml::from_str::<SignatureFile>(t).map_err(|e| e.message().to_string()));
    let file = match parsed {
        Ok(f) => f,
        Err(why) => return Verdict::Invalid(format!("malformed: {why}")),
    };
    let key = match parse_public_key(&file.key) {
        Ok(k) => k,
        Err(why) => return Verdict::Invalid(format!("key: {why}")),
    };
    let signature = match decode::<64>("signature", &file.signature) {
        Ok(s) => Signature::from_bytes(&s),
        Err(why) => return Verdict::Invalid(why),
    };
    if key
        .verify_strict(&digest(component, manifest), &signature)
        .is_err()
    {
        return Verdict::Invalid(
            "the signature does not match the component and manifest (changed since signed?)"
                .into(),
        );
    }
    let hex = public_key_hex(&key);
    if trust.trusts(&key) {
        Verdict::Trusted(hex)
    } else {
        Verdict::Untrusted(hex)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(component: &[u8], manifest: &[u8]) -> (blake3::Hash, blake3::Hash) {
        (blake3::hash(component), blake3::hash(manifest))
    }

    #[test]
    fn sign_verify_round_trip_and_trust() {
        let key = generate_key().unwrap();
        let public = public_key_hex(&key.verifying_key());
        let (c, m) = hashes(b"\0asm component", b"name = \"p\"");
        let sig = sign(&key, &c, &m);
        let trusted = TrustStore::new(std::slice::from_ref(&public), None).unwrap();
        assert_eq!(
            check(Some(sig.as_bytes()), &c, &m, &trusted),
            Verdict::Trusted(public.clone())
        );
        let nobody = TrustStore::default();
        assert_eq!(
            check(Some(sig.as_bytes()), &c, &m, &nobody),
            Verdict::Untrusted(public)
        );
        assert_eq!(check(None, &c, &m, &trusted), Verdict::Unsigned);
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let key = generate_key().unwrap();
        let trust = TrustStore::new(&[public_key_hex(&key.verifying_key())], None).unwrap();
        let (c, m) = hashes(b"component", b"manifest");
        let sig = sign(&key, &c, &m);
        // Either file changed, or the two swapped, or another plugin's files.
        let (c2, m2) = hashes(b"component!", b"manifest!");
        for (c, m) in [(c2, m), (c, m2), (m, c)] {
            let v = check(Some(sig.as_bytes()), &c, &m, &trust);
            assert!(
                matches!(&v, Verdict::Invalid(w) if w.contains("does not match")),
                "{v:?}"
            );
            assert!(v.strict_refusal().unwrap().contains("does not verify"));
        }
        // A signature by another key with this key's name on it.
        let other = generate_key().unwrap();
        let forged = sign(&other, &c, &m).replace(
            &public_key_hex(&other.verifying_key()),
            &public_key_hex(&key.verifying_key()),
        );
        assert!(matches!(
            check(Some(forged.as_bytes()), &c, &m, &trust),
            Verdict::Invalid(_)
        ));
        let junk: [&[u8]; 4] = [
            b"\xff\xfe",
            b"key = 1",
            b"",
            b"key = \"ab\"\nsignature = \"cd\"",
        ];
        for junk in junk {
            assert!(matches!(
                check(Some(junk), &c, &m, &trust),
                Verdict::Invalid(_)
            ));
        }
    }

    #[test]
    fn keys_round_trip_through_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("publisher.key");
        let key = generate_key().unwrap();
        write_key_pair(&path, &key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "the secret key is owner-only");
        }
        let read = parse_signing_key(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(read.to_bytes(), key.to_bytes());
        // Never over an existing key.
        assert!(write_key_pair(&path, &generate_key().unwrap()).is_err());
        let store = TrustStore::new(&[], Some(dir.path())).unwrap();
        assert!(store.trusts(&key.verifying_key()));
        assert!(
            parse_public_key("abc")
                .unwrap_err()
                .contains("64 hex digits")
        );
    }
}
