//! One collection: its spec (dimension, metric, typed fields) kept in the
//! table's schema metadata, writes (upsert by id, delete by id), searches
//! (vector, text, hybrid, each with an optional SQL filter over the typed
//! fields) and its upkeep (ANN and full-text indexes, compaction).

use crate::rows::{self, Record};
use crate::{Result, VectorError};
use arrow_array::{RecordBatchIterator, RecordBatchReader};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use futures::TryStreamExt;
use lancedb::DistanceType;
use lancedb::index::Index;
use lancedb::index::scalar::{FtsIndexBuilder, FullTextSearchQuery};
use lancedb::index::vector::IvfHnswSqIndexBuilder;
use lancedb::query::{ExecutableQuery, QueryBase, QueryExecutionOptions, Select};
use lancedb::table::OptimizeAction;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::Mutex;

/// Largest dimension.
pub const MAX_DIMENSION: u32 = 4096;
/// Most typed fields.
pub const MAX_FIELDS: usize = 32;
/// Most results of one search.
pub const MAX_K: usize = 1000;
/// Most records in one upsert.
pub const MAX_BATCH: usize = 10_000;
/// Rows from which an ANN index is built (training needs enough of them;
/// below this an exact scan is fast and exact).
pub const INDEX_MIN_ROWS: usize = 10_000;
/// Schema metadata keys of the spec.
const SPEC_KEY: &str = "hanzo.collection";

/// How distance is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    #[default]
    Cosine,
    L2,
    Dot,
}

impl Metric {
    fn lance(self) -> DistanceType {
        match self {
            Metric::Cosine => DistanceType::Cosine,
            Metric::L2 => DistanceType::L2,
            Metric::Dot => DistanceType::Dot,
        }
    }
}

/// A typed field copied out of the metadata into a column of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Int,
    Float,
    Bool,
}

impl FieldType {
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::String => "string",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Bool => "bool",
        }
    }

    fn arrow(self) -> DataType {
        match self {
            FieldType::String => DataType::Utf8,
            FieldType::Int => DataType::Int64,
            FieldType::Float => DataType::Float64,
            FieldType::Bool => DataType::Boolean,
        }
    }

    /// Whether JSON value `v` is of this type.
    pub fn holds(self, v: &Value) -> bool {
        match self {
            FieldType::String => v.is_string(),
            FieldType::Int => v.is_i64() || v.is_u64() && v.as_i64().is_some(),
            FieldType::Float => v.is_number(),
            FieldType::Bool => v.is_boolean(),
        }
    }
}

/// What a collection is made with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionSpec {
    pub dimension: u32,
    #[serde(default)]
    pub metric: Metric,
    /// Metadata keys filters may name, with their types.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldType>,
    /// The embedding model its vectors come from (a router alias), kept for
    /// callers that embed texts before writing or searching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

/// Longest model name.
const MAX_MODEL: usize = 256;

/// Columns every collection has; a field may not take their names.
const OWN_COLUMNS: &[&str] = &["id", "vector", "text", "metadata"];

impl CollectionSpec {
    pub(crate) fn check(&self) -> Result<()> {
        if self.dimension == 0 || self.dimension > MAX_DIMENSION {
            return Err(VectorError::Invalid(format!(
                "dimension must be between 1 and {MAX_DIMENSION}"
            )));
        }
        if self
            .model
            .as_ref()
            .is_some_and(|m| m.is_empty() || m.len() > MAX_MODEL)
        {
            return Err(VectorError::Invalid(format!(
                "model must be 1 to {MAX_MODEL} bytes"
            )));
        }
        if self.fields.len() > MAX_FIELDS {
            return Err(VectorError::Invalid(format!("at most {MAX_FIELDS} fields")));
        }
        for name in self.fields.keys() {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name.starts_with(|c: char| c.is_ascii_lowercase())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                && !OWN_COLUMNS.contains(&name.as_str())
                && !name.starts_with('_');
            if !ok {
                return Err(VectorError::Invalid(format!(
                    "field `{}` must be 1-64 of [a-z0-9_], start with a letter, and not be \
                     one of {}",
                    name.escape_debug(),
                    OWN_COLUMNS.join(", ")
                )));
            }
        }
        Ok(())
    }

    fn schema(&self) -> Schema {
        let mut fields = vec![
            Field::new("id", DataType::Utf8, false),
            Field::new(
                "vector",
                DataType::FixedSizeList(
                    Arc::new(Field::new("item", DataType::Float32, true)),
                    self.dimension as i32,
                ),
                false,
            ),
            Field::new("text", DataType::Utf8, true),
            Field::new("metadata", DataType::Utf8, true),
        ];
        for (name, ty) in &self.fields {
            fields.push(Field::new(name, ty.arrow(), true));
        }
        let spec = serde_json::to_string(self).expect("a spec serializes");
        Schema::new_with_metadata(fields, HashMap::from([(SPEC_KEY.to_string(), spec)]))
    }
}

/// One search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// Nearest neighbours of this vector.
    #[serde(default)]
    pub vector: Option<Vec<f32>>,
    /// Full-text search of `text` (BM25); with `vector`, hybrid.
    #[serde(default)]
    pub text: Option<String>,
    /// An SQL condition over the typed fields (and `id`).
    #[serde(default)]
    pub filter: Option<String>,
    /// How many (default 10).
    #[serde(default)]
    pub k: Option<usize>,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Hit {
    pub id: String,
    /// The vector's distance to the query's (vector search; lower is nearer).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance: Option<f32>,
    /// The text or hybrid relevance (higher is better).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub metadata: Map<String, Value>,
}

/// What a collection holds, for listings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CollectionInfo {
    pub name: String,
    #[serde(flatten)]
    pub spec: CollectionSpec,
    pub rows: usize,
    /// An ANN index serves its vector searches (else they scan).
    pub indexed: bool,
}

pub struct Collection {
    name: String,
    table: lancedb::Table,
    spec: CollectionSpec,
    schema: SchemaRef,
    /// Writes one at a time (merge-insert commits would conflict).
    write: Mutex<()>,
    /// Writes since the last upkeep.
    writes: AtomicU64,
    tuning: Tuning,
}

impl Collection {
    pub(crate) async fn create(
        db: &lancedb::Connection,
        table: &str,
        name: &str,
        spec: CollectionSpec,
        tuning: Tuning,
    ) -> Result<Collection> {
        let schema: SchemaRef = Arc::new(spec.schema());
        let table = db
            .create_empty_table(table, schema.clone())
            .execute()
            .await
            .map_err(|e| match e {
                lancedb::Error::TableAlreadyExists { .. } => VectorError::Exists(name.to_string()),
                e => e.into(),
            })?;
        Ok(Collection::new(name, table, spec, schema, 0, tuning))
    }

    pub(crate) async fn open(
        db: &lancedb::Connection,
        table: &str,
        name: &str,
        tuning: Tuning,
    ) -> Result<Collection> {
        let table = db.open_table(table).execute().await.map_err(|e| match e {
            lancedb::Error::TableNotFound { .. } => VectorError::NotFound(name.to_string()),
            e => e.into(),
        })?;
        let schema = table.schema().await?;
        let spec: CollectionSpec = schema
            .metadata()
            .get(SPEC_KEY)
            .and_then(|s| serde_json::from_str(s).ok())
            .ok_or_else(|| {
                VectorError::Store(format!("collection `{name}` has no readable spec"))
            })?;
        // Writes since the last upkeep unknown: look at it at the next one.
        Ok(Collection::new(name, table, spec, schema, 1, tuning))
    }

    fn new(
        name: &str,
        table: lancedb::Table,
        spec: CollectionSpec,
        schema: SchemaRef,
        writes: u64,
        tuning: Tuning,
    ) -> Collection {
        Collection {
            name: name.to_string(),
            table,
            spec,
            schema,
            write: Mutex::new(()),
            writes: AtomicU64::new(writes),
            tuning,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn spec(&self) -> &CollectionSpec {
        &self.spec
    }

    pub async fn info(&self) -> Result<CollectionInfo> {
        Ok(CollectionInfo {
            name: self.name.clone(),
            spec: self.spec.clone(),
            rows: self.table.count_rows(None).await?,
            indexed: self.vector_index().await?,
        })
    }

    /// Inserts `records`, replacing those whose id exists.
    pub async fn upsert(&self, records: &[Record]) -> Result<usize> {
        if records.is_empty() {
            return Ok(0);
        }
        if records.len() > MAX_BATCH {
            return Err(VectorError::Invalid(format!(
                "at most {MAX_BATCH} records at once"
            )));
        }
        let dimension = self.spec.dimension as usize;
        if let Some(problem) = records
            .iter()
            .find_map(|r| r.problem(dimension, &self.spec.fields))
        {
            return Err(VectorError::Invalid(problem));
        }
        // The last of the same id wins, as if written one after another.
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, r) in records.iter().enumerate() {
            last.insert(&r.id, i);
        }
        let unique: Vec<Record> = records
            .iter()
            .enumerate()
            .filter(|(i, r)| last[r.id.as_str()] == *i)
            .map(|(_, r)| r.clone())
            .collect();
        let batch = rows::batch(&self.schema, dimension, &self.spec.fields, &unique)?;
        let reader: Box<dyn RecordBatchReader + Send> = Box::new(RecordBatchIterator::new(
            vec![Ok(batch)],
            self.schema.clone(),
        ));
        let _write = self.write.lock().await;
        let mut merge = self.table.merge_insert(&["id"]);
        merge
            .when_matched_update_all(None)
            .when_not_matched_insert_all();
        merge.execute(reader).await?;
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(unique.len())
    }

    /// Deletes the records of `ids`; how many there were.
    pub async fn delete(&self, ids: &[String]) -> Result<usize> {
        if ids.is_empty() {
            return Ok(0);
        }
        if ids.len() > MAX_BATCH {
            return Err(VectorError::Invalid(format!(
                "at most {MAX_BATCH} ids at once"
            )));
        }
        let list = ids
            .iter()
            .map(|id| format!("'{}'", id.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ");
        let predicate = format!("id IN ({list})");
        let _write = self.write.lock().await;
        let deleted = self
            .table
            .delete(predicate.as_str())
            .await?
            .num_deleted_rows;
        if deleted > 0 {
            self.writes.fetch_add(1, Ordering::Relaxed);
        }
        Ok(deleted as usize)
    }

    pub async fn count(&self) -> Result<usize> {
        Ok(self.table.count_rows(None).await?)
    }

    /// The `k` best records for `query`.
    pub async fn search(&self, query: &Query) -> Result<Vec<Hit>> {
        let k = query.k.unwrap_or(10);
        if k == 0 || k > MAX_K {
            return Err(VectorError::Invalid(format!(
                "k must be between 1 and {MAX_K}"
            )));
        }
        if let Some(v) = &query.vector {
            if v.len() != self.spec.dimension as usize {
                return Err(VectorError::Invalid(format!(
                    "the query vector has {} dimensions, the collection {}",
                    v.len(),
                    self.spec.dimension
                )));
            }
            if v.iter().any(|x| !x.is_finite()) {
                return Err(VectorError::Invalid(
                    "the query vector holds NaN or infinity".into(),
                ));
            }
        }
        let text = query
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let columns = Select::Columns(vec!["id".into(), "text".into(), "metadata".into()]);
        let mut base = self.table.query().select(columns).limit(k);
        if let Some(filter) = &query.filter {
            base = base.only_if(filter);
        }
        if let Some(text) = text {
            self.ensure_text_index().await?;
            base = base.full_text_search(FullTextSearchQuery::new(text.to_string()));
        }
        let stream = match (&query.vector, text) {
            (None, None) => {
                return Err(VectorError::Invalid(
                    "a search needs a `vector` or a `text`".into(),
                ));
            }
            (None, Some(_)) => base.execute().await,
            (Some(v), text) => {
                let Tuning {
                    nprobes,
                    ef,
                    refine,
                } = self.tuning;
                // Once indexed: how much of the index a search visits, and
                // how many candidates are re-ranked by their full vectors
                // (the index's are quantized) — what recall costs in time.
                let vq = base
                    .nearest_to(v.as_slice())?
                    .distance_type(self.spec.metric.lance())
                    .minimum_nprobes(nprobes)?
                    // HNSW keeps at least as many candidates as it re-ranks.
                    .ef(ef.max(k * refine as usize))
                    .refine_factor(refine);
                match text {
                    None => vq.execute().await,
                    Some(_) => vq.execute_hybrid(QueryExecutionOptions::default()).await,
                }
            }
        }
        .map_err(filter_error)?;
        let batches: Vec<_> = stream.try_collect().await.map_err(filter_error)?;
        let mut hits = Vec::new();
        for b in &batches {
            rows::hits(b, &mut hits)?;
        }
        hits.truncate(k);
        Ok(hits)
    }

    /// Builds the indexes the collection lacks and compacts it, when it
    /// was written since last time; true when there was work.
    pub async fn maintain(&self) -> Result<bool> {
        if self.writes.swap(0, Ordering::Relaxed) == 0 {
            return Ok(false);
        }
        let _write = self.write.lock().await;
        let rows = self.table.count_rows(None).await?;
        if rows >= INDEX_MIN_ROWS && !self.vector_index().await? {
            let started = std::time::Instant::now();
            self.table
                .create_index(
                    &["vector"],
                    Index::IvfHnswSq(
                        IvfHnswSqIndexBuilder::default().distance_type(self.spec.metric.lance()),
                    ),
                )
                .execute()
                .await?;
            tracing::info!(collection = %self.name, rows, ms = started.elapsed().as_millis() as u64, "vector index built");
        }
        // Compacts small files and brings the indexes up to date with the
        // rows written since they were built.
        self.table.optimize(OptimizeAction::All).await?;
        Ok(true)
    }

    async fn vector_index(&self) -> Result<bool> {
        Ok(self
            .table
            .list_indices()
            .await?
            .iter()
            .any(|i| i.columns.iter().any(|c| c == "vector")))
    }

    /// A full-text index over `text`, built at the first text search.
    async fn ensure_text_index(&self) -> Result<()> {
        let has = self
            .table
            .list_indices()
            .await?
            .iter()
            .any(|i| i.columns.iter().any(|c| c == "text"));
        if !has {
            let _write = self.write.lock().await;
            self.table
                .create_index(&["text"], Index::FTS(FtsIndexBuilder::default()))
                .execute()
                .await?;
        }
        Ok(())
    }
}

/// How an indexed vector search trades time for recall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// IVF partitions visited at least.
    pub nprobes: usize,
    /// HNSW candidates kept (at least `k × refine`).
    pub ef: usize,
    /// Candidates re-ranked by their full vectors, per result: the index's
    /// are quantized (SQ), so this is what brings recall back.
    pub refine: u32,
}

impl Default for Tuning {
    /// Measured by `benches/search.rs` (100k × 384, clustered, 2 cores):
    /// recall@10 0.99 at a p50 of 2.7 ms; more buys little recall, less
    /// little time (the floor is the query's planning, not the index).
    fn default() -> Self {
        Tuning {
            nprobes: 10,
            ef: 40,
            refine: 3,
        }
    }
}

/// A search failure: a filter the engine refuses is the caller's mistake.
fn filter_error(e: lancedb::Error) -> VectorError {
    let message = e.to_string();
    let lower = message.to_ascii_lowercase();
    if lower.contains("sql")
        || lower.contains("parse")
        || lower.contains("no field named")
        || lower.contains("schema error")
    {
        VectorError::Invalid(format!("filter: {message}"))
    } else {
        VectorError::Store(message)
    }
}
