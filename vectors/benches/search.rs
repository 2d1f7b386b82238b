//! The vector store's benchmark (issue 19's numbers), one run, one machine:
//! N × 384 normalised vectors in clusters (uniform noise flatters every
//! index), inserted through the store, indexed by its upkeep, then queried
//! one at a time for the top 10: latency percentiles and recall@10 against
//! exact search (brute force here), alone and with the tenant's collection
//! among several others, and sqlite-vec (`pip install sqlite-vec`, the
//! store the published node uses) on the same data in the same run.
//!
//!     cargo bench -p hanzo-node-vectors --bench search -- [N] [QUERIES] [NPROBES,EF,REFINE]
//!
//! (`make bench-vectors`.) The third argument tries other search settings
//! than the store's defaults ([`Tuning`]).
//!
//! `HANZO_BENCH_PYTHON` names a Python with sqlite-vec (default `python3`);
//! without it the sqlite-vec row says so.

use hanzo_node_vectors::{CollectionSpec, Metric, Query, Record, Scope, Tuning, VectorStore};
use serde_json::Map;
use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

const DIM: usize = 384;
const K: usize = 10;
const CLUSTERS: usize = 200;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let queries: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let tuning = match args.next() {
        Some(t) => {
            let v: Vec<usize> = t.split(',').filter_map(|x| x.parse().ok()).collect();
            let [nprobes, ef, refine] = v[..] else {
                panic!("tuning is NPROBES,EF,REFINE");
            };
            Tuning {
                nprobes,
                ef,
                refine: refine as u32,
            }
        }
        None => Tuning::default(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(n, queries, tuning));
}

/// Clustered unit vectors (xorshift, seeded: every run the same data).
fn clustered(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ seed;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let mut centres_rng = {
        let mut s = 0xdead_beefu64;
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
        }
    };
    let centres: Vec<Vec<f32>> = (0..CLUSTERS)
        .map(|_| (0..DIM).map(|_| centres_rng()).collect())
        .collect();
    (0..n)
        .map(|_| {
            let c = &centres[(next().abs() * CLUSTERS as f32) as usize % CLUSTERS];
            let v: Vec<f32> = c.iter().map(|x| x + 0.35 * next()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.into_iter().map(|x| x / norm).collect()
        })
        .collect()
}

/// The exact top-k by cosine (vectors are unit: the largest dot products).
fn exact(data: &[Vec<f32>], q: &[f32]) -> Vec<usize> {
    let mut scored: Vec<(f32, usize)> = data
        .iter()
        .enumerate()
        .map(|(i, v)| (v.iter().zip(q).map(|(a, b)| a * b).sum::<f32>(), i))
        .collect();
    scored.select_nth_unstable_by(K, |a, b| b.0.total_cmp(&a.0));
    scored.truncate(K);
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().map(|(_, i)| i).collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn load(
    store: &VectorStore,
    scope: &Scope,
    name: &str,
    data: &[Vec<f32>],
) -> (Duration, Duration) {
    let spec = CollectionSpec {
        dimension: DIM as u32,
        metric: Metric::Cosine,
        fields: BTreeMap::new(),
        model: None,
    };
    let c = store.create(scope, name, spec).await.unwrap();
    let started = Instant::now();
    for (chunk_no, chunk) in data.chunks(5_000).enumerate() {
        let records: Vec<Record> = chunk
            .iter()
            .enumerate()
            .map(|(i, v)| Record {
                id: format!("r{}", chunk_no * 5_000 + i),
                vector: v.clone(),
                text: None,
                metadata: Map::new(),
            })
            .collect();
        c.upsert(&records).await.unwrap();
    }
    let inserted = started.elapsed();
    let started = Instant::now();
    c.maintain().await.unwrap();
    (inserted, started.elapsed())
}

/// p50, p99 and recall@10 of `queries` against `name`.
async fn measure(
    store: &VectorStore,
    scope: &Scope,
    name: &str,
    queries: &[Vec<f32>],
    truth: &[Vec<usize>],
) -> (Duration, Duration, f64) {
    let c = store.get(scope, name).await.unwrap();
    // Warm: the index's files in the page cache, as a serving node's are.
    for q in queries.iter().take(20) {
        c.search(&Query {
            vector: Some(q.clone()),
            k: Some(K),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    let mut times = Vec::with_capacity(queries.len());
    let mut found = 0;
    for (q, t) in queries.iter().zip(truth) {
        let started = Instant::now();
        let hits = c
            .search(&Query {
                vector: Some(q.clone()),
                k: Some(K),
                ..Default::default()
            })
            .await
            .unwrap();
        times.push(started.elapsed());
        found += hits
            .iter()
            .filter(|h| t.iter().any(|i| h.id == format!("r{i}")))
            .count();
    }
    times.sort();
    (
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        found as f64 / (K * queries.len()) as f64,
    )
}

fn write_f32(path: &std::path::Path, rows: &[Vec<f32>]) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for r in rows {
        for x in r {
            f.write_all(&x.to_le_bytes()).unwrap();
        }
    }
}

/// sqlite-vec's p50, p99 and recall, or why there are none.
fn sqlite_vec(
    dir: &std::path::Path,
    data: &[Vec<f32>],
    queries: &[Vec<f32>],
    truth: &[Vec<usize>],
) -> Result<(f64, f64, f64), String> {
    let python = std::env::var("HANZO_BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    write_f32(&dir.join("data.f32"), data);
    write_f32(&dir.join("queries.f32"), queries);
    let truth_text: String = truth
        .iter()
        .map(|t| {
            t.iter()
                .map(|i| i.to_string())
                .collect::<Vec<_>>()
                .join(" ")
                + "\n"
        })
        .collect();
    std::fs::write(dir.join("truth.txt"), truth_text).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/sqlite_vec_bench.py");
    let out = std::process::Command::new(&python)
        .arg(script)
        .arg(dir)
        .arg(DIM.to_string())
        .arg(K.to_string())
        .output()
        .map_err(|e| format!("{python}: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Vec<f64> = text
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    match v.as_slice() {
        [p50, p99, recall, ..] => Ok((*p50, *p99, *recall)),
        _ => Err(format!("unexpected output: {text}")),
    }
}

async fn run(n: usize, q: usize, tuning: Tuning) {
    eprintln!("generating {n} × {DIM} clustered vectors and {q} queries");
    let data = clustered(n, 1);
    let queries = clustered(q, 2);
    let started = Instant::now();
    let truth: Vec<Vec<usize>> = queries.iter().map(|v| exact(&data, v)).collect();
    let brute = started.elapsed() / q as u32;
    let dir = tempfile::tempdir().unwrap();
    let store = VectorStore::open_tuned(&dir.path().join("vectors"), tuning)
        .await
        .unwrap();
    let mine = Scope::new("acme", "docs");
    let (inserted, indexed) = load(&store, &mine, "main", &data).await;
    let alone = measure(&store, &mine, "main", &queries, &truth).await;
    // Other tenants' collections beside it, of other data.
    for (i, t) in ["globex", "initech", "umbrella"].iter().enumerate() {
        let other = clustered(n / 4, 10 + i as u64);
        load(&store, &Scope::new(*t, "docs"), "main", &other).await;
    }
    let among = measure(&store, &mine, "main", &queries, &truth).await;
    let sqlite = sqlite_vec(dir.path(), &data, &queries, &truth);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "\n| {n} × {DIM}, clustered, top-{K}, one query at a time | p50 ms | p99 ms | recall@10 |"
    );
    println!("| --- | --- | --- | --- |");
    println!(
        "| LanceDB (IVF_HNSW_SQ; nprobes {}, ef {}, refine {}), alone | {:.2} | {:.2} | {:.4} |",
        tuning.nprobes,
        tuning.ef,
        tuning.refine,
        ms(alone.0),
        ms(alone.1),
        alone.2
    );
    println!(
        "| LanceDB, among 3 other tenants' collections | {:.2} | {:.2} | {:.4} |",
        ms(among.0),
        ms(among.1),
        among.2
    );
    match &sqlite {
        Ok((p50, p99, recall)) => {
            println!("| sqlite-vec (exact scan) | {p50:.2} | {p99:.2} | {recall:.4} |");
            println!("\nsqlite-vec p50 / LanceDB p50: {:.1}x", p50 / ms(alone.0));
        }
        Err(why) => println!("| sqlite-vec | not run: {why} | | |"),
    }
    println!(
        "brute force in Rust (one thread): {:.1} ms per query",
        ms(brute)
    );
    println!(
        "insert: {:.0} vectors/s ({:.1} s); index build: {:.1} s",
        n as f64 / inserted.as_secs_f64(),
        inserted.as_secs_f64(),
        indexed.as_secs_f64()
    );
}
