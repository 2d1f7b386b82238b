//! The tenant's vector collections (`hanzo:node/vectors`, since hanzo:node
//! 0.3.2), on the node's embedded LanceDB: create one with a dimension and
//! metric, upsert and delete records by id, search by vector, text or both.
//!
//! ```no_run
//! use hanzo_node_sdk::vectors::{self, CollectionSpec, Query, Record};
//!
//! vectors::create("docs", "notes", &CollectionSpec::new(3)).unwrap();
//! vectors::upsert("docs", "notes", &[Record::new("a", vec![1.0, 0.0, 0.0])
//!     .text("the first note")
//!     .metadata(&serde_json::json!({"lang": "en"}))]).unwrap();
//! let hits = vectors::search("docs", "notes", &Query::vector(vec![1.0, 0.0, 0.0], 5)).unwrap();
//! ```
//!
//! The tenant is the call's: a plugin reaches only the collections of the
//! tenant it runs for, in any namespace it names. Access needs
//! `permissions.vectors = true` in the manifest, granted by the operator;
//! without it every call fails with [`VectorsError::Denied`], naming the grant.

pub use crate::wit::hanzo::node::vectors::{
    CollectionInfo, CollectionSpec, FieldType, Hit, Metric, Query, Record, VectorsError,
};

#[cfg(target_arch = "wasm32")]
use crate::wit::hanzo::node::vectors as host;

impl VectorsError {
    /// The error in words (the generated `Display` only names the case).
    pub fn message(&self) -> String {
        match self {
            VectorsError::Denied(m)
            | VectorsError::Invalid(m)
            | VectorsError::QuotaExceeded(m)
            | VectorsError::Store(m) => m.clone(),
            VectorsError::NotFound(name) => format!("no collection `{name}`"),
            VectorsError::Exists(name) => format!("collection `{name}` exists already"),
        }
    }
}

impl CollectionSpec {
    /// Vectors of `dimension`, cosine distance, no typed fields, no model.
    pub fn new(dimension: u32) -> CollectionSpec {
        CollectionSpec {
            dimension,
            metric: Metric::Cosine,
            fields: Vec::new(),
            model: None,
        }
    }
}

impl Record {
    pub fn new(id: impl Into<String>, vector: Vec<f32>) -> Record {
        Record {
            id: id.into(),
            vector,
            text: None,
            metadata: "{}".into(),
        }
    }

    pub fn text(mut self, text: impl Into<String>) -> Record {
        self.text = Some(text.into());
        self
    }

    /// `metadata` must be a JSON object.
    pub fn metadata(mut self, metadata: &serde_json::Value) -> Record {
        self.metadata = metadata.to_string();
        self
    }
}

impl Query {
    /// The `k` nearest neighbours of `vector`.
    pub fn vector(vector: Vec<f32>, k: u32) -> Query {
        Query {
            vector: Some(vector),
            text: None,
            filter: None,
            k,
        }
    }

    /// The `k` rows whose text best matches `text` (BM25).
    pub fn text(text: impl Into<String>, k: u32) -> Query {
        Query {
            vector: None,
            text: Some(text.into()),
            filter: None,
            k,
        }
    }
}

impl Hit {
    /// The metadata as a JSON value.
    pub fn metadata_json(&self) -> serde_json::Value {
        serde_json::from_str(&self.metadata).unwrap_or(serde_json::Value::Null)
    }
}

macro_rules! host_call {
    ($call:expr, $($arg:ident),*) => {{
        #[cfg(target_arch = "wasm32")]
        return $call;
        #[cfg(not(target_arch = "wasm32"))]
        {
            let _ = ($($arg,)*);
            Err(VectorsError::Store(crate::NO_HOST.to_string()))
        }
    }};
}

pub fn create(
    namespace: &str,
    name: &str,
    spec: &CollectionSpec,
) -> Result<CollectionInfo, VectorsError> {
    host_call!(host::create(namespace, name, spec), namespace, name, spec)
}

/// The namespace's collections, sorted by name.
pub fn list(namespace: &str) -> Result<Vec<CollectionInfo>, VectorsError> {
    host_call!(host::list(namespace), namespace)
}

pub fn info(namespace: &str, name: &str) -> Result<CollectionInfo, VectorsError> {
    host_call!(host::info(namespace, name), namespace, name)
}

/// Drops the collection; true when it existed.
pub fn drop(namespace: &str, name: &str) -> Result<bool, VectorsError> {
    host_call!(host::drop(namespace, name), namespace, name)
}

/// Inserts `records`, replacing those whose id exists; the number written.
pub fn upsert(namespace: &str, name: &str, records: &[Record]) -> Result<u32, VectorsError> {
    host_call!(
        host::upsert(namespace, name, records),
        namespace,
        name,
        records
    )
}

/// Deletes by id; the number deleted.
pub fn delete(namespace: &str, name: &str, ids: &[String]) -> Result<u32, VectorsError> {
    host_call!(host::delete(namespace, name, ids), namespace, name, ids)
}

pub fn search(namespace: &str, name: &str, query: &Query) -> Result<Vec<Hit>, VectorsError> {
    host_call!(host::search(namespace, name, query), namespace, name, query)
}
