//! `hanzo:node/vectors`: collections on the node's vector store
//! (`crate::vectors`), scoped to the calling tenant (the call's, never the
//! plugin's to name) and a namespace the plugin names. A plugin needs
//! `permissions.vectors`; a tenant's `vector_rows` quota bounds what its
//! upserts may add.

use crate::bindings::vectors::{
    CollectionInfo, CollectionSpec, Hit, Host, Query, Record, VectorsError,
};
use crate::call_state::CallState;
use crate::grants::Capability;

type Answer<T> = wasmtime::Result<Result<T, VectorsError>>;

#[cfg(feature = "vectors")]
mod built {
    use super::*;
    use crate::bindings::vectors::{FieldType, Metric};
    use crate::call_state::Services;
    use crate::vectors::{self as store, Scope, VectorError};
    use serde_json::{Map, Value};
    use std::sync::Arc;

    /// Longest metadata object of one record, in bytes of JSON.
    const MAX_METADATA: usize = 64 * 1024;
    /// Longest text of one record.
    const MAX_TEXT: usize = 1 << 20;

    impl From<VectorError> for VectorsError {
        fn from(e: VectorError) -> Self {
            match e {
                VectorError::Invalid(m) => VectorsError::Invalid(m),
                VectorError::NotFound(n) => VectorsError::NotFound(n),
                VectorError::Exists(n) => VectorsError::Exists(n),
                VectorError::Store(m) => VectorsError::Store(m),
            }
        }
    }

    /// The node and the call's scope, or the refusal answered.
    macro_rules! granted {
        ($state:expr, $namespace:expr) => {
            match $state.vectors(&$namespace)? {
                Ok(granted) => granted,
                Err(e) => return Ok(Err(e)),
            }
        };
    }

    impl CallState {
        /// The node and this call's scope in its store, when the plugin
        /// holds `permissions.vectors`. Synchronous: the call's state is not
        /// `Sync`, so the futures below hold only what this returns.
        fn vectors(
            &self,
            namespace: &str,
        ) -> wasmtime::Result<Result<(Arc<dyn Services>, Scope), VectorsError>> {
            Ok(match self.granted(Capability::Vectors)? {
                Ok(node) => Ok((node, Scope::new(self.tenant.as_str(), namespace))),
                Err(denied) => Err(VectorsError::Denied(denied.to_string())),
            })
        }
    }

    fn spec_in(spec: CollectionSpec) -> store::CollectionSpec {
        store::CollectionSpec {
            dimension: spec.dimension,
            metric: match spec.metric {
                Metric::Cosine => store::Metric::Cosine,
                Metric::L2 => store::Metric::L2,
                Metric::Dot => store::Metric::Dot,
            },
            fields: spec
                .fields
                .into_iter()
                .map(|(name, ty)| {
                    let ty = match ty {
                        FieldType::String => store::FieldType::String,
                        FieldType::Int => store::FieldType::Int,
                        FieldType::Float => store::FieldType::Float,
                        FieldType::Bool => store::FieldType::Bool,
                    };
                    (name, ty)
                })
                .collect(),
            model: spec.model,
        }
    }

    fn info_out(info: store::CollectionInfo) -> CollectionInfo {
        let spec = info.spec;
        CollectionInfo {
            name: info.name,
            spec: CollectionSpec {
                dimension: spec.dimension,
                metric: match spec.metric {
                    store::Metric::Cosine => Metric::Cosine,
                    store::Metric::L2 => Metric::L2,
                    store::Metric::Dot => Metric::Dot,
                },
                fields: spec
                    .fields
                    .into_iter()
                    .map(|(name, ty)| {
                        let ty = match ty {
                            store::FieldType::String => FieldType::String,
                            store::FieldType::Int => FieldType::Int,
                            store::FieldType::Float => FieldType::Float,
                            store::FieldType::Bool => FieldType::Bool,
                        };
                        (name, ty)
                    })
                    .collect(),
                model: spec.model,
            },
            rows: info.rows as u64,
            indexed: info.indexed,
        }
    }

    /// A record as the store takes it, or what is wrong with it.
    fn record_in(r: Record) -> Result<store::Record, VectorsError> {
        let metadata = if r.metadata.trim().is_empty() {
            Map::new()
        } else if r.metadata.len() > MAX_METADATA {
            return Err(VectorsError::Invalid(format!(
                "record `{}`: metadata is larger than {MAX_METADATA} bytes",
                r.id.escape_debug()
            )));
        } else {
            match serde_json::from_str::<Value>(&r.metadata) {
                Ok(Value::Object(m)) => m,
                _ => {
                    return Err(VectorsError::Invalid(format!(
                        "record `{}`: metadata must be a JSON object",
                        r.id.escape_debug()
                    )));
                }
            }
        };
        if r.text.as_ref().is_some_and(|t| t.len() > MAX_TEXT) {
            return Err(VectorsError::Invalid(format!(
                "record `{}`: text is larger than {MAX_TEXT} bytes",
                r.id.escape_debug()
            )));
        }
        Ok(store::Record {
            id: r.id,
            vector: r.vector,
            text: r.text,
            metadata,
        })
    }

    fn hit_out(h: store::Hit) -> Hit {
        Hit {
            id: h.id,
            distance: h.distance,
            score: h.score,
            text: h.text,
            metadata: Value::Object(h.metadata).to_string(),
        }
    }

    impl Host for CallState {
        async fn create(
            &mut self,
            namespace: String,
            name: String,
            spec: CollectionSpec,
        ) -> Answer<CollectionInfo> {
            let (node, scope) = granted!(self, namespace);
            Ok(async move {
                let store = node.vectors().store().await?;
                let c = store.create(&scope, &name, spec_in(spec)).await?;
                Ok(info_out(c.info().await?))
            }
            .await
            .map_err(|e: VectorError| e.into()))
        }

        async fn list(&mut self, namespace: String) -> Answer<Vec<CollectionInfo>> {
            let (node, scope) = granted!(self, namespace);
            Ok(async move {
                let store = node.vectors().store().await?;
                let mut out = Vec::new();
                for name in store.list(&scope).await? {
                    // Dropped meanwhile: not listed.
                    match store.get(&scope, &name).await {
                        Ok(c) => out.push(info_out(c.info().await?)),
                        Err(VectorError::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(out)
            }
            .await
            .map_err(|e: VectorError| e.into()))
        }

        async fn info(&mut self, namespace: String, name: String) -> Answer<CollectionInfo> {
            let (node, scope) = granted!(self, namespace);
            Ok(async move {
                let store = node.vectors().store().await?;
                Ok(info_out(store.get(&scope, &name).await?.info().await?))
            }
            .await
            .map_err(|e: VectorError| e.into()))
        }

        async fn drop(&mut self, namespace: String, name: String) -> Answer<bool> {
            let (node, scope) = granted!(self, namespace);
            Ok(async move {
                let store = node.vectors().store().await?;
                store.drop_collection(&scope, &name).await
            }
            .await
            .map_err(|e: VectorError| e.into()))
        }

        async fn upsert(
            &mut self,
            namespace: String,
            name: String,
            records: Vec<Record>,
        ) -> Answer<u32> {
            let (node, scope) = granted!(self, namespace);
            let records: Vec<store::Record> = match records.into_iter().map(record_in).collect() {
                Ok(records) => records,
                Err(e) => return Ok(Err(e)),
            };
            let quota = node.vector_rows_quota(&self.tenant);
            let tenant = self.tenant.clone();
            Ok(async move {
                let store = node.vectors().store().await?;
                let c = store.get(&scope, &name).await?;
                if let Some(quota) = quota {
                    // Each record counts as new: a replacement is refused
                    // near the quota rather than a tenant let past it.
                    let rows = store.tenant_rows(tenant.as_str()).await? as u64;
                    if rows + records.len() as u64 > quota {
                        return Ok(Err(VectorsError::QuotaExceeded(format!(
                            "tenant `{tenant}` holds {rows} vector rows of its quota of \
                             {quota} (tenants.{tenant}.vector_rows); {} more do not fit",
                            records.len()
                        ))));
                    }
                }
                Ok(Ok(c.upsert(&records).await? as u32))
            }
            .await
            .unwrap_or_else(|e: VectorError| Err(e.into())))
        }

        async fn delete(
            &mut self,
            namespace: String,
            name: String,
            ids: Vec<String>,
        ) -> Answer<u32> {
            let (node, scope) = granted!(self, namespace);
            Ok(async move {
                let store = node.vectors().store().await?;
                Ok(store.get(&scope, &name).await?.delete(&ids).await? as u32)
            }
            .await
            .map_err(|e: VectorError| e.into()))
        }

        async fn search(
            &mut self,
            namespace: String,
            name: String,
            query: Query,
        ) -> Answer<Vec<Hit>> {
            let (node, scope) = granted!(self, namespace);
            let query = store::Query {
                vector: query.vector,
                text: query.text,
                filter: query.filter,
                k: (query.k > 0).then_some(query.k as usize),
            };
            Ok(async move {
                let store = node.vectors().store().await?;
                let hits = store.get(&scope, &name).await?.search(&query).await?;
                Ok(hits.into_iter().map(hit_out).collect())
            }
            .await
            .map_err(|e: VectorError| e.into()))
        }
    }
}

#[cfg(not(feature = "vectors"))]
mod not_built {
    use super::*;
    use crate::vectors::NOT_BUILT;

    impl CallState {
        /// The grant's refusal, else the answer that there is no store.
        fn no_vectors<T>(&self) -> Answer<T> {
            Ok(Err(match self.granted(Capability::Vectors)? {
                Ok(_) => VectorsError::Store(NOT_BUILT.to_string()),
                Err(denied) => VectorsError::Denied(denied.to_string()),
            }))
        }
    }

    impl Host for CallState {
        async fn create(
            &mut self,
            _: String,
            _: String,
            _: CollectionSpec,
        ) -> Answer<CollectionInfo> {
            self.no_vectors()
        }
        async fn list(&mut self, _: String) -> Answer<Vec<CollectionInfo>> {
            self.no_vectors()
        }
        async fn info(&mut self, _: String, _: String) -> Answer<CollectionInfo> {
            self.no_vectors()
        }
        async fn drop(&mut self, _: String, _: String) -> Answer<bool> {
            self.no_vectors()
        }
        async fn upsert(&mut self, _: String, _: String, _: Vec<Record>) -> Answer<u32> {
            self.no_vectors()
        }
        async fn delete(&mut self, _: String, _: String, _: Vec<String>) -> Answer<u32> {
            self.no_vectors()
        }
        async fn search(&mut self, _: String, _: String, _: Query) -> Answer<Vec<Hit>> {
            self.no_vectors()
        }
    }
}
