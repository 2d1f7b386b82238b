//! The node's redb database: one file under the data directory. This module
//! holds plugin key-value data; the job queue keeps its tables in the same
//! file (see `jobs::store`).

use redb::{Database, ReadableTable, TableDefinition, TableHandle};
use std::path::Path;
use std::sync::Arc;

const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");
/// Bytes of kv data (keys as the plugin named them, and values) per tenant,
/// kept in the same transaction as every write.
const KV_BYTES: TableDefinition<&str, u64> = TableDefinition::new("kv_bytes_per_tenant");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] redb::DatabaseError),
    #[error("transaction: {0}")]
    Transaction(Box<redb::TransactionError>),
    #[error("table: {0}")]
    Table(#[from] redb::TableError),
    #[error("storage: {0}")]
    Storage(#[from] redb::StorageError),
    #[error("commit: {0}")]
    Commit(#[from] redb::CommitError),
}

impl From<redb::TransactionError> for StoreError {
    fn from(e: redb::TransactionError) -> Self {
        StoreError::Transaction(Box::new(e))
    }
}

/// A write that would take the tenant's kv data past its quota.
#[derive(Debug, thiserror::Error)]
#[error(
    "tenant `{tenant}` would hold {would} bytes of kv data, over its quota of {quota} (tenants.{tenant}.kv_bytes)"
)]
pub struct OverQuota {
    pub tenant: String,
    pub would: u64,
    pub quota: u64,
}

/// A kv namespace: one tenant's data of one plugin. Encoded as a length-prefixed
/// byte prefix so no choice of names can make two namespaces overlap.
#[derive(Debug, Clone)]
pub struct Namespace {
    prefix: Vec<u8>,
    tenant: String,
}

impl Namespace {
    pub fn new(tenant: &str, plugin: &str) -> Namespace {
        let mut p = Vec::with_capacity(tenant.len() + plugin.len() + 8);
        for part in [tenant, plugin] {
            p.extend_from_slice(&(part.len() as u32).to_be_bytes());
            p.extend_from_slice(part.as_bytes());
        }
        Namespace {
            prefix: p,
            tenant: tenant.to_string(),
        }
    }

    /// The tenant of a stored key and the length of the plugin's own key in it.
    fn split(stored: &[u8]) -> Option<(&str, usize)> {
        let part = |at: usize| -> Option<usize> {
            Some(u32::from_be_bytes(stored.get(at..at + 4)?.try_into().ok()?) as usize)
        };
        let tenant_len = part(0)?;
        let tenant = std::str::from_utf8(stored.get(4..4 + tenant_len)?).ok()?;
        let plugin_at = 4 + tenant_len;
        let own = stored.len().checked_sub(plugin_at + 4 + part(plugin_at)?)?;
        Some((tenant, own))
    }

    fn key(&self, key: &str) -> Vec<u8> {
        let mut k = self.prefix.clone();
        k.extend_from_slice(key.as_bytes());
        k
    }
}

pub struct KvTable {
    db: Arc<Database>,
}

impl KvTable {
    /// Opens (or creates) the database file.
    pub fn open(path: &Path) -> Result<KvTable, StoreError> {
        let db = Database::create(path)?;
        let tx = db.begin_write()?;
        let counted = tx.list_tables()?.any(|t| t.name() == KV_BYTES.name());
        {
            let kv = tx.open_table(KV)?;
            let mut bytes = tx.open_table(KV_BYTES)?;
            // A file from before per-tenant accounting: count what it holds.
            if !counted {
                let mut totals = std::collections::HashMap::<String, u64>::new();
                for entry in kv.iter()? {
                    let (k, v) = entry?;
                    let (k, v) = (k.value(), v.value());
                    if let Some((tenant, own_key)) = Namespace::split(k) {
                        *totals.entry(tenant.to_string()).or_default() +=
                            (own_key + v.len()) as u64;
                    }
                }
                for (tenant, total) in totals {
                    bytes.insert(tenant.as_str(), total)?;
                }
            }
        }
        tx.commit()?;
        Ok(KvTable { db: Arc::new(db) })
    }

    /// The database, for other modules' tables in the same file.
    pub fn database(&self) -> Arc<Database> {
        self.db.clone()
    }

    pub fn kv_get(&self, ns: &Namespace, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(KV)?;
        Ok(table
            .get(ns.key(key).as_slice())?
            .map(|v| v.value().to_vec()))
    }

    /// Stores `value` under `key`, unless the tenant's kv data would then
    /// exceed `quota` bytes (its keys and values across its plugins).
    pub fn kv_set(
        &self,
        ns: &Namespace,
        key: &str,
        value: &[u8],
        quota: Option<u64>,
    ) -> Result<Result<(), OverQuota>, StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(KV)?;
            let mut bytes = tx.open_table(KV_BYTES)?;
            let stored = ns.key(key);
            let old = table
                .get(stored.as_slice())?
                .map_or(0, |v| (key.len() + v.value().len()) as u64);
            let total = bytes.get(ns.tenant.as_str())?.map_or(0, |v| v.value());
            let would = total.saturating_sub(old) + (key.len() + value.len()) as u64;
            if let Some(quota) = quota
                && would > quota
                && would > total
            {
                return Ok(Err(OverQuota {
                    tenant: ns.tenant.clone(),
                    would,
                    quota,
                }));
            }
            table.insert(stored.as_slice(), value)?;
            bytes.insert(ns.tenant.as_str(), would)?;
        }
        tx.commit()?;
        Ok(Ok(()))
    }

    pub fn kv_delete(&self, ns: &Namespace, key: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_write()?;
        let existed = {
            let mut table = tx.open_table(KV)?;
            let mut bytes = tx.open_table(KV_BYTES)?;
            let removed = table
                .remove(ns.key(key).as_slice())?
                .map(|v| (key.len() + v.value().len()) as u64);
            if let Some(size) = removed {
                let total = bytes.get(ns.tenant.as_str())?.map_or(0, |v| v.value());
                bytes.insert(ns.tenant.as_str(), total.saturating_sub(size))?;
            }
            removed.is_some()
        };
        tx.commit()?;
        Ok(existed)
    }

    /// Bytes of kv data `tenant` holds.
    pub fn tenant_bytes(&self, tenant: &str) -> Result<u64, StoreError> {
        let tx = self.db.begin_read()?;
        let bytes = tx.open_table(KV_BYTES)?;
        Ok(bytes.get(tenant)?.map_or(0, |v| v.value()))
    }

    pub fn kv_list(
        &self,
        ns: &Namespace,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(KV)?;
        let start = ns.key(prefix);
        let mut out = Vec::new();
        for entry in table.range(start.as_slice()..)? {
            let (k, _) = entry?;
            let k = k.value();
            if !k.starts_with(&start) || out.len() >= limit {
                break;
            }
            // Keys were written from `&str`, so the suffix is valid UTF-8.
            out.push(String::from_utf8_lossy(&k[ns.prefix.len()..]).into_owned());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_do_not_overlap() {
        let dir = tempfile::tempdir().unwrap();
        let s = KvTable::open(&dir.path().join("node.redb")).unwrap();
        let a = Namespace::new("t1", "p");
        let b = Namespace::new("t1", "p2");
        let c = Namespace::new("t", "1p");
        s.kv_set(&a, "k", b"a", None).unwrap().unwrap();
        s.kv_set(&b, "k", b"b", None).unwrap().unwrap();
        assert_eq!(s.kv_get(&a, "k").unwrap().unwrap(), b"a");
        assert_eq!(s.kv_get(&b, "k").unwrap().unwrap(), b"b");
        assert!(s.kv_get(&c, "k").unwrap().is_none());
        assert_eq!(s.kv_list(&a, "", 10).unwrap(), vec!["k"]);
        assert!(s.kv_delete(&a, "k").unwrap());
        assert!(!s.kv_delete(&a, "k").unwrap());
        assert_eq!(s.kv_list(&b, "k", 10).unwrap(), vec!["k"]);
    }

    #[test]
    fn data_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.redb");
        let ns = Namespace::new("t", "p");
        KvTable::open(&path)
            .unwrap()
            .kv_set(&ns, "x", b"1", None)
            .unwrap()
            .unwrap();
        assert_eq!(
            KvTable::open(&path)
                .unwrap()
                .kv_get(&ns, "x")
                .unwrap()
                .unwrap(),
            b"1"
        );
    }

    #[test]
    fn a_tenants_quota_counts_its_keys_and_values_across_plugins() {
        let dir = tempfile::tempdir().unwrap();
        let s = KvTable::open(&dir.path().join("node.redb")).unwrap();
        let (a1, a2, b) = (
            Namespace::new("a", "p1"),
            Namespace::new("a", "p2"),
            Namespace::new("b", "p1"),
        );
        let quota = Some(10);
        s.kv_set(&a1, "k", b"1234", quota).unwrap().unwrap();
        s.kv_set(&a2, "k", b"1234", quota).unwrap().unwrap();
        assert_eq!(s.tenant_bytes("a").unwrap(), 10);
        let over = s.kv_set(&a1, "k2", b"1", quota).unwrap().unwrap_err();
        assert_eq!((over.would, over.quota), (13, 10));
        assert!(over.to_string().contains("tenants.a.kv_bytes"), "{over}");
        assert!(
            s.kv_get(&a1, "k2").unwrap().is_none(),
            "a refused write stores nothing"
        );
        // Another tenant's data is its own; overwriting counts the difference.
        s.kv_set(&b, "k", b"123456789", quota).unwrap().unwrap();
        s.kv_set(&a1, "k", b"12", quota).unwrap().unwrap();
        assert_eq!(s.tenant_bytes("a").unwrap(), 8);
        assert!(s.kv_delete(&a2, "k").unwrap());
        assert_eq!(s.tenant_bytes("a").unwrap(), 3);
        s.kv_set(&a1, "k2", b"1234", quota).unwrap().unwrap();
        assert_eq!(s.tenant_bytes("b").unwrap(), 10);
    }

    #[test]
    fn a_file_from_before_accounting_is_counted_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.redb");
        {
            let s = KvTable::open(&path).unwrap();
            s.kv_set(&Namespace::new("a", "plugin"), "key", b"value", None)
                .unwrap()
                .unwrap();
            s.kv_set(&Namespace::new("b", "p"), "k", b"v", None)
                .unwrap()
                .unwrap();
            let tx = s.db.begin_write().unwrap();
            tx.delete_table(KV_BYTES).unwrap();
            tx.commit().unwrap();
        }
        let s = KvTable::open(&path).unwrap();
        assert_eq!(s.tenant_bytes("a").unwrap(), 8);
        assert_eq!(s.tenant_bytes("b").unwrap(), 2);
    }
}
