//! The node's redb database: one file under the data directory. This module
//! holds plugin key-value data; the job queue keeps its tables in the same
//! file (see `jobs::store`).

use redb::{Database, TableDefinition};
use std::path::Path;
use std::sync::Arc;

const KV: TableDefinition<&[u8], &[u8]> = TableDefinition::new("kv");

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

/// A kv namespace: one tenant's data of one plugin. Encoded as a length-prefixed
/// byte prefix so no choice of names can make two namespaces overlap.
#[derive(Debug, Clone)]
pub struct Namespace(Vec<u8>);

impl Namespace {
    pub fn new(tenant: &str, plugin: &str) -> Namespace {
        let mut p = Vec::with_capacity(tenant.len() + plugin.len() + 8);
        for part in [tenant, plugin] {
            p.extend_from_slice(&(part.len() as u32).to_be_bytes());
            p.extend_from_slice(part.as_bytes());
        }
        Namespace(p)
    }

    fn key(&self, key: &str) -> Vec<u8> {
        let mut k = self.0.clone();
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
        tx.open_table(KV)?;
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

    pub fn kv_set(&self, ns: &Namespace, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(KV)?;
            table.insert(ns.key(key).as_slice(), value)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn kv_delete(&self, ns: &Namespace, key: &str) -> Result<bool, StoreError> {
        let tx = self.db.begin_write()?;
        let existed = {
            let mut table = tx.open_table(KV)?;
            table.remove(ns.key(key).as_slice())?.is_some()
        };
        tx.commit()?;
        Ok(existed)
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
            out.push(String::from_utf8_lossy(&k[ns.0.len()..]).into_owned());
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
        s.kv_set(&a, "k", b"a").unwrap();
        s.kv_set(&b, "k", b"b").unwrap();
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
            .kv_set(&ns, "x", b"1")
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
}
