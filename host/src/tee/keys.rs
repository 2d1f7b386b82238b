//! The node's key store: secrets the operator generates or imports, each
//! with the privacy tier it needs, sealed at rest, released to plugins that
//! map them (`secrets = { K = "key:NAME" }`), rotated and destroyed. The
//! lifecycle is the seed's: generate → store → attest → release → use →
//! rotate → destroy.
//!
//! Sealing: ChaCha20-Poly1305 under a 32-byte sealing key, with the key's
//! name and version as associated data (a sealed value cannot be moved to
//! another name or version). On an SEV-SNP guest the sealing key is derived
//! by the AMD secure processor from the VCEK and the launch measurement, so
//! only the same guest image on the same chip unseals it; elsewhere it is a
//! random key in `<data>/seal.key` (mode 0600).

use crate::kv_table::StoreError;
use redb::{Database, ReadableTable, TableDefinition};
use ring::aead::{self, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex};

const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("tee_keys");

/// How the store's values are sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sealing {
    /// A key the SNP firmware derives from the chip and the measurement.
    SevSnp,
    /// `<data>/seal.key`.
    File,
}

/// One key as stored: its metadata and its sealed value.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    tier: u8,
    version: u32,
    created_ms: u64,
    rotated_ms: Option<u64>,
    sealing: Sealing,
    nonce: Vec<u8>,
    sealed: Vec<u8>,
}

/// A key's metadata, as the admin routes show it (never its value).
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub name: String,
    pub tier: u8,
    pub version: u32,
    pub created_ms: u64,
    pub rotated_ms: Option<u64>,
    pub sealing: Sealing,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Invalid(String),
    #[error("no key `{0}`")]
    NotFound(String),
    #[error("key `{0}` exists already")]
    Exists(String),
    #[error("{0}")]
    Withheld(String),
    #[error("{0}")]
    Sealing(String),
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl From<redb::Error> for KeyError {
    fn from(e: redb::Error) -> Self {
        KeyError::Sealing(format!("key store: {e}"))
    }
}

macro_rules! store_err {
    ($($t:ty),*) => {$(
        impl From<$t> for KeyError {
            fn from(e: $t) -> Self {
                KeyError::Store(StoreError::from(e))
            }
        }
    )*};
}
store_err!(redb::TableError, redb::StorageError, redb::CommitError);

impl From<redb::TransactionError> for KeyError {
    fn from(e: redb::TransactionError) -> Self {
        KeyError::Store(StoreError::Transaction(Box::new(e)))
    }
}

/// The longest value a key may hold.
pub const MAX_VALUE: usize = 64 * 1024;

pub struct KeyStore {
    db: Arc<Database>,
    sealing: Sealing,
    key: LessSafeKey,
    write: Mutex<()>,
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `[A-Za-z0-9_.-]`, 1 to 128.
fn valid_name(name: &str) -> bool {
    (1..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

impl KeyStore {
    /// Opens the store in `db`, sealing with the platform's key on an SNP
    /// guest, else with `<data_dir>/seal.key` (created on first use).
    pub fn open(
        db: Arc<Database>,
        data_dir: &Path,
        platform: Option<super::Platform>,
    ) -> Result<KeyStore, KeyError> {
        let (sealing, raw) = match platform.and_then(|p| snp_sealing_key(p).transpose()) {
            Some(Ok(k)) => (Sealing::SevSnp, k),
            Some(Err(e)) => {
                tracing::warn!(%e, "the SNP firmware derived no sealing key: sealing with seal.key");
                (Sealing::File, file_sealing_key(&data_dir.join("seal.key"))?)
            }
            None => (Sealing::File, file_sealing_key(&data_dir.join("seal.key"))?),
        };
        let key = LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, &raw)
                .map_err(|_| KeyError::Sealing("bad sealing key".into()))?,
        );
        let tx = db.begin_write()?;
        tx.open_table(KEYS)?;
        tx.commit()?;
        Ok(KeyStore {
            db,
            sealing,
            key,
            write: Mutex::new(()),
        })
    }

    pub fn sealing(&self) -> Sealing {
        self.sealing
    }

    fn aad(name: &str, version: u32) -> Vec<u8> {
        format!("hanzo-node key {name} v{version}").into_bytes()
    }

    fn seal(&self, name: &str, version: u32, value: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut nonce = [0u8; aead::NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the OS has randomness");
        let mut sealed = value.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(name, version)),
                &mut sealed,
            )
            .expect("sealing a bounded value");
        (nonce.to_vec(), sealed)
    }

    fn unseal(&self, name: &str, s: &Stored) -> Result<String, KeyError> {
        if s.sealing != self.sealing {
            return Err(KeyError::Sealing(format!(
                "key `{name}` was sealed with {:?}, which this node does not hold",
                s.sealing
            )));
        }
        let nonce: [u8; aead::NONCE_LEN] = s
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::Sealing(format!("key `{name}`: bad nonce")))?;
        let mut buf = s.sealed.clone();
        let plain = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(Self::aad(name, s.version)),
                &mut buf,
            )
            .map_err(|_| {
                KeyError::Sealing(format!(
                    "key `{name}` does not unseal (tampered, or another node's)"
                ))
            })?;
        String::from_utf8(plain.to_vec())
            .map_err(|_| KeyError::Sealing(format!("key `{name}` is not text")))
    }

    fn get(&self, name: &str) -> Result<Option<Stored>, KeyError> {
        let tx = self
            .db
            .begin_read()
            .map_err(|e| KeyError::Store(StoreError::Transaction(Box::new(e))))?;
        let table = tx.open_table(KEYS)?;
        let Some(v) = table.get(name)? else {
            return Ok(None);
        };
        serde_json::from_slice(v.value())
            .map(Some)
            .map_err(|e| KeyError::Sealing(format!("key `{name}` is not readable: {e}")))
    }

    fn put(&self, name: &str, s: &Stored) -> Result<(), KeyError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(KEYS)?;
            let bytes = serde_json::to_vec(s).expect("a key serializes");
            table.insert(name, bytes.as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    fn info(name: &str, s: &Stored) -> KeyInfo {
        KeyInfo {
            name: name.to_string(),
            tier: s.tier,
            version: s.version,
            created_ms: s.created_ms,
            rotated_ms: s.rotated_ms,
            sealing: s.sealing,
        }
    }

    /// A value given, or 32 random bytes in hex.
    fn value(value: Option<String>) -> Result<String, KeyError> {
        match value {
            Some(v) if v.is_empty() || v.len() > MAX_VALUE => Err(KeyError::Invalid(format!(
                "a key's value is 1 to {MAX_VALUE} bytes"
            ))),
            Some(v) => Ok(v),
            None => {
                let mut b = [0u8; 32];
                getrandom::fill(&mut b).expect("the OS has randomness");
                Ok(hex::encode(b))
            }
        }
    }

    /// Generates key `name` (or imports `value`), needing `tier` to be released.
    pub fn create(&self, name: &str, tier: u8, value: Option<String>) -> Result<KeyInfo, KeyError> {
        if !valid_name(name) {
            return Err(KeyError::Invalid(format!(
                "a key's name is 1 to 128 of [A-Za-z0-9_.-], not `{name}`"
            )));
        }
        if tier > super::MAX_TIER {
            return Err(KeyError::Invalid(format!(
                "tier is 0 to {}",
                super::MAX_TIER
            )));
        }
        let value = Self::value(value)?;
        let _guard = crate::lock(&self.write);
        if self.get(name)?.is_some() {
            return Err(KeyError::Exists(name.to_string()));
        }
        let (nonce, sealed) = self.seal(name, 1, value.as_bytes());
        let s = Stored {
            tier,
            version: 1,
            created_ms: now_ms(),
            rotated_ms: None,
            sealing: self.sealing,
            nonce,
            sealed,
        };
        self.put(name, &s)?;
        Ok(Self::info(name, &s))
    }

    /// Replaces key `name`'s value (a new random one, or `value`): the old
    /// one is gone.
    pub fn rotate(&self, name: &str, value: Option<String>) -> Result<KeyInfo, KeyError> {
        let value = Self::value(value)?;
        let _guard = crate::lock(&self.write);
        let mut s = self
            .get(name)?
            .ok_or_else(|| KeyError::NotFound(name.to_string()))?;
        s.version += 1;
        s.rotated_ms = Some(now_ms());
        s.sealing = self.sealing;
        (s.nonce, s.sealed) = self.seal(name, s.version, value.as_bytes());
        self.put(name, &s)?;
        Ok(Self::info(name, &s))
    }

    /// Destroys key `name`; true when it existed.
    pub fn destroy(&self, name: &str) -> Result<bool, KeyError> {
        let _guard = crate::lock(&self.write);
        let tx = self.db.begin_write()?;
        let existed = {
            let mut table = tx.open_table(KEYS)?;
            table.remove(name)?.is_some()
        };
        tx.commit()?;
        Ok(existed)
    }

    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let tx = self
            .db
            .begin_read()
            .map_err(|e| KeyError::Store(StoreError::Transaction(Box::new(e))))?;
        let table = tx.open_table(KEYS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (name, v) = entry?;
            if let Ok(s) = serde_json::from_slice::<Stored>(v.value()) {
                out.push(Self::info(name.value(), &s));
            }
        }
        Ok(out)
    }

    pub fn describe(&self, name: &str) -> Result<KeyInfo, KeyError> {
        let s = self
            .get(name)?
            .ok_or_else(|| KeyError::NotFound(name.to_string()))?;
        Ok(Self::info(name, &s))
    }

    /// Key `name`'s value, when `tee`'s tier reaches the key's; `what`
    /// names who asks (in the refusal).
    pub fn release(&self, name: &str, tee: &super::Tee, what: &str) -> Result<String, KeyError> {
        let s = self
            .get(name)?
            .ok_or_else(|| KeyError::NotFound(name.to_string()))?;
        tee.admit(s.tier, what).map_err(KeyError::Withheld)?;
        self.unseal(name, &s)
    }
}

/// The firmware's key for this guest image on this chip.
fn snp_sealing_key(platform: super::Platform) -> Result<Option<[u8; 32]>, String> {
    use sev::firmware::guest::{DerivedKey, Firmware, GuestFieldSelect};
    if platform != super::Platform::SevSnp {
        return Ok(None);
    }
    let mut fields = GuestFieldSelect(0);
    fields.set_guest_policy(true);
    fields.set_measurement(true);
    let request = DerivedKey::new(false, fields, 0, 0, 0, None);
    let mut fw = Firmware::open().map_err(|e| format!("{}: {e}", super::snp::DEVICE))?;
    fw.get_derived_key(Some(1), request)
        .map(Some)
        .map_err(|e| format!("SNP_GET_DERIVED_KEY: {e}"))
}

/// The node's sealing key file, created once with mode 0600.
fn file_sealing_key(path: &Path) -> Result<[u8; 32], KeyError> {
    use std::io::{Read, Write};
    use std::os::unix::fs::OpenOptionsExt;
    let fail = |e: std::io::Error| KeyError::Sealing(format!("{}: {e}", path.display()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut f) => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).expect("the OS has randomness");
            f.write_all(&key).map_err(fail)?;
            f.sync_all().map_err(fail)?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut key = [0u8; 32];
            let mut f = std::fs::File::open(path).map_err(fail)?;
            f.read_exact(&mut key).map_err(fail)?;
            Ok(key)
        }
        Err(e) => Err(fail(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tee::{Tee, TeeConfig};

    fn store(dir: &Path) -> KeyStore {
        let db = Arc::new(Database::create(dir.join("k.redb")).unwrap());
        KeyStore::open(db, dir, None).unwrap()
    }

    #[test]
    fn the_lifecycle_seals_releases_rotates_and_destroys() {
        let dir = tempfile::tempdir().unwrap();
        let keys = store(dir.path());
        let tee = Tee::detect(TeeConfig::default(), [0; 32], None);
        let k = keys.create("api", 1, Some("sk-secret".into())).unwrap();
        assert_eq!((k.version, k.sealing), (1, Sealing::File));
        assert!(matches!(
            keys.create("api", 1, None),
            Err(KeyError::Exists(_))
        ));
        assert_eq!(keys.release("api", &tee, "t").unwrap(), "sk-secret");
        // Sealed at rest: the value is nowhere in the database file.
        let file = std::fs::read(dir.path().join("k.redb")).unwrap();
        assert!(!file.windows(9).any(|w| w == b"sk-secret"));
        let r = keys.rotate("api", None).unwrap();
        assert_eq!(r.version, 2);
        let v = keys.release("api", &tee, "t").unwrap();
        assert_eq!(v.len(), 64);
        assert!(keys.destroy("api").unwrap());
        assert!(matches!(
            keys.release("api", &tee, "t"),
            Err(KeyError::NotFound(_))
        ));
        assert!(!keys.destroy("api").unwrap());
    }

    #[test]
    fn a_key_above_the_nodes_tier_is_withheld() {
        let dir = tempfile::tempdir().unwrap();
        let keys = store(dir.path());
        let tee = Tee::detect(TeeConfig::default(), [0; 32], None);
        if tee.tier() >= 2 {
            return; // a TEE machine
        }
        keys.create("conf", 2, Some("x".into())).unwrap();
        match keys.release("conf", &tee, "plugin `p`, secret `K`") {
            Err(KeyError::Withheld(why)) => {
                assert!(why.contains("requires privacy tier 2"), "{why}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_sealed_value_moved_or_tampered_does_not_unseal() {
        let dir = tempfile::tempdir().unwrap();
        let keys = store(dir.path());
        keys.create("a", 0, Some("one".into())).unwrap();
        let mut s = keys.get("a").unwrap().unwrap();
        // Moved to another name.
        keys.put("b", &s).unwrap();
        assert!(keys.unseal("b", &s).is_err());
        // A flipped bit.
        s.sealed[0] ^= 1;
        assert!(keys.unseal("a", &s).is_err());
        // The seal key survives a restart.
        drop(keys);
        let again = store(dir.path());
        let s = again.get("a").unwrap().unwrap();
        assert_eq!(again.unseal("a", &s).unwrap(), "one");
    }

    #[test]
    fn bad_names_and_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let keys = store(dir.path());
        assert!(matches!(
            keys.create("a b", 0, None),
            Err(KeyError::Invalid(_))
        ));
        assert!(matches!(
            keys.create("a", 5, None),
            Err(KeyError::Invalid(_))
        ));
        assert!(matches!(
            keys.create("a", 0, Some(String::new())),
            Err(KeyError::Invalid(_))
        ));
    }
}
