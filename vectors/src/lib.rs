//! The node's vector store, embedded LanceDB under the data directory.
//!
//! A collection belongs to one tenant and one namespace and is a LanceDB
//! table of its own, never a filter over a shared one: a tenant's search
//! cannot reach another's rows whatever its filter says, and a prefilter on
//! clustered data would cost recall. A row is an `id` (upserts replace by
//! it), a `vector` of the collection's dimension, an optional `text` (for
//! full-text and hybrid search), `metadata` (any JSON object, returned with
//! hits) and the typed `fields` the collection declares, copied out of the
//! metadata into columns so that an SQL filter (`lang = 'en' AND year >
//! 2020`) can use them.
//!
//! Searches are by vector (nearest neighbours under the collection's
//! metric), by text (BM25 over `text`) or both (hybrid: the two rankings
//! fused). A collection that grows is indexed and compacted in the
//! background ([`VectorStore::maintain`]): an ANN index once it holds
//! enough rows to train one, a full-text index, and compaction of the
//! small files each write leaves.

mod collection;
mod names;
mod rows;

pub use collection::{
    Collection, CollectionInfo, CollectionSpec, FieldType, Hit, Metric, Query, Tuning,
};
pub use names::Scope;
pub use rows::Record;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::Mutex;

/// Why a store operation failed, in a form an API can answer with.
#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    /// The request is not acceptable; the message names what.
    #[error("{0}")]
    Invalid(String),
    #[error("no collection `{0}`")]
    NotFound(String),
    #[error("collection `{0}` exists already")]
    Exists(String),
    /// The store itself failed.
    #[error("vector store: {0}")]
    Store(String),
}

impl From<lancedb::Error> for VectorError {
    fn from(e: lancedb::Error) -> Self {
        VectorError::Store(e.to_string())
    }
}

impl From<arrow_schema::ArrowError> for VectorError {
    fn from(e: arrow_schema::ArrowError) -> Self {
        VectorError::Store(e.to_string())
    }
}

pub type Result<T> = std::result::Result<T, VectorError>;

/// Every collection of every tenant, in one directory.
pub struct VectorStore {
    db: lancedb::Connection,
    dir: PathBuf,
    /// Collections opened, by table name.
    open: Mutex<HashMap<String, Arc<Collection>>>,
    tuning: Tuning,
}

impl VectorStore {
    /// Opens (or creates) the store in `dir`.
    pub async fn open(dir: &Path) -> Result<VectorStore> {
        Self::open_tuned(dir, Tuning::default()).await
    }

    /// Opens the store with its searches tuned as `tuning` says.
    pub async fn open_tuned(dir: &Path, tuning: Tuning) -> Result<VectorStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| VectorError::Store(format!("cannot create {}: {e}", dir.display())))?;
        let uri = dir
            .to_str()
            .ok_or_else(|| VectorError::Store(format!("{} is not UTF-8", dir.display())))?;
        let db = lancedb::connect(uri).execute().await?;
        Ok(VectorStore {
            db,
            dir: dir.to_path_buf(),
            open: Mutex::new(HashMap::new()),
            tuning,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates collection `name` in `scope`.
    pub async fn create(
        &self,
        scope: &Scope,
        name: &str,
        spec: CollectionSpec,
    ) -> Result<Arc<Collection>> {
        let table = scope.table(name)?;
        spec.check()?;
        let mut open = self.open.lock().await;
        if open.contains_key(&table) {
            return Err(VectorError::Exists(name.to_string()));
        }
        let collection =
            Arc::new(Collection::create(&self.db, &table, name, spec, self.tuning).await?);
        open.insert(table, collection.clone());
        Ok(collection)
    }

    /// Collection `name` of `scope`.
    pub async fn get(&self, scope: &Scope, name: &str) -> Result<Arc<Collection>> {
        let table = scope.table(name)?;
        let mut open = self.open.lock().await;
        if let Some(c) = open.get(&table) {
            return Ok(c.clone());
        }
        let collection = Arc::new(Collection::open(&self.db, &table, name, self.tuning).await?);
        open.insert(table, collection.clone());
        Ok(collection)
    }

    /// The names of `scope`'s collections, sorted.
    pub async fn list(&self, scope: &Scope) -> Result<Vec<String>> {
        let prefix = scope.prefix();
        let mut names: Vec<String> = self
            .db
            .table_names()
            .execute()
            .await?
            .into_iter()
            .filter_map(|t| names::collection_of(&t, &prefix))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Rows in all of `tenant`'s collections, every namespace (for quotas).
    pub async fn tenant_rows(&self, tenant: &str) -> Result<usize> {
        let prefix = Scope::tenant_prefix(tenant);
        let tables: Vec<String> = self
            .db
            .table_names()
            .execute()
            .await?
            .into_iter()
            .filter(|t| t.starts_with(&prefix))
            .collect();
        let mut rows = 0;
        for table in tables {
            let open = self.open.lock().await.get(&table).cloned();
            rows += match open {
                Some(c) => c.count().await?,
                None => {
                    self.db
                        .open_table(&table)
                        .execute()
                        .await?
                        .count_rows(None)
                        .await?
                }
            };
        }
        Ok(rows)
    }

    /// Drops collection `name` of `scope` and its files; false when there
    /// was none.
    pub async fn drop_collection(&self, scope: &Scope, name: &str) -> Result<bool> {
        let table = scope.table(name)?;
        let mut open = self.open.lock().await;
        open.remove(&table);
        match self.db.drop_table(&table, &[]).await {
            Ok(()) => Ok(true),
            Err(lancedb::Error::TableNotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Indexes and compacts every open collection that needs it (the
    /// node's background maintenance calls this periodically).
    pub async fn maintain(&self) -> Result<usize> {
        let collections: Vec<Arc<Collection>> = self.open.lock().await.values().cloned().collect();
        let mut done = 0;
        for c in collections {
            if c.maintain().await? {
                done += 1;
            }
        }
        Ok(done)
    }
}
