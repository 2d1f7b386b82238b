//! Rows in and out: records as Arrow batches of a collection's schema, and
//! hits read back from search results.

use crate::collection::{FieldType, Hit};
use crate::{Result, VectorError};
use arrow_array::builder::{
    BooleanBuilder, FixedSizeListBuilder, Float32Builder, Float64Builder, Int64Builder,
    StringBuilder,
};
use arrow_array::{
    Array, ArrayRef, Float32Array, RecordBatch, StringArray, cast::AsArray, types::Float32Type,
};
use arrow_schema::SchemaRef;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest id, in bytes.
pub const MAX_ID: usize = 256;
/// Largest metadata object, as JSON text.
pub const MAX_METADATA: usize = 64 * 1024;
/// Largest text, in bytes.
pub const MAX_TEXT: usize = 1 << 20;

/// One row to store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub id: String,
    pub vector: Vec<f32>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub metadata: Map<String, Value>,
}

impl Record {
    /// What is wrong with it for a collection of `dimension`, in words.
    pub fn problem(
        &self,
        dimension: usize,
        fields: &BTreeMap<String, FieldType>,
    ) -> Option<String> {
        if self.id.is_empty() || self.id.len() > MAX_ID {
            return Some(format!("id: 1 to {MAX_ID} bytes"));
        }
        if self.vector.len() != dimension {
            return Some(format!(
                "record `{}`: the vector has {} dimensions, the collection {dimension}",
                self.id,
                self.vector.len()
            ));
        }
        if self.vector.iter().any(|x| !x.is_finite()) {
            return Some(format!(
                "record `{}`: the vector holds NaN or infinity",
                self.id
            ));
        }
        if self.text.as_ref().is_some_and(|t| t.len() > MAX_TEXT) {
            return Some(format!("record `{}`: text over {MAX_TEXT} bytes", self.id));
        }
        let meta = Value::Object(self.metadata.clone()).to_string();
        if meta.len() > MAX_METADATA {
            return Some(format!(
                "record `{}`: metadata over {MAX_METADATA} bytes",
                self.id
            ));
        }
        for (name, ty) in fields {
            match self.metadata.get(name) {
                None | Some(Value::Null) => {}
                Some(v) if ty.holds(v) => {}
                Some(v) => {
                    return Some(format!(
                        "record `{}`: metadata `{name}` is {v}, not {}",
                        self.id,
                        ty.as_str()
                    ));
                }
            }
        }
        None
    }
}

/// `records` as one batch of `schema` (checked already).
pub fn batch(
    schema: &SchemaRef,
    dimension: usize,
    fields: &BTreeMap<String, FieldType>,
    records: &[Record],
) -> Result<RecordBatch> {
    let mut ids = StringBuilder::new();
    let mut vectors = FixedSizeListBuilder::new(Float32Builder::new(), dimension as i32);
    let mut texts = StringBuilder::new();
    let mut metas = StringBuilder::new();
    for r in records {
        ids.append_value(&r.id);
        vectors.values().append_slice(&r.vector);
        vectors.append(true);
        texts.append_option(r.text.as_deref());
        metas.append_value(Value::Object(r.metadata.clone()).to_string());
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(ids.finish()),
        Arc::new(vectors.finish()),
        Arc::new(texts.finish()),
        Arc::new(metas.finish()),
    ];
    for (name, ty) in fields {
        let values = records.iter().map(|r| r.metadata.get(name));
        columns.push(match ty {
            FieldType::String => {
                let mut b = StringBuilder::new();
                values.for_each(|v| b.append_option(v.and_then(Value::as_str)));
                Arc::new(b.finish())
            }
            FieldType::Int => {
                let mut b = Int64Builder::new();
                values.for_each(|v| b.append_option(v.and_then(Value::as_i64)));
                Arc::new(b.finish())
            }
            FieldType::Float => {
                let mut b = Float64Builder::new();
                values.for_each(|v| b.append_option(v.and_then(Value::as_f64)));
                Arc::new(b.finish())
            }
            FieldType::Bool => {
                let mut b = BooleanBuilder::new();
                values.for_each(|v| b.append_option(v.and_then(Value::as_bool)));
                Arc::new(b.finish())
            }
        });
    }
    // The schema's field types are the columns' (nullability aside).
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// The hits of one result batch. `distance`: the vector search's column;
/// `score`: the text or hybrid search's.
pub fn hits(batch: &RecordBatch, out: &mut Vec<Hit>) -> Result<()> {
    let column = |name: &str| batch.column_by_name(name);
    let strings = |name: &str| -> Result<&StringArray> {
        column(name)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| VectorError::Store(format!("a result has no `{name}` column")))
    };
    let floats = |name: &str| -> Option<&Float32Array> {
        column(name).and_then(|c| c.as_primitive_opt::<Float32Type>())
    };
    let ids = strings("id")?;
    let texts = strings("text")?;
    let metas = strings("metadata")?;
    let distance = floats("_distance");
    let score = floats("_relevance_score").or_else(|| floats("_score"));
    for i in 0..batch.num_rows() {
        let metadata = match metas.is_valid(i) {
            true => serde_json::from_str(metas.value(i)).unwrap_or_default(),
            false => Map::new(),
        };
        out.push(Hit {
            id: ids.value(i).to_string(),
            distance: distance.filter(|d| d.is_valid(i)).map(|d| d.value(i)),
            score: score.filter(|s| s.is_valid(i)).map(|s| s.value(i)),
            text: texts.is_valid(i).then(|| texts.value(i).to_string()),
            metadata,
        });
    }
    Ok(())
}
