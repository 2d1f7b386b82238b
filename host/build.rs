//! `plugin new` builds the WIT, the SDKs and their templates into the binary
//! (`include_dir!`, `include_str!`); stable Rust does not tell cargo about
//! the files a macro reads, so a change to them would not rebuild the node.

fn main() {
    for dir in [
        "../wit",
        "../sdk/src",
        "../sdk/templates",
        "../sdk/js/src",
        "../sdk/js/build.mjs",
        "../sdk/js/templates",
        "../sdk/python/src",
        "../sdk/python/templates",
    ] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
