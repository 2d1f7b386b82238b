//! What `hanzo:node@0.3.0` carries across the plugin boundary, on the real
//! binary: an image sent by the official `openai` and `anthropic` Python
//! SDKs reaches the OpenAI and Anthropic mock upstreams each in its own wire
//! format; routing keeps it from a deployment without `vision`; Anthropic's
//! extended thinking and stop sequences pass through; a provider built
//! against 0.2.0 still loads, answers text and refuses an image with a typed
//! error; count_tokens asks the upstream that can count.

use crate::common::{Dirs, Node, client, install};
use crate::compat_api::run_check;
use crate::mock_openai::MockOpenAi;
use mock_upstream::MockServer;
use mock_upstream::anthropic as mock_anthropic;
use mock_upstream::gemini as mock_gemini;
use serde_json::{Value, json};

/// The 1x1 PNG of `tests/python/check_images.py`.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/// The node with api-openai and the openai, anthropic and (when given)
/// gemini providers in front of their mocks: `vision-gpt`, `vision-claude`
/// and `vision-gemini` have `vision`, `text-gpt` does not.
fn node(dirs: &Dirs, openai: &MockOpenAi, anthropic: &MockServer) -> Node {
    node_with(dirs, openai, anthropic, None)
}

fn node_with(
    dirs: &Dirs,
    openai: &MockOpenAi,
    anthropic: &MockServer,
    gemini: Option<&MockServer>,
) -> Node {
    for plugin in ["api-openai", "openai", "anthropic", "gemini"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    let mut config = format!(
        r#"
[plugins.openai]
config = {{ base_url = "{openai_base}" }}
allow_hosts = ["{openai_addr}"]
secrets = {{ OPENAI_API_KEY = "sk-test" }}

[plugins.anthropic]
config = {{ base_url = "{anthropic_base}" }}
allow_hosts = ["{anthropic_addr}"]
secrets = {{ ANTHROPIC_API_KEY = "{anthropic_key}" }}

[[deployments]]
alias = "vision-gpt"
provider = "openai"
model = "gpt-4o-mini"
capabilities = ["chat", "streaming", "tools", "vision"]

[[deployments]]
alias = "vision-claude"
provider = "anthropic"
model = "claude-sonnet-4-5"
capabilities = ["chat", "streaming", "tools", "vision"]

[[deployments]]
alias = "text-gpt"
provider = "openai"
model = "gpt-4o-mini"
capabilities = ["chat", "streaming", "tools"]
"#,
        openai_base = openai.base_url(),
        openai_addr = openai.addr,
        anthropic_base = mock_anthropic::base_url(anthropic),
        anthropic_addr = anthropic.addr,
        anthropic_key = mock_anthropic::API_KEY,
    );
    if let Some(gemini) = gemini {
        config += &format!(
            r#"
[plugins.gemini]
config = {{ base_url = "{base}" }}
allow_hosts = ["{addr}"]
secrets = {{ GEMINI_API_KEY = "{key}" }}

[[deployments]]
alias = "vision-gemini"
provider = "gemini"
model = "gemini-2.5-flash"
capabilities = ["chat", "streaming", "tools", "vision"]
"#,
            base = mock_gemini::base_url(gemini),
            addr = gemini.addr,
            key = mock_gemini::API_KEY,
        );
    }
    let path = dirs.root.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    Node::start(dirs, &["--config", path.to_str().unwrap()])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_from_each_sdk_reaches_each_upstream_in_its_format() {
    let openai = MockOpenAi::start().await;
    let anthropic = mock_anthropic::start().await;
    let gemini = mock_gemini::start().await;
    let dirs = Dirs::new();
    let node = node_with(&dirs, &openai, &anthropic, Some(&gemini));
    let base = node.base.clone();
    tokio::task::spawn_blocking(move || {
        run_check(
            "check_images.py",
            &[
                &base,
                "--vision",
                "vision-gpt",
                "--vision",
                "vision-claude",
                "--vision",
                "vision-gemini",
                "--text-only",
                "text-gpt",
            ],
        )
    })
    .await
    .unwrap();

    // OpenAI got `image_url` parts with the data URL, from all three SDK calls.
    let data_url = format!("data:image/png;base64,{PNG}");
    let images: Vec<Value> = openai
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .filter_map(|r| {
            r.body["messages"]
                .as_array()?
                .iter()
                .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
                .find(|p| p["type"] == "image_url")
        })
        .collect();
    assert_eq!(images.len(), 3, "{images:?}");
    for part in &images {
        assert_eq!(part["image_url"]["url"], data_url.as_str(), "{part}");
    }
    // Anthropic got base64 `image` blocks, from all three SDK calls.
    let blocks: Vec<Value> = anthropic
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/messages")
        .filter_map(|r| {
            r.body["messages"]
                .as_array()?
                .iter()
                .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
                .find(|b| b["type"] == "image")
        })
        .collect();
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    for block in &blocks {
        assert_eq!(
            block["source"],
            json!({"type": "base64", "media_type": "image/png", "data": PNG}),
        );
    }
    // Gemini got `inlineData` parts, from all three SDK calls.
    let parts: Vec<Value> = gemini
        .requests()
        .into_iter()
        .filter(|r| r.path.ends_with(":generateContent"))
        .filter_map(|r| {
            r.body["contents"]
                .as_array()?
                .iter()
                .flat_map(|c| c["parts"].as_array().cloned().unwrap_or_default())
                .find(|p| p.get("inlineData").is_some())
        })
        .collect();
    assert_eq!(parts.len(), 3, "{parts:?}");
    for part in &parts {
        assert_eq!(
            part["inlineData"],
            json!({"mimeType": "image/png", "data": PNG})
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_tokens_asks_an_upstream_that_counts_and_estimates_otherwise() {
    let openai = MockOpenAi::start().await;
    let anthropic = mock_anthropic::start().await;
    let dirs = Dirs::new();
    let node = node(&dirs, &openai, &anthropic);
    let count = async |model: &str| {
        let r = client()
            .post(node.url("/v1/messages/count_tokens"))
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "Hello, world!"}]}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let source = r.headers()["x-hanzo-token-count"]
            .to_str()
            .unwrap()
            .to_string();
        let v: Value = r.json().await.unwrap();
        (v["input_tokens"].as_u64().unwrap(), source)
    };
    // Anthropic's own endpoint (the mock answers over 7000, no estimate would).
    let (n, source) = count("vision-claude").await;
    assert_eq!(source, "upstream");
    assert!(n > 7000, "{n}");
    let sent = anthropic
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/messages/count_tokens")
        .expect("the anthropic provider asked its upstream");
    assert_eq!(sent.body["model"], "claude-sonnet-4-5");
    // OpenAI has no count endpoint: the tokenizer's estimate.
    let (n, source) = count("vision-gpt").await;
    assert_eq!((n, source.as_str()), (10, "estimate"));
}

/// `tests/plugins/provider-v0-2` is built against hanzo:node@0.2.0 (the
/// `wit/since_v0.2.0` folder, wit-bindgen alone): it loads beside 0.3.0
/// plugins, its 0.2.0 `config` and `log` imports link to the node's, it
/// answers text whole and streamed, and an image for it is refused, naming
/// the rebuild, before it is called.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_built_against_0_2_0_answers_text_and_refuses_images() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "api-openai", "api-openai", |_| {});
    install(&dirs.plugins, "provider-v0-2", "provider-v0-2", |_| {});
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        "[plugins.provider-v0-2]\nconfig = { prefix = \"old\" }\n\n\
         [[deployments]]\nalias = \"old\"\nprovider = \"provider-v0-2\"\nmodel = \"echo\"\n",
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let plugin = crate::common::get_json(&client(), node.url("/v2/plugins/provider-v0-2")).await;
    assert_eq!(plugin["state"], "loaded", "{plugin}");
    let chat = |content: Value, stream: bool| {
        client()
            .post(node.url("/v1/chat/completions"))
            .header("x-hanzo-cache", "bypass")
            .json(&json!({"model": "old", "stream": stream,
                "messages": [{"role": "user", "content": content}]}))
            .send()
    };
    let r = chat(json!("hi there"), false).await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"], "old: hi there",
        "{v}"
    );
    let r = chat(json!("hi there"), true).await.unwrap();
    assert_eq!(r.status(), 200);
    let text: String = crate::api_openai::sse_events(&r.text().await.unwrap())
        .into_iter()
        .filter_map(|(_, data)| serde_json::from_str::<Value>(&data).ok())
        .filter_map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    assert_eq!(text, "old: hi there");

    let r = chat(
        json!([
            {"type": "text", "text": "what is it?"},
            {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PNG}")}}
        ]),
        false,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "unsupported_content", "{v}");
    let message = v["error"]["message"].as_str().unwrap();
    assert!(message.contains("hanzo:node@0.2.0"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thinking_and_stop_sequences_pass_between_client_and_anthropic() {
    let openai = MockOpenAi::start().await;
    let anthropic = mock_anthropic::start().await;
    let dirs = Dirs::new();
    let node = node(&dirs, &openai, &anthropic);
    let base = node.base.clone();
    tokio::task::spawn_blocking(move || {
        run_check("check_anthropic_thinking.py", &[&base, "vision-claude"])
    })
    .await
    .unwrap();
    let asked = anthropic
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/messages")
        .filter(|r| r.body["thinking"]["type"] == "enabled")
        .count();
    assert_eq!(asked, 3, "each request asked the upstream to think");

    // An OpenAI upstream is never sent `thinking` (it would refuse it).
    let r = client()
        .post(node.url("/v1/messages"))
        .header("x-hanzo-cache", "bypass")
        .json(&json!({"model": "vision-gpt", "max_tokens": 64,
            "thinking": {"type": "enabled", "budget_tokens": 1024},
            "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let sent = openai
        .requests()
        .into_iter()
        .rfind(|r| r.path == "/v1/chat/completions")
        .unwrap();
    assert!(sent.body.get("thinking").is_none(), "{}", sent.body);
    assert!(sent.body.get("anthropic").is_none(), "{}", sent.body);
}

/// Plugins of every kind built against hanzo:node@0.2.0 still work beside
/// 0.3.0 ones: an API plugin's `llm@0.2.0` chat (converted both ways) reaches
/// a 0.2.0 provider through the router, its `tools@0.2.0` lists the node's
/// tools, and a tool plugin's `kv@0.2.0` and `config@0.2.0` are the node's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_of_every_kind_built_against_0_2_0_still_work() {
    let dirs = Dirs::new();
    for plugin in ["api-v2", "provider-v0-2", "tool-v0-2", "api-v0-2"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    let config = dirs.root.path().join("node.toml");
    std::fs::write(
        &config,
        "[plugins.tool-v0-2]\nconfig = { label = \"calls\" }\n\n\
         [[deployments]]\nalias = \"old\"\nprovider = \"provider-v0-2\"\nmodel = \"echo\"\n",
    )
    .unwrap();
    let node = Node::start(&dirs, &["--config", config.to_str().unwrap()]);
    let c = client();
    let mut chat = Value::Null;
    let answered = crate::common::eventually(std::time::Duration::from_secs(30), async || {
        chat = crate::common::get_json(&c, node.url("/old/chat?model=old")).await;
        chat.get("text").is_some()
    })
    .await;
    assert!(answered, "{chat}");
    assert_eq!(
        chat,
        json!({"text": "echo: hi from 0.2.0", "provider": "provider-v0-2", "finish": "FinishReason::Stop"})
    );
    let tools = crate::common::get_json(&c, node.url("/old/tools")).await;
    assert!(
        tools["tools"]
            .as_array()
            .unwrap()
            .contains(&json!("old_counter")),
        "{tools}"
    );
    for n in 1..=2 {
        let r = c
            .post(node.url("/v2/tools/execute"))
            .json(&json!({"tool": "old_counter", "arguments": {}}))
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["result"], json!({"calls": n}), "{v}");
    }
}
