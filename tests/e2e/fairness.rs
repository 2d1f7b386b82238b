//! CPU fairness: a plugin call that burns the CPU leaves the thread that
//! accepts and answers. With a single serving thread, a spinning tool call
//! and a spinning API handler each run until their time limit while the
//! same thread keeps answering other requests; the plugin's later calls
//! start off the serving thread at once.

use crate::common::{Dirs, Node, client, get_json, install, set};
use serde_json::{Value, json};

/// Sends GET `url` one after the other until `running` finishes; returns how
/// many were answered 200 while it ran, and what `running` returned.
async fn served_while<T>(
    c: &reqwest::Client,
    url: &str,
    running: tokio::task::JoinHandle<T>,
) -> (usize, T) {
    let mut served = 0;
    while !running.is_finished() {
        let r = c.get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap();
        if !running.is_finished() {
            served += 1;
        }
    }
    (served, running.await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_plugin_does_not_starve_its_serving_thread() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "hello", "api-crash", |m| {
        m.insert("name".into(), toml::Value::String("hello".into()));
        m.insert(
            "routes".into(),
            toml::Value::Array(vec![toml::Value::String("/hello".into())]),
        );
    });
    install(&dirs.plugins, "api-crash", "api-crash", |m| {
        set(m, "limits", "timeout_ms", toml::Value::Integer(3000))
    });
    install(&dirs.plugins, "spin-forever", "spin-forever", |m| {
        set(m, "limits", "timeout_ms", toml::Value::Integer(3000))
    });
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let config = dirs.root.path().join("node.toml");
    // One serving thread: without fairness every request would queue behind the loop.
    std::fs::write(&config, "http_threads = 1\n").unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let c = client();
    let hello = node.url("/hello");

    let spin = |c: reqwest::Client, url: String| {
        tokio::spawn(async move {
            let r = c
                .post(url)
                .json(&json!({"tool": "spin", "arguments": {}}))
                .send()
                .await
                .unwrap();
            r.json::<Value>().await.unwrap()
        })
    };
    for round in 0..2 {
        let running = spin(c.clone(), node.url("/v2/tools/execute"));
        let (served, answer) = served_while(&c, &hello, running).await;
        assert!(
            answer.to_string().contains("time limit"),
            "the loop ran to its time limit: {answer}"
        );
        // About 3000 would fit in the loop's 3 s; a starved thread answers a handful.
        assert!(
            served >= 20,
            "round {round}: only {served} answered beside the loop"
        );
    }
    let plugin = get_json(&c, node.url("/v2/plugins/spin-forever")).await;
    assert_eq!(
        plugin["background_calls"], 2,
        "both calls ran off the serving thread (the second from its start): {plugin}"
    );

    // An API handler that loops, on the same thread as hello's.
    let c2 = c.clone();
    let url = node.url("/crash/spin");
    let running = tokio::spawn(async move { c2.get(url).send().await.unwrap().status() });
    let (served, status) = served_while(&c, &hello, running).await;
    assert_eq!(status, 504, "the handler was stopped at its time limit");
    assert!(
        served >= 20,
        "only {served} answered beside the looping handler"
    );
    let plugin = get_json(&c, node.url("/v2/plugins/api-crash")).await;
    assert_eq!(plugin["background_calls"], 1, "{plugin}");
}
