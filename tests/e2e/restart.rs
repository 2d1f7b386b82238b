//! A second start with the same plugins compiles nothing: every component
//! comes from the on-disk compile cache (asserted through the node's counters).

use crate::common::{Dirs, Node, client, install};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_start_compiles_nothing() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "tools-basic", "tools-basic", |_| {});
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    install(&dirs.plugins, "openai", "openai", |_| {});

    let node = Node::start(&dirs, &[]);
    let h: Value = client()
        .get(node.url("/v2/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["plugins"]["loaded"], 3);
    assert_eq!(h["compile"]["compiled"], 3, "{h}");
    assert_eq!(h["compile"]["cache_hits"], 0, "{h}");
    assert!(node.stop().0.success());

    let node = Node::start(&dirs, &[]);
    let h: Value = client()
        .get(node.url("/v2/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(h["plugins"]["loaded"], 3);
    assert_eq!(
        h["compile"]["compiled"], 0,
        "a restart must not compile: {h}"
    );
    assert_eq!(h["compile"]["cache_hits"], 3, "{h}");
    // And the cached components work.
    let r = client()
        .get(node.url("/v2/tools/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
