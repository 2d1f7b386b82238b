//! The coding agents people point at gateways, unmodified, against the real
//! binary: Claude Code (`@anthropic-ai/claude-code`, `claude -p`) over
//! `/v1/messages` and Codex CLI (`@openai/codex`, `codex exec`) over
//! `/v1/responses`, each on an alias served by the OpenAI mock upstream,
//! whose `coding-agent` model calls the agent's shell tool and then answers
//! with what the tool printed. Each agent must run the tool (its file
//! appears) and print the answer. `make agents` installs both CLIs from npm
//! into `HANZO_TEST_AGENTS` (their native binaries ship inside the
//! packages); `make test` runs it first.

use crate::common::{Dirs, Node, install};
use crate::compat_api::python;
use crate::mock_openai::MockOpenAi;
use mock_upstream::MockServer;
use mock_upstream::anthropic as mock_anthropic;
use mock_upstream::openai::AGENT_COMMAND;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder holding `node_modules/.bin/{claude,codex}`.
fn agents() -> PathBuf {
    let dir = std::env::var_os("HANZO_TEST_AGENTS")
        .map(PathBuf::from)
        .unwrap_or_default();
    for bin in ["claude", "codex"] {
        assert!(
            dir.join("node_modules/.bin").join(bin).exists(),
            "{bin} not found under HANZO_TEST_AGENTS={}: run the suite with `make test` \
             (`make agents` installs the coding agents)",
            dir.display()
        );
    }
    dir
}

/// The node with api-openai and the openai provider in front of `mock`,
/// each of `aliases` serving the mock's `model`, and with the anthropic
/// provider in front of `anthropic` when given (`extra`: more config).
fn node(
    dirs: &Dirs,
    mock: &MockOpenAi,
    aliases: &[&str],
    model: &str,
    anthropic: Option<&MockServer>,
) -> Node {
    for plugin in ["api-openai", "openai", "anthropic"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    let mut config = format!(
        "[plugins.openai]\nconfig = {{ base_url = \"{}\" }}\nallow_hosts = [\"{}\"]\n\
         secrets = {{ OPENAI_API_KEY = \"sk-test\" }}\n",
        mock.base_url(),
        mock.addr,
    );
    if let Some(upstream) = anthropic {
        // An alias served by Anthropic's own API (the mock's Claude Code model).
        config.push_str(&format!(
            "\n[plugins.anthropic]\nconfig = {{ base_url = \"{}\" }}\nallow_hosts = [\"{}\"]\n\
             secrets = {{ ANTHROPIC_API_KEY = \"{}\" }}\n\n\
             [[deployments]]\nalias = \"claude-opus-4-5\"\nprovider = \"anthropic\"\n\
             model = \"coding-agent\"\n",
            mock_anthropic::base_url(upstream),
            upstream.addr,
            mock_anthropic::API_KEY,
        ));
    }
    for alias in aliases {
        config.push_str(&format!(
            "\n[[deployments]]\nalias = \"{alias}\"\nprovider = \"openai\"\nmodel = \"{model}\"\n"
        ));
    }
    let path = dirs.root.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    Node::start(dirs, &["--config", path.to_str().unwrap()])
}

fn run(mut command: Command, what: &str) -> String {
    let out = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The agent ran the mock model's command in `work`.
fn ran_the_tool(work: &Path, what: &str) {
    let proof = std::fs::read_to_string(work.join("agent-proof.txt"))
        .unwrap_or_else(|e| panic!("{what} did not run `{AGENT_COMMAND}`: {e}"));
    assert_eq!(proof.trim(), "hanzo-agent-ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_code_and_codex_work_through_the_node() {
    let agents = agents();
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    let anthropic = mock_anthropic::start().await;
    let aliases = ["claude-sonnet-4-5", "claude-haiku-4-5", "gpt-5-codex"];
    let node = node(&dirs, &mock, &aliases, "coding-agent", Some(&anthropic));
    let base = node.base.clone();

    // Claude Code, non-interactive, telemetry and other traffic off, the
    // Bash tool allowed without a prompt: on an OpenAI-backed alias, then
    // on one Anthropic's API serves.
    for model in ["claude-sonnet-4-5", "claude-opus-4-5"] {
        let work = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let mut claude = Command::new(agents.join("node_modules/.bin/claude"));
        claude
            .current_dir(work.path())
            .env("HOME", home.path())
            .env("ANTHROPIC_BASE_URL", &base)
            .env("ANTHROPIC_API_KEY", "sk-local")
            .env("ANTHROPIC_SMALL_FAST_MODEL", "claude-haiku-4-5")
            .env("DISABLE_TELEMETRY", "1")
            .env("DISABLE_AUTOUPDATER", "1")
            .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
            .args(["-p", "Create the proof file."])
            .args(["--model", model])
            .args(["--allowedTools", "Bash", "--output-format", "json"]);
        let answer = tokio::task::spawn_blocking(move || run(claude, "claude -p"))
            .await
            .unwrap();
        let result: serde_json::Value = serde_json::from_str(answer.trim())
            .unwrap_or_else(|e| panic!("claude printed no JSON result ({e}):\n{answer}"));
        assert_eq!(result["is_error"], false, "{model}: {result}");
        let text = result["result"].as_str().unwrap_or_default();
        assert!(
            text.starts_with("done: hanzo-agent-ok"),
            "{model}: {result}"
        );
        ran_the_tool(work.path(), &format!("Claude Code on {model}"));
    }
    // The Anthropic upstream got Claude Code's conversation, the tool's
    // result answering its tool_use.
    assert!(
        anthropic
            .requests()
            .iter()
            .any(|r| r.body.to_string().contains("tool_result")),
        "the Anthropic upstream never saw the tool's result"
    );

    // Codex CLI, its provider the node over the Responses API.
    let work = tempfile::tempdir().unwrap();
    let codex_home = tempfile::tempdir().unwrap();
    std::fs::write(
        codex_home.path().join("config.toml"),
        format!(
            "model = \"gpt-5-codex\"\nmodel_provider = \"hanzo\"\n\n\
             [model_providers.hanzo]\nname = \"Hanzo Node\"\nbase_url = \"{base}/v1\"\n\
             wire_api = \"responses\"\nenv_key = \"HANZO_API_KEY\"\n"
        ),
    )
    .unwrap();
    let mut codex = Command::new(agents.join("node_modules/.bin/codex"));
    codex
        .current_dir(work.path())
        .env("CODEX_HOME", codex_home.path())
        .env("HANZO_API_KEY", "sk-local")
        .args(["exec", "--skip-git-repo-check"])
        .arg("--dangerously-bypass-approvals-and-sandbox")
        .arg("Create the proof file.")
        .stdin(std::process::Stdio::null());
    let printed = tokio::task::spawn_blocking(move || run(codex, "codex exec"))
        .await
        .unwrap();
    assert!(printed.contains("hanzo-agent-ok"), "{printed}");
    ran_the_tool(work.path(), "Codex");

    // Both went through the router to the upstream: a call, then the
    // tool's result sent back.
    let requests = mock.requests();
    let with_results = requests
        .iter()
        .filter(|r| {
            r.body["messages"]
                .as_array()
                .is_some_and(|m| m.iter().any(|m| m["role"] == "tool"))
        })
        .count();
    assert!(
        with_results >= 2,
        "{} requests, {with_results} with a tool result",
        requests.len()
    );
}

/// The OpenAI Agents SDK, unmodified, on its default model (which it
/// reaches through the Responses API): its agent calls a function tool the
/// SDK runs, then answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_sdk_runs_a_tool_on_its_default_model() {
    let python = python();
    let script = crate::common::repo().join("tests/python/check_agents_sdk.py");
    let mut ask = Command::new(&python);
    ask.arg(&script).arg("--default-model");
    let default_model = run(ask, "check_agents_sdk.py --default-model")
        .trim()
        .to_string();
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    let node = node(&dirs, &mock, &[&default_model], "gpt-4o-mini", None);
    let mut check = Command::new(&python);
    check.arg(&script).arg(&node.base);
    let printed = tokio::task::spawn_blocking(move || run(check, "check_agents_sdk.py"))
        .await
        .unwrap();
    assert!(printed.contains("called its tool"), "{printed}");
}
