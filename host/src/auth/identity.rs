//! The node's Ed25519 identity: a signing key created on first start in the
//! data directory (`identity.ed25519`, 32 raw bytes, owner-only mode), its
//! public key served in `/v2/health`.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The file name of the node's secret key in the data directory.
pub const IDENTITY_FILE: &str = "identity.ed25519";

/// The node's key pair.
pub struct Identity {
    signing: SigningKey,
    public_hex: String,
}

impl Identity {
    /// Reads `dir/identity.ed25519`, or creates it (mode 0600) on first start.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<Identity> {
        let path = dir.join(IDENTITY_FILE);
        let secret: [u8; 32] = match std::fs::read(&path) {
            Ok(bytes) => {
                let mode = std::fs::metadata(&path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    // Readable by others: narrow it, and say so.
                    tracing::warn!(file = %path.display(), mode = format!("{:o}", mode & 0o777),
                        "the node's identity key was readable by others: set to owner-only");
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
                }
                bytes.try_into().map_err(|_| {
                    anyhow::anyhow!("{} is not a 32-byte Ed25519 secret key", path.display())
                })?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret)
                    .map_err(|e| anyhow::anyhow!("no randomness for the node's key: {e}"))?;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)?;
                f.write_all(&secret)?;
                f.sync_all()?;
                tracing::info!(file = %path.display(), "created the node's Ed25519 identity");
                secret
            }
            Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        };
        let signing = SigningKey::from_bytes(&secret);
        let public_hex = hex::encode(signing.verifying_key().as_bytes());
        Ok(Identity {
            signing,
            public_hex,
        })
    }

    /// The public key, hex.
    pub fn public_key_hex(&self) -> &str {
        &self.public_hex
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Signs `message` as the node.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_owner_only_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let a = Identity::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(IDENTITY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = Identity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.public_key_hex(), b.public_key_hex());
        let sig = a.sign(b"hello");
        assert!(b.verifying_key().verify_strict(b"hello", &sig).is_ok());
    }
}
