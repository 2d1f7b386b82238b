//! Containers as a tool runtime, against a real Docker engine: the
//! `tools-containers` plugin runs the tools the operator declares, each a
//! command in the locally built `hanzo-test-tools:1` image
//! (`tests/containers/build-test-image.sh`; no registry is reachable), with
//! the call's arguments on standard input. Checked: results and failures,
//! the timeout, no network, the process limit, images the operator did not
//! grant, no container left behind (after a run, a timeout, and a crash of
//! the node mid-run), and an agent job calling a container tool.
//!
//! `.ci/run` starts an engine. Without one these tests fail, saying so,
//! unless `HANZO_TEST_NO_DOCKER=1` is set.

use crate::common::{Dirs, Node, client, eventually, install};
use crate::mock_openai::MockOpenAi;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

const IMAGE: &str = "hanzo-test-tools:1";

/// Whether to run: an engine answers and the test image is there. Fails
/// when no engine answers, unless the operator of the run said to skip.
pub fn docker() -> bool {
    docker_with(IMAGE, "tests/containers/build-test-image.sh")
}

/// Whether to run tests of `image`, which `script` builds (see [`docker`]).
pub fn docker_with(image: &str, script: &str) -> bool {
    if std::env::var("HANZO_TEST_NO_DOCKER").is_ok_and(|v| v == "1") {
        eprintln!("!!! HANZO_TEST_NO_DOCKER=1: the containers tests are SKIPPED, not run !!!");
        return false;
    }
    let info = Command::new("docker").arg("info").output();
    assert!(
        info.is_ok_and(|o| o.status.success()),
        "no Docker engine answers `docker info`: the containers tests need one (`.ci/run` \
         starts it: dockerd --storage-driver=vfs --iptables=false --bridge=none); set \
         HANZO_TEST_NO_DOCKER=1 to skip them knowingly"
    );
    let script = crate::common::repo().join(script);
    let built = Command::new(script).arg(image).status().unwrap();
    assert!(built.success(), "cannot build {image}");
    true
}

/// The containers this plugin started that still exist (running or not).
fn left_behind() -> Vec<String> {
    started_by("tools-containers")
}

/// The containers plugin `plugin` started that still exist.
pub fn started_by(plugin: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=dev.hanzo.plugin={plugin}"),
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// The tools the operator declares for the tests.
const TOOLS: &str = r#"
[plugins.tools-containers]
containers = ["hanzo-test-tools:1"]

[plugins.tools-containers.config]
tools = [
  { name = "word_count", description = "Counts the words of its input", image = "hanzo-test-tools:1", command = ["sh", "-c", "wc -w"], parameters = { type = "object", properties = { text = { type = "string" } }, required = ["text"] } },
  { name = "echo_json", image = "hanzo-test-tools:1", command = ["cat"] },
  { name = "typed_echo", image = "hanzo-test-tools:1", command = ["cat"], result = { type = "object", properties = { n = { type = "integer" } }, required = ["n"] } },
  { name = "fails", image = "hanzo-test-tools:1", command = ["sh", "-c", "echo oops >&2; exit 3"] },
  { name = "sleeps", image = "hanzo-test-tools:1", command = ["sleep", "30"], timeout_ms = 1500 },
  { name = "sleeps_long", image = "hanzo-test-tools:1", command = ["sleep", "600"], timeout_ms = 60000 },
  { name = "interfaces", image = "hanzo-test-tools:1", command = ["sh", "-c", "ls /sys/class/net | wc -l"] },
  { name = "forks", image = "hanzo-test-tools:1", command = ["sh", "-c", "for i in $(seq 64); do sleep 5 & done; wait; echo all"], pids = 16, timeout_ms = 20000 },
  { name = "other_image", image = "not-granted:1", command = ["true"] },
]
"#;

fn node(dirs: &Dirs, extra: &str) -> Node {
    install(
        &dirs.plugins,
        "tools-containers",
        "tools-containers",
        |_| {},
    );
    install(&dirs.plugins, "api-v2", "api-v2", |_| {});
    let config = dirs.root.path().join("node.toml");
    std::fs::write(&config, format!("{TOOLS}\n{extra}")).unwrap();
    Node::start(dirs, &["--config", config.to_str().unwrap()])
}

async fn execute(node: &Node, tool: &str, arguments: Value) -> (u16, Value) {
    let r = client()
        .post(node.url("/v2/tools/execute"))
        .json(&json!({"tool": tool, "arguments": arguments}))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn declared_tools_run_in_containers_within_their_limits() {
    if !docker() {
        return;
    }
    let dirs = Dirs::new();
    let node = node(&dirs, "");
    let mut tools = Value::Null;
    let listed = eventually(Duration::from_secs(30), async || {
        tools = crate::common::get_json(&client(), node.url("/v2/tools/list")).await;
        tools["tools"].as_array().is_some_and(|t| {
            t.iter().any(|t| {
                t["name"] == "word_count" && t["parameters"]["required"] == json!(["text"])
            })
        })
    })
    .await;
    assert!(listed, "{tools}");

    // Arguments on stdin, output as the result: JSON as is (wc's `3` is
    // JSON), anything else wrapped.
    let (s, v) = execute(&node, "word_count", json!({"text": "one two three"})).await;
    assert_eq!((s, &v["result"]), (200, &json!(3)), "{v}");
    let (s, v) = execute(&node, "echo_json", json!({"a": [1, 2], "b": "x"})).await;
    assert_eq!(
        (s, &v["result"]),
        (200, &json!({"a": [1, 2], "b": "x"})),
        "{v}"
    );
    // A declared result schema is checked too: a result it refuses is the
    // tool's failure.
    let (s, v) = execute(&node, "typed_echo", json!({"n": 2})).await;
    assert_eq!((s, &v["result"]), (200, &json!({"n": 2})), "{v}");
    let (s, v) = execute(&node, "typed_echo", json!({"n": "two"})).await;
    assert_ne!(s, 200, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("result schema refuses"),
        "{v}"
    );
    // The schema is the node's to check, before any container runs.
    let (s, v) = execute(&node, "word_count", json!({"txt": "x"})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_arguments")),
        "{v}"
    );

    // A failing command: its exit code and stderr, as a tool error.
    let (s, v) = execute(&node, "fails", json!({})).await;
    assert_ne!(s, 200, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("exit code 3") && message.contains("oops"),
        "{v}"
    );

    // Past its timeout the command is killed.
    let started = std::time::Instant::now();
    let (s, v) = execute(&node, "sleeps", json!({})).await;
    assert_ne!(s, 200, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("within 1500 ms"),
        "{v}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "killed, not waited for"
    );

    // No network: only the loopback interface.
    let (s, v) = execute(&node, "interfaces", json!({})).await;
    assert_eq!((s, &v["result"]), (200, &json!(1)), "{v}");

    // The process limit holds: the shell cannot start 64 sleepers.
    let (s, v) = execute(&node, "forks", json!({})).await;
    let said = v.to_string();
    assert!(
        s != 200 || !said.contains("all"),
        "64 processes ran under pids = 16: {v}"
    );

    // An image the operator did not grant is refused without running.
    let (s, v) = execute(&node, "other_image", json!({})).await;
    assert_ne!(s, 200, "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("not granted the image `not-granted:1`"),
        "{v}"
    );

    // Every run's container is gone.
    let mut left = Vec::new();
    let gone = eventually(Duration::from_secs(15), async || {
        left = left_behind();
        left.is_empty()
    })
    .await;
    assert!(gone, "containers left behind: {left:?}");
}

/// A node killed while a container runs leaves it; the next start (same
/// identity) removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_a_crash_left_are_removed_at_the_next_start() {
    if !docker() {
        return;
    }
    let dirs = Dirs::new();
    let node = node(&dirs, "");
    let url = node.url("/v2/tools/execute");
    let running = tokio::spawn(async move {
        let _ = client()
            .post(url)
            .json(&json!({"tool": "sleeps_long", "arguments": {}}))
            .send()
            .await;
    });
    let started = eventually(Duration::from_secs(30), async || !left_behind().is_empty()).await;
    assert!(started, "the container did not start");
    let pid = node.pid();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let _ = node.wait_killed();
    running.abort();
    assert!(!left_behind().is_empty(), "the crash left its container");

    let _node = self::node(&dirs, "");
    let mut left = Vec::new();
    let gone = eventually(Duration::from_secs(30), async || {
        left = left_behind();
        left.is_empty()
    })
    .await;
    assert!(gone, "the next start left {left:?}");
}

/// An agent job whose model calls a tool that runs in a container.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_job_calls_a_container_tool() {
    if !docker() {
        return;
    }
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    install(&dirs.plugins, "openai", "openai", |_| {});
    let node = node(
        &dirs,
        &format!(
            "[plugins.openai]\nconfig = {{ base_url = \"{}\" }}\nallow_hosts = [\"{}\"]\n\
             secrets = {{ OPENAI_API_KEY = \"sk-test\" }}\n\n\
             [[deployments]]\nalias = \"agent\"\nprovider = \"openai\"\nmodel = \"agent-every-tool\"\n",
            mock.base_url(),
            mock.addr
        ),
    );
    let c = client();
    let agent: Value = c
        .post(node.url("/v2/agents/create"))
        .json(
            &json!({"name": "counter", "model": "agent", "system_prompt": "Count.",
                      "tools": ["word_count"]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job: Value = c
        .post(node.url("/v2/jobs"))
        .json(&json!({"kind": "agent", "input": {"agent": agent["id"], "input": "count hello"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = job["job"]["id"].as_str().unwrap().to_string();
    let mut last = Value::Null;
    let done = eventually(Duration::from_secs(60), async || {
        last = crate::common::get_json(&c, node.url(&format!("/v2/jobs/{id}"))).await;
        matches!(last["state"].as_str(), Some("done" | "failed"))
    })
    .await;
    assert!(done, "{last}");
    assert_eq!(last["state"], "done", "{last}");
    // The model was offered the tool, called it with {"text": "hello"}
    // (from its schema), and the container counted: `{"text":"hello"}` is
    // one word.
    assert_eq!(
        last["result"]["answer"], "tools said: word_count=1",
        "{last}"
    );
}

/// A Python or JavaScript test plugin's container tools (`py-container-probe`,
/// `js-container-probe`: `run_script`, `echo_session`, `other_image`) on a
/// node that granted it `hanzo-test-tools:1` only: a run's output and exit
/// code, a process kept between calls, and an image it was not granted.
pub async fn check_sdk_container_tools(node: &Node, plugin: &str) {
    let c = client();
    let run = |arguments: Value| crate::common::execute(&c, node, "run_script", arguments);
    let (s, v) = run(json!({"script": "wc -c", "stdin": "hello"})).await;
    assert_eq!(s, 200, "{plugin}: {v}");
    let r = &v["result"];
    assert_eq!(
        (&r["exit_code"], r["stdout"].as_str().map(str::trim)),
        (&json!(0), Some("5")),
        "{plugin}: {v}"
    );
    let (s, v) = run(json!({"script": "echo oops >&2; exit 3"})).await;
    assert_eq!(s, 200, "{plugin}: {v}");
    assert_eq!(
        (&v["result"]["exit_code"], &v["result"]["stderr"]),
        (&json!(3), &json!("oops\n")),
        "{plugin}: {v}"
    );

    // The same `cat` answers both calls: started by the first, kept.
    for (line, fresh) in [("one", true), ("two", false)] {
        let (s, v) = crate::common::execute(&c, node, "echo_session", json!({"line": line})).await;
        assert_eq!(s, 200, "{plugin}: {v}");
        assert_eq!(
            v["result"],
            json!({"fresh": fresh, "echo": line}),
            "{plugin}: {v}"
        );
    }
    assert_eq!(started_by(plugin).len(), 1, "{plugin}: one container kept");

    let (s, v) = crate::common::execute(&c, node, "other_image", json!({})).await;
    assert_eq!(s, 200, "{plugin}: {v}");
    assert_eq!(v["result"]["kind"], "denied", "{plugin}: {v}");
    assert!(
        v["result"]["message"]
            .as_str()
            .unwrap()
            .contains("not-granted:1"),
        "{plugin}: {v}"
    );
}
