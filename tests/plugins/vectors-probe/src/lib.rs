//! Test plugin `vectors-probe`, over `hanzo:node/vectors`:
//! - `create {"namespace","name","dimension"}` → the collection
//! - `upsert {"namespace","name","records":[{"id","vector","text"?,"metadata"?}]}` → `{"upserted":n}`
//! - `search {"namespace","name","vector"?,"text"?,"filter"?,"k"?}` → `{"hits":[{"id","distance","score","metadata"}]}`
//! - `delete {"namespace","name","ids"}` → `{"deleted":n}`
//! - `list {"namespace"}` → `{"collections":[{"name","rows"}]}`
//!
//! Store errors come back as failed calls with the error in words.

use hanzo_node_sdk::tool::{self, ToolError, ToolSpec, Toolbox};
use hanzo_node_sdk::vectors::{self, CollectionSpec, Query, Record, VectorsError};
use serde::Deserialize;
use serde_json::{Value, json};

struct VectorsProbe;

#[derive(Deserialize)]
struct Target {
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct RecordArgs {
    id: String,
    vector: Vec<f32>,
    text: Option<String>,
    metadata: Option<Value>,
}

#[derive(Deserialize)]
struct Args {
    #[serde(flatten)]
    target: Target,
    dimension: Option<u32>,
    #[serde(default)]
    records: Vec<RecordArgs>,
    vector: Option<Vec<f32>>,
    text: Option<String>,
    filter: Option<String>,
    k: Option<u32>,
    #[serde(default)]
    ids: Vec<String>,
}

fn failed(e: VectorsError) -> ToolError {
    tool::failed(format!("{e:?}: {}", e.message()))
}

impl Toolbox for VectorsProbe {
    fn describe() -> Vec<ToolSpec> {
        ["create", "upsert", "search", "delete", "list"]
            .into_iter()
            .map(|name| {
                tool::spec(
                    name,
                    "A hanzo:node/vectors call",
                    json!({"type": "object"}),
                    Some(json!({"type": "object"})),
                )
            })
            .collect()
    }

    fn invoke(name: &str, arguments: &str) -> Result<String, ToolError> {
        let a: Args = tool::parse_args(arguments)?;
        let (ns, coll) = (a.target.namespace.as_str(), a.target.name.as_str());
        let result = match name {
            "create" => {
                let spec = CollectionSpec::new(a.dimension.unwrap_or(3));
                let info = vectors::create(ns, coll, &spec).map_err(failed)?;
                json!({"name": info.name, "dimension": info.spec.dimension})
            }
            "upsert" => {
                let records: Vec<Record> = a
                    .records
                    .into_iter()
                    .map(|r| {
                        let mut rec = Record::new(r.id, r.vector);
                        rec.text = r.text;
                        if let Some(m) = r.metadata {
                            rec = rec.metadata(&m);
                        }
                        rec
                    })
                    .collect();
                json!({"upserted": vectors::upsert(ns, coll, &records).map_err(failed)?})
            }
            "search" => {
                let query = Query {
                    vector: a.vector,
                    text: a.text,
                    filter: a.filter,
                    k: a.k.unwrap_or(10),
                };
                let hits = vectors::search(ns, coll, &query).map_err(failed)?;
                json!({"hits": hits.iter().map(|h| json!({
                    "id": h.id, "distance": h.distance, "score": h.score,
                    "metadata": h.metadata_json(),
                })).collect::<Vec<_>>()})
            }
            "delete" => json!({"deleted": vectors::delete(ns, coll, &a.ids).map_err(failed)?}),
            "list" => {
                let list = vectors::list(ns).map_err(failed)?;
                json!({"collections": list.iter().map(|c| json!({"name": c.name, "rows": c.rows})).collect::<Vec<_>>()})
            }
            other => return Err(tool::not_found(other)),
        };
        tool::to_result(&result)
    }
}

hanzo_node_sdk::export_tool!(VectorsProbe);
