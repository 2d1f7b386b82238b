//! `/v2/collections` and `/v2/embeddings`: the tenant's vector collections
//! (`hanzo:node/vectors`) and embeddings through the router
//! (`hanzo:node/llm`). A collection may name the embedding model its
//! vectors come from; records and queries given as text are then embedded
//! with it here, so that a client never needs to embed anything itself.
//!
//! Every route takes an optional `namespace` (the body's field, else the
//! `?namespace=` query; default `""`); the tenant is the caller's.

use super::{Reply, Request, read_json};
use hanzo_node_sdk::api::{BodyError, query_pairs};
use hanzo_node_sdk::llm::{self, CallOptions, EmbedRequest, LlmError, ProviderError};
use hanzo_node_sdk::vectors::{
    self, CollectionInfo, CollectionSpec, FieldType, Hit, Metric, Query, Record, VectorsError,
};
use serde_json::{Map, Value, json};

/// Most texts embedded in one request (records or inputs).
pub const MAX_INPUTS: usize = 2048;

/// The node's vector store and embeddings, as the handlers need them.
pub trait Vectors {
    fn create(
        &self,
        ns: &str,
        name: &str,
        spec: &CollectionSpec,
    ) -> Result<CollectionInfo, VectorsError>;
    fn list(&self, ns: &str) -> Result<Vec<CollectionInfo>, VectorsError>;
    fn info(&self, ns: &str, name: &str) -> Result<CollectionInfo, VectorsError>;
    fn drop(&self, ns: &str, name: &str) -> Result<bool, VectorsError>;
    fn upsert(&self, ns: &str, name: &str, records: &[Record]) -> Result<u32, VectorsError>;
    fn delete(&self, ns: &str, name: &str, ids: &[String]) -> Result<u32, VectorsError>;
    fn search(&self, ns: &str, name: &str, query: &Query) -> Result<Vec<Hit>, VectorsError>;
    /// `inputs` embedded by `model`: the model that answered, the vectors
    /// and the input tokens.
    fn embed(&self, model: &str, inputs: &[String]) -> Result<Embedded, LlmError>;
    /// The model `/v2/embeddings/generate` uses when the request names none.
    fn default_model(&self) -> String;
}

pub struct Embedded {
    pub model: String,
    pub vectors: Vec<Vec<f32>>,
    pub tokens: Option<u32>,
}

impl Vectors for super::HostNode {
    fn create(
        &self,
        ns: &str,
        name: &str,
        spec: &CollectionSpec,
    ) -> Result<CollectionInfo, VectorsError> {
        vectors::create(ns, name, spec)
    }
    fn list(&self, ns: &str) -> Result<Vec<CollectionInfo>, VectorsError> {
        vectors::list(ns)
    }
    fn info(&self, ns: &str, name: &str) -> Result<CollectionInfo, VectorsError> {
        vectors::info(ns, name)
    }
    fn drop(&self, ns: &str, name: &str) -> Result<bool, VectorsError> {
        vectors::drop(ns, name)
    }
    fn upsert(&self, ns: &str, name: &str, records: &[Record]) -> Result<u32, VectorsError> {
        vectors::upsert(ns, name, records)
    }
    fn delete(&self, ns: &str, name: &str, ids: &[String]) -> Result<u32, VectorsError> {
        vectors::delete(ns, name, ids)
    }
    fn search(&self, ns: &str, name: &str, query: &Query) -> Result<Vec<Hit>, VectorsError> {
        vectors::search(ns, name, query)
    }
    fn embed(&self, model: &str, inputs: &[String]) -> Result<Embedded, LlmError> {
        let request = EmbedRequest {
            model: model.to_string(),
            inputs: inputs.to_vec(),
            dimensions: None,
        };
        let r = llm::embed(&request, &CallOptions::default())?;
        Ok(Embedded {
            model: r.response.model,
            vectors: r.response.embeddings,
            tokens: r.response.usage.map(|u| u.prompt_tokens),
        })
    }
    fn default_model(&self) -> String {
        hanzo_node_sdk::config::get("embedding_model").unwrap_or_else(|| DEFAULT_MODEL.to_string())
    }
}

/// The offline embedder's model (the `local` provider plugin).
pub const DEFAULT_MODEL: &str = "local/all-minilm-l6-v2";

/// `/v2/collections...`.
pub fn collections(
    node: &impl Vectors,
    request: &Request,
    rest: &[&str],
    read_body: impl FnOnce() -> Result<Vec<u8>, BodyError>,
) -> Reply {
    let method = request.method;
    let query_ns = query_namespace(request.query);
    match (rest, method) {
        ([], "GET") => match node.list(&query_ns) {
            Ok(list) => Reply::ok(json!({
                "collections": list.iter().map(info_json).collect::<Vec<_>>(),
            })),
            Err(e) => error(e),
        },
        ([], "POST") => with_body(read_body, |body| create(node, &query_ns, body)),
        ([], _) => Reply::method_not_allowed(method, "GET, POST"),
        ([name], "GET") => match node.info(&query_ns, name) {
            Ok(info) => Reply::ok(info_json(&info)),
            Err(e) => error(e),
        },
        ([name], "DELETE") => match node.drop(&query_ns, name) {
            Ok(true) => Reply::ok(json!({ "deleted": true })),
            Ok(false) => not_found(name),
            Err(e) => error(e),
        },
        ([_], _) => Reply::method_not_allowed(method, "GET, DELETE"),
        ([name, "records"], "POST") => {
            with_body(read_body, |body| upsert(node, &query_ns, name, body))
        }
        ([name, "delete"], "POST") => {
            with_body(read_body, |body| delete(node, &query_ns, name, body))
        }
        ([name, "search"], "POST") => with_body(read_body, |body| {
            let mut body = body.clone();
            if let Some(o) = body.as_object_mut() {
                o.insert("collection".into(), Value::String(name.to_string()));
            }
            search(node, &query_ns, &body)
        }),
        ([_, "records" | "delete" | "search"], _) => Reply::method_not_allowed(method, "POST"),
        _ => Reply::not_found(request.path),
    }
}

/// `/v2/embeddings/generate` and `/v2/embeddings/search`.
pub fn embeddings(
    node: &impl Vectors,
    request: &Request,
    rest: &[&str],
    read_body: impl FnOnce() -> Result<Vec<u8>, BodyError>,
) -> Reply {
    let method = request.method;
    let query_ns = query_namespace(request.query);
    match (rest, method) {
        (["generate"], "POST") => with_body(read_body, |body| generate(node, body)),
        (["search"], "POST") => with_body(read_body, |body| search(node, &query_ns, body)),
        (["generate" | "search"], _) => Reply::method_not_allowed(method, "POST"),
        _ => Reply::not_found(request.path),
    }
}

fn with_body(
    read_body: impl FnOnce() -> Result<Vec<u8>, BodyError>,
    then: impl FnOnce(&Value) -> Reply,
) -> Reply {
    match read_json(read_body) {
        Ok(body) if body.is_object() => then(&body),
        Ok(_) => invalid("the body must be a JSON object"),
        Err(reply) => reply,
    }
}

/// The query's `namespace`, decoded as every query parameter is.
fn query_namespace(query: Option<&str>) -> String {
    query_pairs(query)
        .into_iter()
        .find_map(|(name, value)| (name == "namespace").then_some(value))
        .unwrap_or_default()
}

/// The body's `namespace`, else the query's.
fn namespace(body: &Value, query_ns: &str) -> Result<String, Reply> {
    match body.get("namespace") {
        None | Some(Value::Null) => Ok(query_ns.to_string()),
        Some(Value::String(ns)) => Ok(ns.clone()),
        Some(_) => Err(invalid("`namespace` must be a string")),
    }
}

fn invalid(message: impl AsRef<str>) -> Reply {
    Reply::error(400, "invalid_request", message)
}

fn not_found(name: &str) -> Reply {
    Reply::error(
        404,
        "collection_not_found",
        format!("no collection `{}`", name.escape_debug()),
    )
}

/// The reply for a failed vector-store call.
pub fn error(e: VectorsError) -> Reply {
    match e {
        VectorsError::Denied(m) => Reply::error(403, "forbidden", m),
        VectorsError::Invalid(m) => Reply::error(400, "invalid_request", m),
        VectorsError::NotFound(name) => not_found(&name),
        VectorsError::Exists(name) => Reply::error(
            409,
            "collection_exists",
            format!("collection `{}` exists already", name.escape_debug()),
        ),
        VectorsError::QuotaExceeded(m) => Reply::error(429, "quota_exceeded", m),
        VectorsError::Store(m) => Reply::error(500, "store_error", m),
    }
}

/// The reply for a failed embedding.
pub fn llm_error(e: LlmError) -> Reply {
    match e {
        LlmError::Denied(m) => Reply::error(403, "forbidden", m),
        LlmError::OverBudget(m) => Reply::error(402, "budget_exhausted", m),
        LlmError::UnknownModel(m) => Reply::error(404, "model_not_found", m),
        LlmError::Unsupported(m) => Reply::error(400, "unsupported_request", m),
        LlmError::RateLimited(l) => Reply::error(429, "rate_limited", l.message),
        LlmError::Provider(p) => match p {
            ProviderError::BadRequest(m) | ProviderError::Unsupported(m) => {
                Reply::error(400, "invalid_request", m)
            }
            ProviderError::ContextTooLong(m) => Reply::error(400, "context_length_exceeded", m),
            ProviderError::NotFound(m) => Reply::error(404, "model_not_found", m),
            ProviderError::RateLimited(l) => Reply::error(429, "rate_limited", l.message),
            ProviderError::UpstreamUnavailable(m) => Reply::error(503, "upstream_unavailable", m),
            ProviderError::Timeout(m) => Reply::error(504, "upstream_timeout", m),
            ProviderError::Auth(m) | ProviderError::Internal(m) => {
                Reply::error(502, "provider_error", m)
            }
        },
    }
}

fn metric_name(m: Metric) -> &'static str {
    match m {
        Metric::Cosine => "cosine",
        Metric::L2 => "l2",
        Metric::Dot => "dot",
    }
}

fn field_name(t: FieldType) -> &'static str {
    match t {
        FieldType::String => "string",
        FieldType::Int => "int",
        FieldType::Float => "float",
        FieldType::Bool => "bool",
    }
}

pub fn info_json(info: &CollectionInfo) -> Value {
    let fields: Map<String, Value> = info
        .spec
        .fields
        .iter()
        .map(|(k, t)| (k.clone(), Value::String(field_name(*t).into())))
        .collect();
    json!({
        "name": info.name,
        "dimension": info.spec.dimension,
        "metric": metric_name(info.spec.metric),
        "fields": fields,
        "model": info.spec.model,
        "rows": info.rows,
        "indexed": info.indexed,
    })
}

fn hit_json(h: &Hit) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), Value::String(h.id.clone()));
    if let Some(d) = h.distance {
        o.insert("distance".into(), json!(d));
    }
    if let Some(s) = h.score {
        o.insert("score".into(), json!(s));
    }
    if let Some(t) = &h.text {
        o.insert("text".into(), Value::String(t.clone()));
    }
    o.insert("metadata".into(), h.metadata_json());
    Value::Object(o)
}

/// `POST /v2/collections`: `{"name", "dimension"?, "metric"?, "fields"?,
/// "model"?}`; with a model and no dimension, the model's is asked for.
fn create(node: &impl Vectors, query_ns: &str, body: &Value) -> Reply {
    let ns = match namespace(body, query_ns) {
        Ok(ns) => ns,
        Err(r) => return r,
    };
    let Some(name) = body.get("name").and_then(Value::as_str) else {
        return invalid("`name` (a string) is required");
    };
    let metric = match body.get("metric").map(|m| m.as_str()) {
        None | Some(Some("cosine")) => Metric::Cosine,
        Some(Some("l2")) => Metric::L2,
        Some(Some("dot")) => Metric::Dot,
        Some(_) => return invalid("`metric` must be \"cosine\", \"l2\" or \"dot\""),
    };
    let mut fields = Vec::new();
    match body.get("fields") {
        None | Some(Value::Null) => {}
        Some(Value::Object(f)) => {
            for (k, t) in f {
                let t = match t.as_str() {
                    Some("string") => FieldType::String,
                    Some("int") => FieldType::Int,
                    Some("float") => FieldType::Float,
                    Some("bool") => FieldType::Bool,
                    _ => {
                        return invalid(format!(
                            "fields.{k} must be \"string\", \"int\", \"float\" or \"bool\""
                        ));
                    }
                };
                fields.push((k.clone(), t));
            }
        }
        Some(_) => return invalid("`fields` must be an object of name: type"),
    }
    let model = match body.get("model") {
        None | Some(Value::Null) => None,
        Some(Value::String(m)) => Some(m.clone()),
        Some(_) => return invalid("`model` must be a string"),
    };
    let dimension = match (body.get("dimension"), &model) {
        (Some(d), _) if !d.is_null() => match d.as_u64() {
            Some(d) if d <= u32::MAX as u64 => d as u32,
            _ => return invalid("`dimension` must be a positive integer"),
        },
        (_, Some(model)) => match node.embed(model, &["dimension".to_string()]) {
            Ok(e) => match e.vectors.first() {
                Some(v) => v.len() as u32,
                None => return Reply::error(502, "provider_error", "the model embedded nothing"),
            },
            Err(e) => return llm_error(e),
        },
        _ => return invalid("`dimension` is required (or a `model` to take it from)"),
    };
    let spec = CollectionSpec {
        dimension,
        metric,
        fields,
        model,
    };
    match node.create(&ns, name, &spec) {
        Ok(info) => Reply::created(info_json(&info)),
        Err(e) => error(e),
    }
}

/// Embeds `texts` with the collection's model, checking the dimension.
fn embed_for(
    node: &impl Vectors,
    info: &CollectionInfo,
    texts: &[String],
) -> Result<Vec<Vec<f32>>, Reply> {
    let Some(model) = &info.spec.model else {
        return Err(invalid(format!(
            "collection `{}` names no model to embed texts with: give vectors",
            info.name
        )));
    };
    let embedded = node.embed(model, texts).map_err(llm_error)?;
    if embedded.vectors.len() != texts.len()
        || embedded
            .vectors
            .iter()
            .any(|v| v.len() != info.spec.dimension as usize)
    {
        return Err(Reply::error(
            502,
            "provider_error",
            format!(
                "model `{model}` answered {} vectors for {} texts, not all of dimension {}",
                embedded.vectors.len(),
                texts.len(),
                info.spec.dimension
            ),
        ));
    }
    Ok(embedded.vectors)
}

fn vector_of(v: &Value, what: &str) -> Result<Vec<f32>, Reply> {
    let Some(items) = v.as_array() else {
        return Err(invalid(format!("{what} must be an array of numbers")));
    };
    items
        .iter()
        .map(|x| {
            x.as_f64()
                .map(|f| f as f32)
                .filter(|f| f.is_finite())
                .ok_or_else(|| invalid(format!("{what} must be an array of finite numbers")))
        })
        .collect()
}

/// `POST /v2/collections/{name}/records`: `{"records": [{"id", "vector"?,
/// "text"?, "metadata"?}]}`; a record without a vector has its text
/// embedded with the collection's model.
fn upsert(node: &impl Vectors, query_ns: &str, name: &str, body: &Value) -> Reply {
    let ns = match namespace(body, query_ns) {
        Ok(ns) => ns,
        Err(r) => return r,
    };
    let Some(items) = body.get("records").and_then(Value::as_array) else {
        return invalid("`records` (an array) is required");
    };
    let mut records = Vec::with_capacity(items.len());
    // Records to embed: their index and text.
    let mut to_embed: Vec<(usize, String)> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(id) = item.get("id").and_then(Value::as_str) else {
            return invalid(format!("records[{i}].id (a string) is required"));
        };
        let text = match item.get("text") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(t.clone()),
            Some(_) => return invalid(format!("records[{i}].text must be a string")),
        };
        let metadata = match item.get("metadata") {
            None | Some(Value::Null) => "{}".to_string(),
            Some(m @ Value::Object(_)) => m.to_string(),
            Some(_) => return invalid(format!("records[{i}].metadata must be an object")),
        };
        let vector = match item.get("vector") {
            None | Some(Value::Null) => match &text {
                Some(t) => {
                    to_embed.push((i, t.clone()));
                    Vec::new()
                }
                None => {
                    return invalid(format!(
                        "records[{i}] needs a `vector` or a `text` to embed"
                    ));
                }
            },
            Some(v) => match vector_of(v, &format!("records[{i}].vector")) {
                Ok(v) => v,
                Err(r) => return r,
            },
        };
        records.push(Record {
            id: id.to_string(),
            vector,
            text,
            metadata,
        });
    }
    if to_embed.len() > MAX_INPUTS {
        return invalid(format!("at most {MAX_INPUTS} records to embed at once"));
    }
    if !to_embed.is_empty() {
        let info = match node.info(&ns, name) {
            Ok(info) => info,
            Err(e) => return error(e),
        };
        let texts: Vec<String> = to_embed.iter().map(|(_, t)| t.clone()).collect();
        match embed_for(node, &info, &texts) {
            Ok(vectors) => {
                for ((i, _), v) in to_embed.iter().zip(vectors) {
                    records[*i].vector = v;
                }
            }
            Err(r) => return r,
        }
    }
    match node.upsert(&ns, name, &records) {
        Ok(n) => Reply::ok(json!({ "upserted": n })),
        Err(e) => error(e),
    }
}

/// `POST /v2/collections/{name}/delete`: `{"ids": [...]}`.
fn delete(node: &impl Vectors, query_ns: &str, name: &str, body: &Value) -> Reply {
    let ns = match namespace(body, query_ns) {
        Ok(ns) => ns,
        Err(r) => return r,
    };
    let ids: Option<Vec<String>> = body
        .get("ids")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(|v| v.as_str().map(str::to_string)).collect());
    let Some(ids) = ids else {
        return invalid("`ids` (an array of strings) is required");
    };
    match node.delete(&ns, name, &ids) {
        Ok(n) => Reply::ok(json!({ "deleted": n })),
        Err(e) => error(e),
    }
}

/// `POST /v2/embeddings/generate`: `{"input": text | [text], "model"?}`.
fn generate(node: &impl Vectors, body: &Value) -> Reply {
    let inputs: Vec<String> = match body.get("input") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => match a.iter().map(|v| v.as_str().map(str::to_string)).collect() {
            Some(inputs) => inputs,
            None => return invalid("`input` must be a string or an array of strings"),
        },
        _ => return invalid("`input` (a string or an array of strings) is required"),
    };
    if inputs.is_empty() || inputs.len() > MAX_INPUTS {
        return invalid(format!("`input` holds 1 to {MAX_INPUTS} texts"));
    }
    let model = match body.get("model") {
        None | Some(Value::Null) => node.default_model(),
        Some(Value::String(m)) => m.clone(),
        Some(_) => return invalid("`model` must be a string"),
    };
    match node.embed(&model, &inputs) {
        Ok(e) => Reply::ok(json!({
            "model": e.model,
            "dimension": e.vectors.first().map_or(0, Vec::len),
            "embeddings": e.vectors,
            "usage": { "input_tokens": e.tokens },
        })),
        Err(e) => llm_error(e),
    }
}

/// `POST /v2/embeddings/search`: `{"collection", "text"?, "vector"?,
/// "filter"?, "k"?, "mode"?}`. `mode` is `vector`, `text` or `hybrid`;
/// unset: hybrid when there is a text and a vector (given, or the text
/// embedded with the collection's model), else whichever there is.
fn search(node: &impl Vectors, query_ns: &str, body: &Value) -> Reply {
    let ns = match namespace(body, query_ns) {
        Ok(ns) => ns,
        Err(r) => return r,
    };
    let Some(name) = body.get("collection").and_then(Value::as_str) else {
        return invalid("`collection` (a string) is required");
    };
    let text = match body.get("text") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) if !t.is_empty() => Some(t.clone()),
        Some(_) => return invalid("`text` must be a non-empty string"),
    };
    let mut vector = match body.get("vector") {
        None | Some(Value::Null) => None,
        Some(v) => match vector_of(v, "vector") {
            Ok(v) => Some(v),
            Err(r) => return r,
        },
    };
    let filter = match body.get("filter") {
        None | Some(Value::Null) => None,
        Some(Value::String(f)) => Some(f.clone()),
        Some(_) => return invalid("`filter` must be an SQL condition as a string"),
    };
    let k = match body.get("k") {
        None | Some(Value::Null) => 10,
        Some(k) => match k.as_u64() {
            Some(k @ 1..=1000) => k as u32,
            _ => return invalid("`k` must be between 1 and 1000"),
        },
    };
    let mode = match body.get("mode").map(Value::as_str) {
        None => None,
        Some(Some(m @ ("vector" | "text" | "hybrid"))) => Some(m),
        Some(_) => return invalid("`mode` must be \"vector\", \"text\" or \"hybrid\""),
    };
    if text.is_none() && vector.is_none() {
        return invalid("a `text` or a `vector` to search by is required");
    }
    // The text's embedding, when the search uses a vector and none was given.
    if vector.is_none() && mode != Some("text") {
        let info = match node.info(&ns, name) {
            Ok(info) => info,
            Err(e) => return error(e),
        };
        let text = text.as_ref().expect("a text, as there is no vector");
        if info.spec.model.is_some() {
            match embed_for(node, &info, std::slice::from_ref(text)) {
                Ok(mut v) => vector = v.pop(),
                Err(r) => return r,
            }
        } else if mode.is_some() {
            return invalid(format!(
                "collection `{name}` names no model to embed the text with: give a `vector`, \
                 or search with \"mode\": \"text\""
            ));
        }
    }
    let query = match mode {
        Some("vector") => Query {
            vector,
            text: None,
            filter,
            k,
        },
        Some("text") if text.is_none() => return invalid("\"mode\": \"text\" needs a `text`"),
        Some("text") => Query {
            vector: None,
            text,
            filter,
            k,
        },
        _ => Query {
            vector,
            text,
            filter,
            k,
        },
    };
    match node.search(&ns, name, &query) {
        Ok(hits) => Reply::ok(json!({
            "collection": name,
            "hits": hits.iter().map(hit_json).collect::<Vec<_>>(),
        })),
        Err(e) => error(e),
    }
}

/// Collections in memory, searched exactly, and an embedder that hashes
/// words into a small vector: enough to check what the handlers send.
#[cfg(test)]
pub mod fake {
    use super::*;
    use crate::routes::fake::FakeNode;
    use std::collections::BTreeMap;

    #[derive(Default)]
    pub struct State {
        pub collections: BTreeMap<(String, String), (CollectionSpec, Vec<Record>)>,
        /// Every search, as the store received it.
        pub queries: Vec<Query>,
        /// Every batch of texts embedded.
        pub embedded: Vec<Vec<String>>,
    }

    /// The fake model's dimension.
    pub const DIM: usize = 8;

    pub fn embed_text(text: &str) -> Vec<f32> {
        let mut v = vec![0.0; DIM];
        for word in text.split_whitespace() {
            let h = word
                .bytes()
                .fold(7usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
            v[h % DIM] += 1.0;
        }
        v
    }

    fn info(name: &str, spec: &CollectionSpec, rows: usize) -> CollectionInfo {
        CollectionInfo {
            name: name.into(),
            spec: spec.clone(),
            rows: rows as u64,
            indexed: false,
        }
    }

    impl Vectors for FakeNode {
        fn create(
            &self,
            ns: &str,
            name: &str,
            spec: &CollectionSpec,
        ) -> Result<CollectionInfo, VectorsError> {
            let mut s = self.vectors.borrow_mut();
            let key = (ns.to_string(), name.to_string());
            if s.collections.contains_key(&key) {
                return Err(VectorsError::Exists(name.into()));
            }
            s.collections.insert(key, (spec.clone(), Vec::new()));
            Ok(info(name, spec, 0))
        }
        fn list(&self, ns: &str) -> Result<Vec<CollectionInfo>, VectorsError> {
            let s = self.vectors.borrow();
            Ok(s.collections
                .iter()
                .filter(|((n, _), _)| n == ns)
                .map(|((_, name), (spec, rows))| info(name, spec, rows.len()))
                .collect())
        }
        fn info(&self, ns: &str, name: &str) -> Result<CollectionInfo, VectorsError> {
            let s = self.vectors.borrow();
            s.collections
                .get(&(ns.to_string(), name.to_string()))
                .map(|(spec, rows)| info(name, spec, rows.len()))
                .ok_or_else(|| VectorsError::NotFound(name.into()))
        }
        fn drop(&self, ns: &str, name: &str) -> Result<bool, VectorsError> {
            let mut s = self.vectors.borrow_mut();
            Ok(s.collections
                .remove(&(ns.to_string(), name.to_string()))
                .is_some())
        }
        fn upsert(&self, ns: &str, name: &str, records: &[Record]) -> Result<u32, VectorsError> {
            let mut s = self.vectors.borrow_mut();
            let (spec, rows) = s
                .collections
                .get_mut(&(ns.to_string(), name.to_string()))
                .ok_or_else(|| VectorsError::NotFound(name.into()))?;
            for r in records {
                if r.vector.len() != spec.dimension as usize {
                    return Err(VectorsError::Invalid(format!(
                        "record `{}`: wrong dimension",
                        r.id
                    )));
                }
                rows.retain(|x| x.id != r.id);
                rows.push(r.clone());
            }
            Ok(records.len() as u32)
        }
        fn delete(&self, ns: &str, name: &str, ids: &[String]) -> Result<u32, VectorsError> {
            let mut s = self.vectors.borrow_mut();
            let (_, rows) = s
                .collections
                .get_mut(&(ns.to_string(), name.to_string()))
                .ok_or_else(|| VectorsError::NotFound(name.into()))?;
            let before = rows.len();
            rows.retain(|x| !ids.contains(&x.id));
            Ok((before - rows.len()) as u32)
        }
        fn search(&self, ns: &str, name: &str, query: &Query) -> Result<Vec<Hit>, VectorsError> {
            let mut s = self.vectors.borrow_mut();
            s.queries.push(query.clone());
            let (_, rows) = s
                .collections
                .get(&(ns.to_string(), name.to_string()))
                .ok_or_else(|| VectorsError::NotFound(name.into()))?;
            let mut hits: Vec<Hit> = rows
                .iter()
                .map(|r| Hit {
                    id: r.id.clone(),
                    distance: query.vector.as_ref().map(|q| {
                        q.iter()
                            .zip(&r.vector)
                            .map(|(a, b)| (a - b) * (a - b))
                            .sum()
                    }),
                    score: None,
                    text: r.text.clone(),
                    metadata: r.metadata.clone(),
                })
                .collect();
            hits.sort_by(|a, b| a.distance.partial_cmp(&b.distance).unwrap());
            hits.truncate(query.k as usize);
            Ok(hits)
        }
        fn embed(&self, model: &str, inputs: &[String]) -> Result<Embedded, LlmError> {
            if model != DEFAULT_MODEL {
                return Err(LlmError::UnknownModel(format!("no model `{model}`")));
            }
            self.vectors.borrow_mut().embedded.push(inputs.to_vec());
            Ok(Embedded {
                model: model.into(),
                vectors: inputs.iter().map(|t| embed_text(t)).collect(),
                tokens: Some(inputs.len() as u32),
            })
        }
        fn default_model(&self) -> String {
            DEFAULT_MODEL.into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::{DIM, embed_text};
    use crate::routes::fake::{FakeNode, code, send};

    #[test]
    fn a_collection_with_a_model_embeds_records_and_queries() {
        let node = FakeNode::default();
        // The dimension comes from the model.
        let r = send(
            &node,
            "POST",
            "/v2/collections?namespace=docs",
            Some(r#"{"name":"notes","model":"local/all-minilm-l6-v2","fields":{"lang":"string"}}"#),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["dimension"], DIM);
        assert_eq!(r.body["fields"]["lang"], "string");
        let again = send(
            &node,
            "POST",
            "/v2/collections?namespace=docs",
            Some(r#"{"name":"notes","dimension":3}"#),
        );
        assert_eq!((again.status, code(&again)), (409, "collection_exists"));
        // Another namespace does not see it.
        let other = send(&node, "GET", "/v2/collections/notes?namespace=else", None);
        assert_eq!((other.status, code(&other)), (404, "collection_not_found"));

        let r = send(
            &node,
            "POST",
            "/v2/collections/notes/records",
            Some(
                r#"{"namespace":"docs","records":[
                {"id":"a","text":"cats sit on mats","metadata":{"lang":"en"}},
                {"id":"b","vector":[1,0,0,0,0,0,0,0],"text":"given"}]}"#,
            ),
        );
        assert_eq!(
            (r.status, &r.body["upserted"]),
            (200, &serde_json::json!(2)),
            "{}",
            r.body
        );
        // Only the record without a vector was embedded.
        assert_eq!(
            node.vectors.borrow().embedded.last().unwrap(),
            &vec!["cats sit on mats".to_string()]
        );

        // A text query is embedded and searched hybrid, with the filter.
        let r = send(
            &node,
            "POST",
            "/v2/embeddings/search?namespace=docs",
            Some(
                r#"{"collection":"notes","text":"cats sit on mats","filter":"lang = 'en'","k":1}"#,
            ),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["hits"][0]["id"], "a");
        assert_eq!(r.body["hits"][0]["metadata"]["lang"], "en");
        let q = node.vectors.borrow().queries.last().unwrap().clone();
        assert_eq!(
            q.vector.as_deref(),
            Some(&embed_text("cats sit on mats")[..])
        );
        assert_eq!(q.text.as_deref(), Some("cats sit on mats"));
        assert_eq!(q.filter.as_deref(), Some("lang = 'en'"));
        assert_eq!(q.k, 1);
        // Text only: BM25, nothing embedded.
        let r = send(
            &node,
            "POST",
            "/v2/collections/notes/search?namespace=docs",
            Some(r#"{"text":"mats","mode":"text"}"#),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let q = node.vectors.borrow().queries.last().unwrap().clone();
        assert_eq!((q.vector, q.text.as_deref(), q.k), (None, Some("mats"), 10));

        let r = send(
            &node,
            "POST",
            "/v2/collections/notes/delete?namespace=docs",
            Some(r#"{"ids":["a","zz"]}"#),
        );
        assert_eq!(r.body["deleted"], 1);
        let r = send(&node, "GET", "/v2/collections?namespace=docs", None);
        assert_eq!(r.body["collections"][0]["rows"], 1);
        let r = send(
            &node,
            "DELETE",
            "/v2/collections/notes?namespace=docs",
            None,
        );
        assert_eq!(r.body["deleted"], true);
        let r = send(
            &node,
            "DELETE",
            "/v2/collections/notes?namespace=docs",
            None,
        );
        assert_eq!((r.status, code(&r)), (404, "collection_not_found"));
    }

    #[test]
    fn bad_requests_are_named() {
        let node = FakeNode::default();
        send(
            &node,
            "POST",
            "/v2/collections",
            Some(r#"{"name":"plain","dimension":2}"#),
        );
        for (path, body, status, want) in [
            (
                "/v2/collections",
                r#"{"dimension":2}"#,
                400,
                "invalid_request",
            ),
            ("/v2/collections", r#"{"name":"x"}"#, 400, "invalid_request"),
            (
                "/v2/collections",
                r#"{"name":"x","dimension":2,"metric":"manhattan"}"#,
                400,
                "invalid_request",
            ),
            (
                "/v2/collections",
                r#"{"name":"x","dimension":2,"fields":{"a":"date"}}"#,
                400,
                "invalid_request",
            ),
            (
                "/v2/collections",
                r#"{"name":"x","model":"nope/none"}"#,
                404,
                "model_not_found",
            ),
            ("/v2/collections", "[1]", 400, "invalid_request"),
            ("/v2/collections", "{", 400, "invalid_json"),
            (
                "/v2/collections/plain/records",
                r#"{"records":[{"id":"a"}]}"#,
                400,
                "invalid_request",
            ),
            (
                "/v2/collections/plain/records",
                r#"{"records":[{"id":"a","vector":[1,"x"]}]}"#,
                400,
                "invalid_request",
            ),
            // A text to embed, but no model to embed it with.
            (
                "/v2/collections/plain/records",
                r#"{"records":[{"id":"a","text":"t"}]}"#,
                400,
                "invalid_request",
            ),
            (
                "/v2/collections/missing/records",
                r#"{"records":[{"id":"a","vector":[1,2]}]}"#,
                404,
                "collection_not_found",
            ),
            (
                "/v2/collections/plain/delete",
                r#"{"ids":[1]}"#,
                400,
                "invalid_request",
            ),
            (
                "/v2/embeddings/search",
                r#"{"text":"t"}"#,
                400,
                "invalid_request",
            ),
            (
                "/v2/embeddings/search",
                r#"{"collection":"plain"}"#,
                400,
                "invalid_request",
            ),
            (
                "/v2/embeddings/search",
                r#"{"collection":"plain","vector":[1,2],"k":0}"#,
                400,
                "invalid_request",
            ),
            (
                "/v2/embeddings/search",
                r#"{"collection":"plain","text":"t","mode":"vector"}"#,
                400,
                "invalid_request",
            ),
            (
                "/v2/embeddings/search",
                r#"{"collection":"plain","vector":[1,2],"mode":"text"}"#,
                400,
                "invalid_request",
            ),
            (
                "/v2/embeddings/generate",
                r#"{"input":[]}"#,
                400,
                "invalid_request",
            ),
            (
                "/v2/embeddings/generate",
                r#"{"input":[1]}"#,
                400,
                "invalid_request",
            ),
            (
                "/v2/embeddings/generate",
                r#"{"input":"x","model":"nope/none"}"#,
                404,
                "model_not_found",
            ),
        ] {
            let r = send(&node, "POST", path, Some(body));
            assert_eq!(
                (r.status, code(&r)),
                (status, want),
                "{path} {body}: {}",
                r.body
            );
        }
        // A text-only search of a collection without a model is BM25.
        let r = send(
            &node,
            "POST",
            "/v2/embeddings/search",
            Some(r#"{"collection":"plain","text":"t"}"#),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        for (method, path) in [
            ("PUT", "/v2/collections"),
            ("POST", "/v2/collections/plain"),
            ("GET", "/v2/collections/plain/records"),
            ("GET", "/v2/embeddings/generate"),
        ] {
            let r = send(&node, method, path, None);
            assert_eq!(r.status, 405, "{method} {path}");
        }
    }

    #[test]
    fn generate_uses_the_default_model() {
        let node = FakeNode::default();
        let r = send(
            &node,
            "POST",
            "/v2/embeddings/generate",
            Some(r#"{"input":"one two"}"#),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.body["model"], super::DEFAULT_MODEL);
        assert_eq!(r.body["dimension"], DIM);
        assert_eq!(r.body["embeddings"][0].as_array().unwrap().len(), DIM);
    }
}
