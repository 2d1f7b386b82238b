//! Tenants and their credentials in `auth.redb` in the data directory: API
//! keys (stored as the blake3 hash of a 256-bit random secret, shown once,
//! revocable, with an optional expiry and a scope) and Ed25519 public keys for
//! signed requests.
//!
//! The file is its own database, opened only for the moment of a read or a
//! write: `hanzo-node tenant …` changes it while the node runs, and the node
//! notices (its modification time) and reloads. Requests never read it: they
//! look their credential up in [`Credentials`], an in-memory snapshot.

use super::level::Level;
use crate::tenant::Tenant;
pub use crate::tenant::valid_tenant_name;
use ed25519_dalek::VerifyingKey;
use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// The file name of the key store in the data directory.
pub const STORE_FILE: &str = "auth.redb";

/// The prefix of every API key the node hands out.
pub const KEY_PREFIX: &str = "hk_";

const TENANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("auth_tenants");
const CREDENTIALS: TableDefinition<&str, &[u8]> = TableDefinition::new("auth_credentials");

/// A tenant as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantRecord {
    pub name: String,
    /// Unix seconds.
    pub created_at: u64,
}

/// What kind of credential a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CredentialKind {
    /// A bearer secret (`Authorization: Bearer` or `x-api-key`).
    ApiKey,
    /// An Ed25519 public key that signs requests.
    Ed25519,
}

/// A credential as stored (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CredentialRecord {
    pub id: String,
    pub tenant: String,
    pub kind: CredentialKind,
    /// The most this credential may do.
    pub scope: Level,
    /// An API key's first characters, to tell keys apart in a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// blake3 of an API key's secret, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_blake3: Option<String>,
    /// An Ed25519 public key, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    pub created_at: u64,
    pub expires_at: Option<u64>,
    pub revoked_at: Option<u64>,
}

impl CredentialRecord {
    /// Usable now: not revoked, not expired.
    pub fn active(&self, now: u64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }

    /// The record as listed to an operator (the secret's hash left out).
    pub fn public_view(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            m.remove("secret_blake3");
        }
        v
    }
}

/// What a valid credential resolves to.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The credential's id (for logs; never a secret).
    pub id: Arc<str>,
    pub tenant: Tenant,
    pub scope: Level,
    /// Unix seconds.
    pub expires_at: Option<u64>,
}

impl Grant {
    pub fn expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }
}

/// A tenant's signing key, parsed once.
pub struct Signer {
    pub grant: Grant,
    pub key: VerifyingKey,
}

/// The in-memory view of the store that requests are checked against.
#[derive(Default)]
pub struct Credentials {
    /// Tenants configured.
    pub tenants: usize,
    /// blake3(secret) → grant.
    keys: HashMap<[u8; 32], Grant>,
    /// Public key → signer.
    signers: HashMap<[u8; 32], Signer>,
}

impl Credentials {
    /// Built from the store's records; revoked (and already expired) ones left out.
    pub fn from_records(tenants: usize, records: &[CredentialRecord]) -> Credentials {
        let now = unix_now();
        let mut c = Credentials {
            tenants,
            ..Credentials::default()
        };
        for r in records.iter().filter(|r| r.active(now)) {
            let grant = Grant {
                id: r.id.as_str().into(),
                tenant: Tenant::from(r.tenant.as_str()),
                scope: r.scope,
                expires_at: r.expires_at,
            };
            let bytes = |h: &Option<String>| -> Option<[u8; 32]> {
                hex::decode(h.as_deref()?).ok()?.try_into().ok()
            };
            match r.kind {
                CredentialKind::ApiKey => {
                    if let Some(hash) = bytes(&r.secret_blake3) {
                        c.keys.insert(hash, grant);
                    }
                }
                CredentialKind::Ed25519 => {
                    if let Some(pk) = bytes(&r.public_key)
                        && let Ok(key) = VerifyingKey::from_bytes(&pk)
                    {
                        c.signers.insert(pk, Signer { grant, key });
                    }
                }
            }
        }
        c
    }

    /// The grant of an API key secret, if it is one (not checked for expiry).
    #[inline]
    pub fn key(&self, secret: &[u8]) -> Option<&Grant> {
        self.keys.get(blake3::hash(secret).as_bytes())
    }

    /// The signer of a public key.
    pub fn signer(&self, public_key: &[u8; 32]) -> Option<&Signer> {
        self.signers.get(public_key)
    }

    /// Whether any credential can be used: a node without one serves loopback only.
    pub fn any(&self) -> bool {
        !self.keys.is_empty() || !self.signers.is_empty()
    }

    pub fn key_count(&self) -> usize {
        self.keys.len() + self.signers.len()
    }
}

/// Why a change to the store was refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "tenant name `{0}` must be 1-64 characters of a-z, 0-9, `-` or `_`, not starting with `_`"
    )]
    InvalidName(String),
    #[error("tenant `{0}` already exists")]
    TenantExists(String),
    #[error("no tenant named `{0}`")]
    TenantNotFound(String),
    #[error("tenant `{0}` has no key `{1}`")]
    KeyNotFound(String, String),
    #[error("{0}")]
    Invalid(String),
    #[error("the key store: {0}")]
    Store(String),
}

impl KeyError {
    /// The stable code clients match on, and its status.
    pub fn code(&self) -> (http::StatusCode, &'static str) {
        use http::StatusCode as S;
        match self {
            KeyError::InvalidName(_) => (S::BAD_REQUEST, "invalid_name"),
            KeyError::TenantExists(_) => (S::CONFLICT, "tenant_exists"),
            KeyError::TenantNotFound(_) => (S::NOT_FOUND, "tenant_not_found"),
            KeyError::KeyNotFound(..) => (S::NOT_FOUND, "key_not_found"),
            KeyError::Invalid(_) => (S::BAD_REQUEST, "invalid_request"),
            KeyError::Store(_) => (S::INTERNAL_SERVER_ERROR, "store_error"),
        }
    }
}

/// Every record of `table`, in key order (none when it was never written).
fn read_all<T: serde::de::DeserializeOwned>(
    tx: &redb::ReadTransaction,
    table: TableDefinition<&str, &[u8]>,
) -> Result<Vec<T>, KeyError> {
    let table = match tx.open_table(table) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(store_err(e)),
    };
    let mut out = Vec::new();
    for row in table.iter().map_err(store_err)? {
        let (_, v) = row.map_err(store_err)?;
        out.push(serde_json::from_slice(v.value()).map_err(store_err)?);
    }
    Ok(out)
}

fn store_err(e: impl std::fmt::Display) -> KeyError {
    KeyError::Store(e.to_string())
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn random_hex(bytes: usize) -> Result<String, KeyError> {
    let mut b = vec![0u8; bytes];
    getrandom::fill(&mut b).map_err(store_err)?;
    Ok(hex::encode(b))
}

/// What a new credential is given.
#[derive(Debug, Clone, Default)]
pub struct NewKey {
    pub scope: Level,
    /// Unix seconds.
    pub expires_at: Option<u64>,
    /// An Ed25519 public key (hex) to register instead of a new API key.
    pub public_key: Option<String>,
}

/// The store file.
pub struct KeyStore {
    path: PathBuf,
    /// One open at a time within this process.
    open: Mutex<()>,
}

impl KeyStore {
    pub fn new(data_dir: &Path) -> KeyStore {
        KeyStore {
            path: data_dir.join(STORE_FILE),
            open: Mutex::new(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's modification time and length: what changes when another
    /// process writes it.
    pub fn stamp(&self) -> Option<(SystemTime, u64)> {
        let m = std::fs::metadata(&self.path).ok()?;
        Some((m.modified().ok()?, m.len()))
    }

    /// Runs `f` on the database, opened for it (and created, owner-only,
    /// when `create`); waits a few seconds while another process has it open.
    fn with_db<T>(
        &self,
        create: bool,
        f: impl FnOnce(&Database) -> Result<T, KeyError>,
    ) -> Result<Option<T>, KeyError> {
        let _one = crate::lock(&self.open);
        if !self.path.exists() {
            if !create {
                return Ok(None);
            }
            // redb fills an empty file; creating it first sets its mode.
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&self.path)
            {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(store_err(e)),
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let db = loop {
            match Database::create(&self.path) {
                Ok(db) => break db,
                Err(redb::DatabaseError::DatabaseAlreadyOpen) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(store_err(format!("{}: {e}", self.path.display()))),
            }
        };
        f(&db).map(Some)
    }

    /// Every tenant and every credential (revoked ones included).
    pub fn read(&self) -> Result<(Vec<TenantRecord>, Vec<CredentialRecord>), KeyError> {
        Ok(self
            .with_db(false, |db| {
                let tx = db.begin_read().map_err(store_err)?;
                Ok((read_all(&tx, TENANTS)?, read_all(&tx, CREDENTIALS)?))
            })?
            .unwrap_or_default())
    }

    /// The snapshot requests are checked against.
    pub fn load(&self) -> Result<Credentials, KeyError> {
        let (tenants, creds) = self.read()?;
        Ok(Credentials::from_records(tenants.len(), &creds))
    }

    /// Adds a tenant.
    pub fn create_tenant(&self, name: &str) -> Result<TenantRecord, KeyError> {
        if !valid_tenant_name(name) {
            return Err(KeyError::InvalidName(name.into()));
        }
        let record = TenantRecord {
            name: name.into(),
            created_at: unix_now(),
        };
        self.with_db(true, |db| {
            let tx = db.begin_write().map_err(store_err)?;
            {
                let mut t = tx.open_table(TENANTS).map_err(store_err)?;
                if t.get(name).map_err(store_err)?.is_some() {
                    return Err(KeyError::TenantExists(name.into()));
                }
                let bytes = serde_json::to_vec(&record).map_err(store_err)?;
                t.insert(name, bytes.as_slice()).map_err(store_err)?;
            }
            tx.commit().map_err(store_err)
        })?;
        Ok(record)
    }

    /// Adds a credential to `tenant`: a new API key (its secret returned,
    /// the only time it is seen) or the Ed25519 public key of `new`.
    pub fn add_key(
        &self,
        tenant: &str,
        new: &NewKey,
    ) -> Result<(CredentialRecord, Option<String>), KeyError> {
        let now = unix_now();
        if new.expires_at.is_some_and(|e| e <= now) {
            return Err(KeyError::Invalid("the expiry is in the past".into()));
        }
        let id = format!("key_{}", random_hex(6)?);
        let mut record = CredentialRecord {
            id: id.clone(),
            tenant: tenant.into(),
            kind: CredentialKind::ApiKey,
            scope: new.scope,
            prefix: None,
            secret_blake3: None,
            public_key: None,
            created_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
        };
        let secret = match &new.public_key {
            Some(pk) => {
                let bytes: [u8; 32] = hex::decode(pk.trim())
                    .ok()
                    .and_then(|b| b.try_into().ok())
                    .ok_or_else(|| {
                        KeyError::Invalid("public_key must be 32 bytes, hex (64 characters)".into())
                    })?;
                VerifyingKey::from_bytes(&bytes)
                    .map_err(|_| KeyError::Invalid("public_key is not an Ed25519 key".into()))?;
                record.kind = CredentialKind::Ed25519;
                record.public_key = Some(hex::encode(bytes));
                None
            }
            None => {
                if new.scope == Level::Public {
                    return Err(KeyError::Invalid(
                        "a key's scope is user, agent or admin".into(),
                    ));
                }
                let secret = format!("{KEY_PREFIX}{}", random_hex(32)?);
                record.prefix = Some(secret[..KEY_PREFIX.len() + 6].to_string());
                record.secret_blake3 = Some(blake3::hash(secret.as_bytes()).to_hex().to_string());
                Some(secret)
            }
        };
        self.with_db(true, |db| {
            let tx = db.begin_write().map_err(store_err)?;
            {
                let t = tx.open_table(TENANTS).map_err(store_err)?;
                if t.get(tenant).map_err(store_err)?.is_none() {
                    return Err(KeyError::TenantNotFound(tenant.into()));
                }
                let mut c = tx.open_table(CREDENTIALS).map_err(store_err)?;
                if let Some(pk) = &record.public_key {
                    for row in c.iter().map_err(store_err)? {
                        let (_, v) = row.map_err(store_err)?;
                        let other: CredentialRecord =
                            serde_json::from_slice(v.value()).map_err(store_err)?;
                        if other.public_key.as_ref() == Some(pk) && other.revoked_at.is_none() {
                            return Err(KeyError::Invalid(format!(
                                "this public key is already registered (`{}` of tenant `{}`)",
                                other.id, other.tenant
                            )));
                        }
                    }
                }
                let bytes = serde_json::to_vec(&record).map_err(store_err)?;
                c.insert(id.as_str(), bytes.as_slice()).map_err(store_err)?;
            }
            tx.commit().map_err(store_err)
        })?;
        Ok((record, secret))
    }

    /// Revokes `tenant`'s credential `id` (kept, marked revoked).
    pub fn revoke(&self, tenant: &str, id: &str) -> Result<CredentialRecord, KeyError> {
        let not_found = || KeyError::KeyNotFound(tenant.into(), id.into());
        self.with_db(false, |db| {
            let tx = db.begin_write().map_err(store_err)?;
            let record = {
                let mut c = tx.open_table(CREDENTIALS).map_err(store_err)?;
                let mut record: CredentialRecord = match c.get(id).map_err(store_err)? {
                    Some(v) => serde_json::from_slice(v.value()).map_err(store_err)?,
                    None => return Err(not_found()),
                };
                if record.tenant != tenant {
                    return Err(not_found());
                }
                record.revoked_at.get_or_insert(unix_now());
                let bytes = serde_json::to_vec(&record).map_err(store_err)?;
                c.insert(id, bytes.as_slice()).map_err(store_err)?;
                record
            };
            tx.commit().map_err(store_err)?;
            Ok(record)
        })?
        .ok_or_else(not_found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stored_hashed_and_revocable() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        assert!(!store.load().unwrap().any());
        assert!(!store.path().exists(), "reading creates nothing");
        store.create_tenant("acme").unwrap();
        assert!(matches!(
            store.create_tenant("acme"),
            Err(KeyError::TenantExists(_))
        ));
        assert!(matches!(
            store.create_tenant("_node"),
            Err(KeyError::InvalidName(_))
        ));
        let (rec, secret) = store.add_key("acme", &NewKey::default()).unwrap();
        let secret = secret.unwrap();
        assert!(secret.starts_with(KEY_PREFIX) && secret.len() == KEY_PREFIX.len() + 64);
        let file = std::fs::read(store.path()).unwrap();
        assert!(
            !file.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "the secret itself is never stored"
        );
        let creds = store.load().unwrap();
        let g = creds.key(secret.as_bytes()).unwrap();
        assert_eq!((g.tenant.as_str(), g.scope), ("acme", Level::User));
        assert!(creds.key(b"hk_wrong").is_none());
        assert!(matches!(
            store.add_key("nobody", &NewKey::default()),
            Err(KeyError::TenantNotFound(_))
        ));
        assert!(matches!(
            store.revoke("other", &rec.id),
            Err(KeyError::KeyNotFound(..))
        ));
        store.revoke("acme", &rec.id).unwrap();
        assert!(store.load().unwrap().key(secret.as_bytes()).is_none());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(store.path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn expired_keys_and_public_keys() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        store.create_tenant("a").unwrap();
        let past = NewKey {
            expires_at: Some(1),
            ..NewKey::default()
        };
        assert!(matches!(
            store.add_key("a", &past),
            Err(KeyError::Invalid(_))
        ));
        let sk = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let pk = hex::encode(sk.verifying_key().as_bytes());
        let new = NewKey {
            public_key: Some(pk.clone()),
            scope: Level::Agent,
            ..NewKey::default()
        };
        let (rec, secret) = store.add_key("a", &new).unwrap();
        assert!(secret.is_none());
        assert_eq!(rec.kind, CredentialKind::Ed25519);
        assert!(store.add_key("a", &new).is_err(), "registered twice");
        let creds = store.load().unwrap();
        let s = creds.signer(sk.verifying_key().as_bytes()).unwrap();
        assert_eq!(s.grant.scope, Level::Agent);
        let bad = NewKey {
            public_key: Some("zz".into()),
            ..NewKey::default()
        };
        assert!(matches!(
            store.add_key("a", &bad),
            Err(KeyError::Invalid(_))
        ));
    }
}
