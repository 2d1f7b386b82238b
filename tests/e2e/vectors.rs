//! The vector store end to end on the real binary: a tenant's collections
//! through api-v2's REST routes (texts embedded by the offline `local`
//! provider plugin) and through a plugin (`vectors-probe`, over
//! `hanzo:node/vectors`), real LanceDB files under the data directory that
//! survive a restart; another tenant reaching none of it; a tenant's quota;
//! a plugin without the grant refused; and the offline embedder's vectors
//! against the reference implementation's.

use crate::auth::{get, post, tenant_key};
use crate::common::{Dirs, Node, install};
use serde_json::{Value, json};

const MODEL: &str = "local/all-minilm-l6-v2";

fn start(dirs: &Dirs, config: &str) -> Node {
    let path = dirs.root.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    Node::start(dirs, &["--config", path.to_str().unwrap()])
}

/// Calls a `vectors-probe` tool as the tenant of `key`: `Ok(result)` or
/// `Err(the plugin's failure message)`.
async fn probe(node: &Node, key: &str, tool: &str, arguments: Value) -> Result<Value, String> {
    let (s, v) = post(
        node,
        "/v2/tools/execute",
        Some(key),
        json!({"tool": tool, "arguments": arguments}),
    )
    .await;
    match s {
        200 => Ok(v["result"].clone()),
        _ => Err(v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()),
    }
}

/// The ids of a search answer's hits, in order.
fn ids(v: &Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .unwrap_or_else(|| panic!("no hits: {v}"))
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a vector: {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

const DOCS: &[(&str, &str, &str, i64)] = &[
    ("cat", "The cat sits on the mat.", "en", 2020),
    ("guitar", "A man is playing a guitar on stage.", "en", 2022),
    ("katze", "Die Katze schläft auf dem Sofa.", "de", 2023),
    (
        "rust",
        "Rust compiles to WebAssembly components.",
        "en",
        2024,
    ),
    (
        "stocks",
        "Stock markets fell sharply on Monday.",
        "en",
        2021,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_stores_and_searches_through_rest_and_plugins_and_no_other_tenant_sees_it() {
    let dirs = Dirs::new();
    for plugin in ["api-v2", "local", "vectors-probe"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    let alpha = tenant_key(&dirs, "alpha", "user");
    let beta = tenant_key(&dirs, "beta", "user");
    let config = "[tenants.beta]\nvector_rows = 2\n";
    let node = start(&dirs, config);

    // A collection whose texts the offline model embeds: its dimension is the model's.
    let (s, v) = post(
        &node,
        "/v2/collections",
        Some(&alpha),
        json!({"name": "notes", "model": MODEL, "fields": {"lang": "string", "year": "int"}}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["dimension"].as_u64(), v["rows"].as_u64()),
        (Some(384), Some(0)),
        "{v}"
    );
    let records: Vec<Value> = DOCS
        .iter()
        .map(|(id, text, lang, year)| {
            json!({"id": id, "text": text, "metadata": {"lang": lang, "year": year, "source": "test"}})
        })
        .collect();
    let (s, v) = post(
        &node,
        "/v2/collections/notes/records",
        Some(&alpha),
        json!({"records": records}),
    )
    .await;
    assert_eq!((s, v["upserted"].as_u64()), (200, Some(5)), "{v}");

    let search = async |body: Value| {
        let (s, v) = post(&node, "/v2/embeddings/search", Some(&alpha), body).await;
        assert_eq!(s, 200, "{v}");
        v
    };
    // By meaning: no word of the query is in the nearest text.
    let v = search(json!({"collection": "notes", "text": "a kitten resting on a rug", "mode": "vector", "k": 2})).await;
    assert_eq!(ids(&v)[0], "cat", "{v}");
    assert!(v["hits"][0]["distance"].is_number(), "{v}");
    assert_eq!(v["hits"][0]["metadata"]["source"], "test", "{v}");
    // A filter over the typed fields.
    let v =
        search(json!({"collection": "notes", "text": "a kitten", "filter": "lang = 'de'"})).await;
    assert_eq!(ids(&v), ["katze"], "{v}");
    let v = search(json!({"collection": "notes", "text": "programming", "filter": "year >= 2023", "mode": "vector"})).await;
    let mut found = ids(&v);
    found.sort();
    assert_eq!(found, ["katze", "rust"], "{v}");
    // Full text (BM25) and hybrid.
    let v = search(json!({"collection": "notes", "text": "guitar", "mode": "text"})).await;
    assert_eq!(ids(&v), ["guitar"], "{v}");
    assert!(v["hits"][0]["score"].is_number(), "{v}");
    let v = search(json!({"collection": "notes", "text": "guitar concert music", "k": 3})).await;
    assert_eq!(ids(&v)[0], "guitar", "{v}");

    // A plugin sees the same collection of the same tenant: a vector from
    // /v2/embeddings/generate finds its text.
    let (s, v) = post(
        &node,
        "/v2/embeddings/generate",
        Some(&alpha),
        json!({"input": ["Rust compiles to WebAssembly components.", "a compiler for the web"]}),
    )
    .await;
    assert_eq!(
        (s, v["dimension"].as_u64(), v["model"].as_str()),
        (200, Some(384), Some("all-minilm-l6-v2")),
        "{v}"
    );
    let rust_vector = v["embeddings"][0].clone();
    let query_vector = v["embeddings"][1].clone();
    let hits = probe(
        &node,
        &alpha,
        "search",
        json!({"name": "notes", "vector": rust_vector, "k": 1}),
    )
    .await
    .unwrap();
    assert_eq!(hits["hits"][0]["id"], "rust", "{hits}");
    assert!(
        hits["hits"][0]["distance"].as_f64().unwrap() < 1e-4,
        "{hits}"
    );
    let r = probe(
        &node,
        &alpha,
        "upsert",
        json!({"name": "notes", "records": [{"id": "from-plugin", "vector": query_vector, "text": "written by a plugin", "metadata": {"lang": "en", "year": 2025}}]}),
    )
    .await
    .unwrap();
    assert_eq!(r["upserted"], 1, "{r}");
    let (_, v) = get(&node, "/v2/collections/notes", Some(&alpha)).await;
    assert_eq!(v["rows"], 6, "{v}");
    let v =
        search(json!({"collection": "notes", "text": "written by a plugin", "mode": "text"})).await;
    assert_eq!(ids(&v), ["from-plugin"], "{v}");

    // Delete by id.
    let (s, v) = post(
        &node,
        "/v2/collections/notes/delete",
        Some(&alpha),
        json!({"ids": ["cat", "nope"]}),
    )
    .await;
    assert_eq!((s, v["deleted"].as_u64()), (200, Some(1)), "{v}");
    let v = search(json!({"collection": "notes", "text": "a kitten resting on a rug", "mode": "vector", "filter": "lang = 'en'"})).await;
    assert!(!ids(&v).contains(&"cat".to_string()), "{v}");

    // Another tenant reaches none of it, by REST or by plugin.
    let (s, v) = get(&node, "/v2/collections", Some(&beta)).await;
    assert_eq!((s, v["collections"].clone()), (200, json!([])), "{v}");
    let (s, v) = get(&node, "/v2/collections/notes", Some(&beta)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("collection_not_found")),
        "{v}"
    );
    let (s, v) = post(
        &node,
        "/v2/embeddings/search",
        Some(&beta),
        json!({"collection": "notes", "text": "cat"}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (404, Some("collection_not_found")),
        "{v}"
    );
    let e = probe(
        &node,
        &beta,
        "search",
        json!({"name": "notes", "vector": rust_vector}),
    )
    .await
    .unwrap_err();
    assert!(e.contains("NotFound"), "{e}");
    assert_eq!(
        probe(&node, &beta, "list", json!({})).await.unwrap()["collections"],
        json!([])
    );
    // Its own collection of the same name is another table.
    probe(
        &node,
        &beta,
        "create",
        json!({"name": "notes", "dimension": 3}),
    )
    .await
    .unwrap();

    // Beta's quota: 2 rows in all its collections.
    let upsert = |ids: &[&str]| json!({"name": "notes", "records": ids.iter().map(|id| json!({"id": id, "vector": [1.0, 0.0, 0.0]})).collect::<Vec<_>>()});
    probe(&node, &beta, "upsert", upsert(&["a", "b"]))
        .await
        .unwrap();
    let e = probe(&node, &beta, "upsert", upsert(&["c"]))
        .await
        .unwrap_err();
    assert!(
        e.contains("QuotaExceeded") && e.contains("tenants.beta.vector_rows"),
        "{e}"
    );
    let (s, v) = post(
        &node,
        "/v2/collections/notes/records",
        Some(&beta),
        json!({"records": [{"id": "c", "vector": [0.0, 1.0, 0.0]}]}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (429, Some("quota_exceeded")),
        "{v}"
    );

    // The files are real LanceDB tables under the data directory, and a
    // restart finds them.
    assert!(dirs.data.join("vectors").read_dir().unwrap().count() >= 2);
    drop(node);
    let node = start(&dirs, config);
    let (_, v) = get(&node, "/v2/collections", Some(&alpha)).await;
    assert_eq!(v["collections"][0]["name"], "notes", "{v}");
    assert_eq!(v["collections"][0]["rows"], 5, "{v}");
    assert_eq!(v["collections"][0]["model"], MODEL, "{v}");
    let (s, v) = post(
        &node,
        "/v2/embeddings/search",
        Some(&alpha),
        json!({"collection": "notes", "text": "guitar", "mode": "text"}),
    )
    .await;
    assert_eq!((s, ids(&v)), (200, vec!["guitar".to_string()]), "{v}");
    let (s, v) = get(&node, "/v2/collections/notes", Some(&beta)).await;
    assert_eq!((s, v["rows"].as_u64()), (200, Some(2)), "{v}");
    // Dropped, it is gone.
    let (s, _) = crate::auth::delete(&node, "/v2/collections/notes", Some(&alpha)).await;
    assert_eq!(s, 200);
    let (s, _) = get(&node, "/v2/collections/notes", Some(&alpha)).await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plugin_reaches_vectors_only_when_requested_and_granted() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let key = tenant_key(&dirs, "alpha", "user");
    // Not requested by its manifest.
    install(&dirs.plugins, "vectors-probe", "vectors-probe", |m| {
        crate::common::set(m, "permissions", "vectors", toml::Value::Boolean(false));
    });
    let node = start(&dirs, "");
    let e = probe(&node, &key, "list", json!({})).await.unwrap_err();
    assert!(
        e.contains("Denied") && e.contains("permissions.vectors"),
        "{e}"
    );
    drop(node);
    // Requested, but the operator says no.
    install(&dirs.plugins, "vectors-probe", "vectors-probe", |_| {});
    let node = start(&dirs, "[plugins.vectors-probe]\nvectors = false\n");
    let e = probe(&node, &key, "list", json!({})).await.unwrap_err();
    assert!(
        e.contains("Denied") && e.contains("permissions.vectors"),
        "{e}"
    );
    drop(node);
    // Requested and allowed (the node-wide default).
    let node = start(&dirs, "");
    let r = probe(&node, &key, "list", json!({})).await;
    assert_eq!(r, Ok(json!({"collections": []})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_offline_embedder_matches_the_reference() {
    let reference: Value = serde_json::from_str(
        &std::fs::read_to_string(crate::common::repo().join("tests/data/minilm_reference.json"))
            .unwrap(),
    )
    .unwrap();
    let sentences = reference["sentences"].clone();
    let dirs = Dirs::new();
    for plugin in ["api-v2", "api-openai", "local"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    let node = start(&dirs, "");
    // The OpenAI API, as its clients call it.
    let (s, v) = post(
        &node,
        "/v1/embeddings",
        None,
        json!({"model": MODEL, "input": sentences}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), sentences.as_array().unwrap().len());
    for (i, want) in reference["embeddings"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        let got = floats(&data[i]["embedding"]);
        let c = cosine(&got, &floats(want));
        assert!(c >= 0.99, "sentence {i} ({}): cosine {c}", sentences[i]);
    }
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 20, "{v}");
    // api-v2's, with the model by default.
    let (s, v) = post(
        &node,
        "/v2/embeddings/generate",
        None,
        json!({"input": sentences[0]}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let c = cosine(
        &floats(&v["embeddings"][0]),
        &floats(&reference["embeddings"][0]),
    );
    assert!(c >= 0.99, "cosine {c}");
    // What it does not do, said clearly.
    let (s, v) = post(
        &node,
        "/v1/embeddings",
        None,
        json!({"model": MODEL, "input": "x", "dimensions": 256}),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = post(
        &node,
        "/v1/chat/completions",
        None,
        json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert!((400..500).contains(&s), "{s} {v}");
}

/// Polls until job `id` ended; the whole job.
async fn finished(node: &Node, id: &str) -> Value {
    let mut last = Value::Null;
    let done = crate::common::eventually(std::time::Duration::from_secs(60), async || {
        last = get(node, &format!("/v2/jobs/{id}"), None).await.1;
        matches!(last["state"].as_str(), Some("done" | "failed"))
    })
    .await;
    assert!(done, "job {id} did not finish: {last}");
    last
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_recalls_from_its_memory_before_each_step() {
    let mock = crate::mock_openai::MockOpenAi::start().await;
    let dirs = Dirs::new();
    for plugin in ["api-v2", "local", "openai"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    let config = crate::mock_openai::openai_toml(&mock);
    let node = start(&dirs, &config);
    let (s, v) = post(
        &node,
        "/v2/collections?namespace=mem",
        None,
        json!({"name": "facts", "model": MODEL}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let records: Vec<Value> = DOCS
        .iter()
        .map(|(id, text, _, _)| json!({"id": id, "text": text}))
        .collect();
    let (s, v) = post(
        &node,
        "/v2/collections/facts/records?namespace=mem",
        None,
        json!({"records": records}),
    )
    .await;
    assert_eq!(s, 200, "{v}");

    let agent = async |name: &str, memory: Value| {
        let (s, v) = post(
            &node,
            "/v2/agents/create",
            None,
            json!({"name": name, "model": "gpt", "system_prompt": "Answer from memory.",
                   "settings": {"memory": memory}}),
        )
        .await;
        assert_eq!(s, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    };
    let with_memory = agent(
        "rememberer",
        json!({"collection": "facts", "namespace": "mem", "k": 1}),
    )
    .await;
    let (s, v) = post(
        &node,
        "/v2/jobs",
        None,
        json!({"kind": "agent", "input": {"agent": with_memory, "input": "Where does the kitten rest?"}}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let job = finished(&node, v["job"]["id"].as_str().unwrap()).await;
    assert_eq!(job["state"], "done", "{job}");

    // The model saw the nearest memory after the agent's prompt, and only it.
    let asked: Vec<Value> = mock
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .map(|r| r.body)
        .collect();
    assert_eq!(asked.len(), 1, "{asked:?}");
    let messages = asked[0]["messages"].as_array().unwrap();
    assert_eq!(
        messages[0]["content"], "Answer from memory.",
        "{messages:?}"
    );
    assert_eq!(messages[1]["role"], "system", "{messages:?}");
    let recalled = messages[1]["content"].as_str().unwrap();
    assert!(recalled.contains("The cat sits on the mat."), "{recalled}");
    assert!(!recalled.contains("guitar"), "k = 1: {recalled}");
    assert_eq!(
        messages[2]["content"], "Where does the kitten rest?",
        "{messages:?}"
    );
    // Context for the step, not a message of the job.
    let (_, stored) = get(
        &node,
        &format!("/v2/jobs/{}/messages", job["id"].as_str().unwrap()),
        None,
    )
    .await;
    assert!(
        !stored.to_string().contains("The cat sits on the mat."),
        "{stored}"
    );

    // A memory that does not exist fails the job, saying so.
    let missing = agent(
        "forgetful",
        json!({"collection": "nothing", "namespace": "mem"}),
    )
    .await;
    let (_, v) = post(
        &node,
        "/v2/jobs",
        None,
        json!({"kind": "agent", "input": {"agent": missing, "input": "hi"}}),
    )
    .await;
    let job = finished(&node, v["job"]["id"].as_str().unwrap()).await;
    assert_eq!(
        (job["state"].as_str(), job["error"]["code"].as_str()),
        (Some("failed"), Some("memory_not_found")),
        "{job}"
    );
    // A malformed memory is refused when the agent is defined.
    let (s, v) = post(
        &node,
        "/v2/agents/create",
        None,
        json!({"name": "bad", "model": "gpt", "settings": {"memory": {"collection": "facts", "k": 0}}}),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
}

/// What a Python or JavaScript test plugin's `vectors` probe
/// (`py-host-probe`, `js-host-probe`) saw: a collection created (and refused
/// again), two records written (one of the wrong dimension refused), the
/// nearest first with text and metadata, a filter, a delete, the listing,
/// the drop, and then `not_found_kind` (the language's spelling).
pub(crate) fn check_sdk_vectors(v: &Value, not_found_kind: &str) {
    assert_eq!(
        v["created"],
        json!({"name": "notes", "dimension": 3, "metric": "cosine", "rows": 0}),
        "{v}"
    );
    assert_eq!(v["exists"], "exists", "{v}");
    assert_eq!(v["written"], 2, "{v}");
    assert_eq!(v["wrong_dimension"], "invalid", "{v}");
    assert_eq!(
        v["nearest"],
        json!([
            {"id": "a", "text": "the first note", "metadata": {"lang": "en"}, "nearer": true},
            {"id": "b", "text": "la deuxieme", "metadata": {"lang": "fr"}, "nearer": true},
        ]),
        "{v}"
    );
    assert_eq!(v["french"], json!(["b"]), "{v}");
    assert_eq!(
        (&v["deleted"], &v["rows_left"]),
        (&json!(1), &json!(1)),
        "{v}"
    );
    assert_eq!(v["listed"], json!(["notes"]), "{v}");
    assert_eq!(
        (&v["dropped"], &v["missing"]),
        (&json!(true), &json!(not_found_kind)),
        "{v}"
    );
}
