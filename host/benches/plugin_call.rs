//! `make bench`: the cost of a trivial plugin call — fresh instance + call +
//! drop — through the node, next to bare wasmtime doing the same with an empty
//! WASI context and a direct native call, measured in the same run. Prints
//! median and p99 per path and the ratios.

use hanzo_node::Runtime;
use hanzo_node::bindings::tool::ToolPre;
use hanzo_node::engine::{Engine, PoolConfig};
use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use wasmtime::Store;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

const WARMUP: usize = 2_000;
const ITERS: usize = 20_000;

fn plugin_wasm() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let p = target.join("wasm32-wasip2/plugin/echo_version.wasm");
    assert!(
        p.is_file(),
        "{} missing: run `make bench` (it builds the plugins)",
        p.display()
    );
    p
}

struct Stats {
    median: Duration,
    p99: Duration,
}

async fn measure<F: AsyncFnMut()>(mut f: F) -> Stats {
    for _ in 0..WARMUP {
        f().await;
    }
    let mut samples = Vec::with_capacity(ITERS);
    for _ in 0..ITERS {
        let t = Instant::now();
        f().await;
        samples.push(t.elapsed());
    }
    samples.sort();
    Stats {
        median: samples[ITERS / 2],
        p99: samples[ITERS * 99 / 100],
    }
}

struct Bare {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl WasiView for Bare {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

#[inline(never)]
fn native_noop(name: &str, args: &str) -> Result<String, String> {
    if name == "noop" && args.starts_with('{') {
        Ok("{}".to_string())
    } else {
        Err("unknown tool".into())
    }
}

/// A node serving the test plugin `wasm` under its manifest as `edit`
/// returns it, in a scratch directory (kept alive by the returned guard).
async fn node_with(
    wasm: &PathBuf,
    edit: impl FnOnce(String) -> String,
) -> (tempfile::TempDir, std::sync::Arc<Runtime>) {
    let dir = tempfile::tempdir().unwrap();
    let plugin_dir = dir.path().join("plugins/echo-version");
    std::fs::create_dir_all(&plugin_dir).unwrap();
    std::fs::copy(wasm, plugin_dir.join("echo_version.wasm")).unwrap();
    let manifest = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/plugins/echo-version/plugin.toml"),
    )
    .unwrap();
    std::fs::write(plugin_dir.join("plugin.toml"), edit(manifest)).unwrap();
    let node = Runtime::new(hanzo_node::NodeConfig {
        data_dir: dir.path().join("data"),
        plugins_dir: Some(dir.path().join("plugins")),
        ..Default::default()
    })
    .unwrap();
    hanzo_node::loader::load_all(&node).await;
    (dir, node)
}

fn main() {
    let wasm = plugin_wasm();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        // The node's path: registry lookup, concurrency permit, a store with
        // tenant, grants, limits and epoch deadline, instantiate, call, drop.
        let (_dir, node) = node_with(&wasm, |manifest| manifest).await;
        let plugin = node.plugin("echo-version").unwrap();
        let tenant: hanzo_node::call_state::Tenant = "bench".into();

        // The same plugin opting in to instance reuse, on a node of its own.
        let (_reuse_dir, reuse_node) = node_with(&wasm, |manifest| {
            manifest.replace("[limits]\n", "[limits]\ncalls_per_instance = 100000\n")
        })
        .await;
        let reuse_plugin = reuse_node.plugin("echo-version").unwrap();
        assert_eq!(reuse_plugin.manifest.limits.calls_per_instance, 100_000);

        // Bare wasmtime: same engine settings and component, empty WASI
        // context, the node's own imports stubbed out.
        let engine = Engine::new(&PoolConfig::default(), None).unwrap();
        let bytes = std::fs::read(&wasm).unwrap();
        let component = engine.component(&bytes, &blake3::hash(&bytes)).unwrap();
        let mut linker: Linker<Bare> = Linker::new(&engine.wasmtime);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        // The node's own interfaces are stubbed: the call under test uses none.
        let ty = component.component_type();
        for (name, item) in ty.imports(&engine.wasmtime) {
            let (true, ComponentItem::ComponentInstance(instance)) = (name.starts_with("hanzo:"), item.ty) else {
                continue;
            };
            let mut inst = linker.instance(name).unwrap();
            for (func, item) in instance.exports(&engine.wasmtime) {
                if let ComponentItem::ComponentFunc(_) = item.ty {
                    inst.func_new(func, |_, _, _, _| wasmtime::bail!("not available in the bare baseline"))
                        .unwrap();
                }
            }
        }
        let pre = ToolPre::new(linker.instantiate_pre(&component).unwrap()).unwrap();

        let native = measure(async || {
            black_box(native_noop(black_box("noop"), black_box("{}")).unwrap());
        })
        .await;
        let bare = measure(async || {
            let mut store = Store::new(
                &engine.wasmtime,
                Bare {
                    wasi: WasiCtx::builder().build(),
                    table: ResourceTable::new(),
                },
            );
            store.set_epoch_deadline(u64::MAX / 2);
            let tool = pre.instantiate_async(&mut store).await.unwrap();
            let r = tool.hanzo_node_toolbox().call_invoke(&mut store, "noop", "{}").await.unwrap();
            black_box(r.unwrap());
        })
        .await;
        let hanzo = measure(async || {
            let r = node.call_tool_plugin(&plugin, tenant.clone(), "noop", "{}").await.unwrap();
            black_box(r.unwrap());
        })
        .await;
        let catalog = measure(async || {
            black_box(node.invoke_tool(tenant.clone(), "noop", "{}").await.unwrap());
        })
        .await;
        let reused = measure(async || {
            let r = reuse_node
                .call_tool_plugin(&reuse_plugin, tenant.clone(), "noop", "{}")
                .await
                .unwrap();
            black_box(r.unwrap());
        })
        .await;

        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!("trivial plugin call: fresh instance + call + drop ({ITERS} calls each, after {WARMUP} warm-up)");
        println!("{:<46} {:>11} {:>11} {:>14}", "path", "median µs", "p99 µs", "median vs bare");
        for (name, s) in [
            ("native function call", &native),
            ("bare wasmtime, empty WASI ctx", &bare),
            ("hanzo-node call_tool_plugin", &hanzo),
            ("hanzo-node invoke_tool (+ schema check)", &catalog),
            ("hanzo-node call_tool_plugin, instance reused", &reused),
        ] {
            println!(
                "{:<46} {:>11.2} {:>11.2} {:>13.2}x",
                name,
                us(s.median),
                us(s.p99),
                us(s.median) / us(bare.median)
            );
        }
        println!(
            "node overhead over bare wasmtime: {:.2}x median (budget 1.2x); target ≤ 10 µs median: {}",
            us(hanzo.median) / us(bare.median),
            if us(hanzo.median) <= 10.0 { "met" } else { "not met" }
        );
    });
}
