//! The node's vector store: `hanzo-node-vectors` (embedded LanceDB) under
//! `<data>/vectors`, opened on first use so that a node whose plugins never
//! store a vector never opens it, and maintained in the background (ANN
//! index once a collection is large enough, full-text index, compaction).
//! Built without the `vectors` feature, every use answers that the node has
//! no vector store.

use serde::Deserialize;
use std::path::PathBuf;
#[cfg(feature = "vectors")]
use std::sync::Arc;
use std::sync::Weak;
use std::time::Duration;

#[cfg(feature = "vectors")]
pub use hanzo_node_vectors::{
    CollectionInfo, CollectionSpec, FieldType, Hit, Metric, Query, Record, Scope, VectorError,
    VectorStore,
};

/// `[vectors]` in node.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VectorsConfig {
    /// Seconds between background upkeep rounds (index builds, compaction).
    pub maintain_every_s: u64,
}

impl Default for VectorsConfig {
    fn default() -> Self {
        VectorsConfig {
            maintain_every_s: 30,
        }
    }
}

impl VectorsConfig {
    pub fn problem(&self) -> Option<String> {
        (self.maintain_every_s == 0 || self.maintain_every_s > 86_400)
            .then(|| "vectors.maintain_every_s must be between 1 and 86400".to_string())
    }
}

/// Why the store cannot serve, when it is not the request's fault.
#[cfg(not(feature = "vectors"))]
pub const NOT_BUILT: &str =
    "this node was built without the vector store (the hanzo-node crate's `vectors` feature)";

/// The store, opened on first use.
pub struct Vectors {
    #[cfg_attr(not(feature = "vectors"), allow(dead_code))]
    dir: PathBuf,
    #[cfg(feature = "vectors")]
    store: tokio::sync::OnceCell<Arc<VectorStore>>,
}

impl Vectors {
    pub fn new(dir: PathBuf) -> Vectors {
        Vectors {
            dir,
            #[cfg(feature = "vectors")]
            store: tokio::sync::OnceCell::new(),
        }
    }

    /// The store, opening it on the first call.
    #[cfg(feature = "vectors")]
    pub async fn store(&self) -> Result<&Arc<VectorStore>, VectorError> {
        self.store
            .get_or_try_init(|| async {
                let store = VectorStore::open(&self.dir).await?;
                tracing::info!(dir = %self.dir.display(), "vector store opened");
                Ok(Arc::new(store))
            })
            .await
    }

    /// One upkeep round over the collections opened so far.
    #[cfg(feature = "vectors")]
    async fn maintain(&self) {
        let Some(store) = self.store.get() else {
            return;
        };
        match store.maintain().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(collections = n, "vector collections indexed or compacted"),
            Err(e) => tracing::warn!(%e, "vector store upkeep failed"),
        }
    }
}

/// Runs upkeep every `every` while the node (`vectors`' owner) lives.
pub async fn maintain_forever(vectors: Weak<Vectors>, every: Duration) {
    #[cfg(feature = "vectors")]
    loop {
        tokio::time::sleep(every).await;
        let Some(vectors) = vectors.upgrade() else {
            return;
        };
        vectors.maintain().await;
    }
    #[cfg(not(feature = "vectors"))]
    let _ = (vectors, every);
}
