//! The `openai` provider plugin through the host's plugin-call API, against a
//! local server speaking the OpenAI wire format: models, chat, streaming,
//! tool calls, embeddings and upstream errors.

use crate::common::{Dirs, install, runtime};
use crate::mock_openai::{MockOpenAi, Overrides};
use hanzo_node::bindings::llm_types::*;
use hanzo_node::config::PluginOverrides;
use hanzo_node::runtime::ProviderCallError;
use std::sync::Arc;

fn user(text: &str) -> Message {
    Message {
        role: Role::User,
        content: ContentPart::text(text),
        tool_calls: vec![],
        tool_call_id: None,
        name: None,
        reasoning: Vec::new(),
    }
}

fn request(model: &str, messages: Vec<Message>) -> ChatRequest {
    ChatRequest {
        model: model.into(),
        messages,
        tools: vec![],
        tool_choice: None,
        temperature: Some(0.2),
        top_p: None,
        max_tokens: Some(64),
        stop: vec![],
        json_mode: false,
        extra: None,
    }
}

fn calculator_tool() -> ToolDefinition {
    ToolDefinition {
        name: "calculator".into(),
        description: "Evaluate arithmetic".into(),
        parameters: r#"{"type":"object","properties":{"expression":{"type":"string"}},"required":["expression"]}"#.into(),
    }
}

async fn setup() -> (Dirs, MockOpenAi, Arc<hanzo_node::Runtime>) {
    setup_with(|_| {}).await
}

/// [`setup`], with the operator's settings for the plugin changed by `edit`.
async fn setup_with(
    edit: impl FnOnce(&mut PluginOverrides),
) -> (Dirs, MockOpenAi, Arc<hanzo_node::Runtime>) {
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    install(&dirs.plugins, "openai", "openai", |_| {});
    let mut cfg = dirs.config();
    let mut o = mock.overrides();
    o.secrets
        .insert("OPENAI_API_KEY".into(), "sk-test-123".into());
    edit(&mut o);
    cfg.plugins.insert("openai".into(), o);
    let rt = runtime(cfg).await;
    (dirs, mock, rt)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_chat_and_embeddings() {
    let (_dirs, mock, rt) = setup().await;
    let t: hanzo_node::tenant::Tenant = "acme".into();

    let models = rt.provider_models("openai", t.clone()).await.unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["gpt-4o-mini", "text-embedding-3-small"]);
    assert!(
        models[0]
            .capabilities
            .contains(Capabilities::CHAT | Capabilities::STREAMING | Capabilities::TOOLS)
    );
    assert!(models[1].capabilities.contains(Capabilities::EMBEDDINGS));
    assert!(!models[1].capabilities.contains(Capabilities::CHAT));

    let mut sys = user("be brief");
    sys.role = Role::System;
    let r = rt
        .provider_chat(
            "openai",
            t.clone(),
            &request("gpt-4o-mini", vec![sys, user("hi there")]),
        )
        .await
        .unwrap();
    assert_eq!(r.message.text(), "echo: hi there");
    assert_eq!(r.message.role, Role::Assistant);
    assert_eq!(r.finish_reason, FinishReason::Stop);
    let u = r.usage.unwrap();
    assert_eq!(
        (u.prompt_tokens, u.completion_tokens, u.total_tokens),
        (12, 7, 19)
    );

    // What went over the wire is the OpenAI format, with the secret as bearer token.
    let seen = mock.seen.lock().unwrap().clone();
    let chat = seen
        .iter()
        .find(|s| s.path == "/v1/chat/completions")
        .unwrap();
    assert_eq!(chat.method, "POST");
    assert_eq!(chat.header("authorization"), Some("Bearer sk-test-123"));
    assert_eq!(chat.body["model"], "gpt-4o-mini");
    assert_eq!(chat.body["messages"][0]["role"], "system");
    assert_eq!(chat.body["messages"][1]["content"], "hi there");
    assert_eq!(chat.body["max_tokens"], 64);

    let e = rt
        .provider_embed(
            "openai",
            t,
            &EmbedRequest {
                model: "text-embedding-3-small".into(),
                inputs: vec!["a".into(), "hello world".into()],
                dimensions: Some(3),
            },
        )
        .await
        .unwrap();
    assert_eq!(e.embeddings.len(), 2);
    assert_eq!(e.embeddings[0], vec![0.1, 0.2, 0.3]);
    assert_eq!(e.embeddings[1], vec![1.1, 1.2, 1.3]);
    assert_eq!(e.usage.unwrap().prompt_tokens, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_round_trip() {
    let (_dirs, mock, rt) = setup().await;
    let t: hanzo_node::tenant::Tenant = "acme".into();
    let mut req = request("gpt-4o-mini", vec![user("what is 2+2?")]);
    req.tools = vec![calculator_tool()];
    req.tool_choice = Some(ToolChoice::Auto);
    let r = rt.provider_chat("openai", t.clone(), &req).await.unwrap();
    assert_eq!(r.finish_reason, FinishReason::ToolCalls);
    assert_eq!(r.message.tool_calls.len(), 1);
    let call = &r.message.tool_calls[0];
    assert_eq!(
        (call.id.as_str(), call.name.as_str()),
        ("call_abc123", "calculator")
    );
    assert_eq!(call.arguments, r#"{"expression":"2+2"}"#);

    // Send the tool result back: assistant tool-call message + tool message.
    req.messages.push(r.message.clone());
    req.messages.push(Message {
        role: Role::Tool,
        content: ContentPart::text(r#"{"value":4}"#),
        tool_calls: vec![],
        tool_call_id: Some("call_abc123".into()),
        name: None,
        reasoning: Vec::new(),
    });
    let r2 = rt.provider_chat("openai", t, &req).await.unwrap();
    assert_eq!(r2.finish_reason, FinishReason::Stop);
    let seen = mock.seen.lock().unwrap().clone();
    let body = &seen.last().unwrap().body;
    assert_eq!(body["tools"][0]["type"], "function");
    assert_eq!(body["tools"][0]["function"]["name"], "calculator");
    assert_eq!(
        body["tools"][0]["function"]["parameters"]["required"][0],
        "expression"
    );
    assert_eq!(body["tool_choice"], "auto");
    assert_eq!(body["messages"][1]["tool_calls"][0]["id"], "call_abc123");
    assert_eq!(
        body["messages"][1]["tool_calls"][0]["function"]["arguments"],
        r#"{"expression":"2+2"}"#
    );
    assert_eq!(body["messages"][2]["role"], "tool");
    assert_eq!(body["messages"][2]["tool_call_id"], "call_abc123");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_text_tool_deltas_and_usage() {
    let (_dirs, mock, rt) = setup().await;
    let t: hanzo_node::tenant::Tenant = "acme".into();

    let mut s = rt
        .provider_stream(
            "openai",
            t.clone(),
            &request("gpt-4o-mini", vec![user("hi")]),
        )
        .await
        .unwrap();
    let mut text = String::new();
    let mut finish = None;
    let mut usage = None;
    let mut ids = std::collections::BTreeSet::new();
    while let Some(c) = s.next().await {
        let c = c.unwrap();
        ids.insert(c.id.clone());
        text.push_str(c.content.as_deref().unwrap_or(""));
        finish = finish.or(c.finish_reason);
        usage = usage.or(c.usage);
    }
    assert_eq!(text, "Hello world");
    assert_eq!(finish, Some(FinishReason::Stop));
    assert_eq!(usage.unwrap().total_tokens, 15);
    assert_eq!(ids.len(), 1, "one id across chunks");
    let seen = mock.seen.lock().unwrap().clone();
    assert_eq!(seen.last().unwrap().body["stream"], true);
    assert_eq!(
        seen.last().unwrap().body["stream_options"]["include_usage"],
        true
    );

    let mut req = request("gpt-4o-mini", vec![user("2+2?")]);
    req.tools = vec![calculator_tool()];
    let mut s = rt.provider_stream("openai", t, &req).await.unwrap();
    let mut args = String::new();
    let mut name = None;
    let mut id = None;
    let mut finish = None;
    while let Some(c) = s.next().await {
        let c = c.unwrap();
        for d in c.tool_calls {
            assert_eq!(d.index, 0);
            args.push_str(&d.arguments);
            name = name.or(d.name);
            id = id.or(d.id);
        }
        finish = finish.or(c.finish_reason);
    }
    assert_eq!(args, r#"{"expression":"2+2"}"#);
    assert_eq!(name.as_deref(), Some("calculator"));
    assert_eq!(id.as_deref(), Some("call_abc123"));
    assert_eq!(finish, Some(FinishReason::ToolCalls));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_errors_are_typed() {
    let (_dirs, _mock, rt) = setup().await;
    let t: hanzo_node::tenant::Tenant = "acme".into();
    let err = |m: &str| {
        let rt = rt.clone();
        let t = t.clone();
        let m = m.to_string();
        async move {
            match rt
                .provider_chat("openai", t, &request(&m, vec![user("x")]))
                .await
            {
                Err(ProviderCallError::Provider(e)) => e,
                other => panic!("expected a provider error for {m}, got {other:?}"),
            }
        }
    };
    match err("rate-limited").await {
        ProviderError::RateLimited(r) => assert_eq!(r.retry_after_ms, Some(2000)),
        e => panic!("{e:?}"),
    }
    assert!(matches!(
        err("broken").await,
        ProviderError::UpstreamUnavailable(_)
    ));
    assert!(matches!(
        err("too-long").await,
        ProviderError::ContextTooLong(_)
    ));
    assert!(matches!(err("bad-key").await, ProviderError::Auth(_)));

    // A stream cut mid-way ends with an error, not a silent end.
    let mut s = rt
        .provider_stream("openai", t.clone(), &request("cut-stream", vec![user("x")]))
        .await
        .unwrap();
    let mut last = None;
    while let Some(c) = s.next().await {
        last = Some(c);
    }
    assert!(
        matches!(
            last,
            Some(Err(ProviderCallError::Provider(
                ProviderError::UpstreamUnavailable(_)
            )))
        ),
        "{last:?}"
    );

    // The rate-limited stream fails before the first chunk.
    match rt
        .provider_stream("openai", t, &request("rate-limited", vec![user("x")]))
        .await
    {
        Err(ProviderCallError::Provider(ProviderError::RateLimited(_))) => {}
        Err(e) => panic!("{e:?}"),
        Ok(_) => panic!("expected a rate-limit error"),
    }
}

/// A hung upstream ends in a typed timeout after `read_timeout_ms`, on a
/// fresh connection and on a kept-alive one alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_upstream_times_out() {
    let (_dirs, mock, rt) = setup_with(|o| {
        o.config
            .insert("read_timeout_ms".into(), toml::Value::Integer(300));
    })
    .await;
    let t: hanzo_node::tenant::Tenant = "acme".into();
    let chat = |model: &str| {
        let (rt, t) = (rt.clone(), t.clone());
        let request = request(model, vec![user("x")]);
        async move {
            let started = std::time::Instant::now();
            let r = tokio::time::timeout(
                std::time::Duration::from_secs(10),
                rt.provider_chat("openai", t, &request),
            )
            .await
            .expect("the provider call must end on its own timeout");
            (r, started.elapsed())
        }
    };

    // Fresh connection.
    let (r, took) = chat("stall").await;
    assert!(
        matches!(
            r,
            Err(ProviderCallError::Provider(ProviderError::Timeout(_)))
        ),
        "{r:?}"
    );
    assert!(took >= std::time::Duration::from_millis(300), "{took:?}");

    // Kept-alive connection: the answer leaves one idle in the pool.
    chat("gpt-4o-mini").await.0.unwrap();
    let before = mock.connections.load(std::sync::atomic::Ordering::SeqCst);
    let (r, _) = chat("stall").await;
    assert!(
        matches!(
            r,
            Err(ProviderCallError::Provider(ProviderError::Timeout(_)))
        ),
        "{r:?}"
    );
    assert_eq!(
        mock.connections.load(std::sync::atomic::Ordering::SeqCst),
        before,
        "the second stalled request went over the kept-alive connection"
    );
    // The timed-out connection is not handed out again.
    chat("gpt-4o-mini").await.0.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_must_be_granted() {
    // Without the operator's allow_hosts, the local upstream is refused by the host.
    let mock = MockOpenAi::start().await;
    let dirs = Dirs::new();
    install(&dirs.plugins, "openai", "openai", |_| {});
    let mut cfg = dirs.config();
    let mut o = PluginOverrides::default();
    o.config
        .insert("base_url".into(), toml::Value::String(mock.base_url()));
    cfg.plugins.insert("openai".into(), o);
    let rt = runtime(cfg).await;
    let r = rt
        .provider_chat("openai", "acme", &request("gpt-4o-mini", vec![user("x")]))
        .await;
    assert!(r.is_err(), "{r:?}");
    assert!(
        mock.seen.lock().unwrap().is_empty(),
        "no request may reach a host that was not granted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_connections_are_kept_alive_and_reused() {
    let (_dirs, mock, rt) = setup().await;
    let t: hanzo_node::tenant::Tenant = "acme".into();
    for i in 0..5 {
        let r = rt
            .provider_chat(
                "openai",
                t.clone(),
                &request("gpt-4o-mini", vec![user(&i.to_string())]),
            )
            .await
            .unwrap();
        assert_eq!(r.message.text(), format!("echo: {i}"));
    }
    let mut s = rt
        .provider_stream(
            "openai",
            t.clone(),
            &request("gpt-4o-mini", vec![user("x")]),
        )
        .await
        .unwrap();
    while let Some(c) = s.next().await {
        c.unwrap();
    }
    drop(s);
    rt.provider_chat(
        "openai",
        t,
        &request("gpt-4o-mini", vec![user("after the stream")]),
    )
    .await
    .unwrap();
    assert_eq!(mock.seen.lock().unwrap().len(), 7);
    assert_eq!(
        mock.connections.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "sequential requests must share one keep-alive connection"
    );
}

/// An upstream that answers every request with `body` as an event stream,
/// head and body in one write, so the whole answer arrives at once.
async fn one_write_upstream(body: &'static str) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            tokio::spawn(async move {
                // The request: its head, then as many body bytes as it says.
                let mut got = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let Ok(n) = conn.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let length = text[..end]
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + length {
                            break;
                        }
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                     content-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(answer.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    addr
}

/// Chunks the upstream sent together cross the plugin boundary together:
/// the provider (built against hanzo:node@0.3.4) answers the host's
/// `next-many` with the first chunk, every other one its read brought and
/// the end, so after the first `next` the rest of the answer and its end
/// are `ready` without another call into the plugin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_sent_together_cross_in_one_call() {
    const ANSWER: &str = concat!(
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" world\"},\"finish_reason\":null}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n",
        "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"model\":\"gpt-4o-mini\",\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11}}\n\n",
        "data: [DONE]\n\n",
    );
    let upstream = one_write_upstream(ANSWER).await;
    let dirs = Dirs::new();
    install(&dirs.plugins, "openai", "openai", |_| {});
    let mut cfg = dirs.config();
    let mut o = PluginOverrides::default();
    o.config.insert(
        "base_url".into(),
        toml::Value::String(format!("http://{upstream}/v1")),
    );
    o.allow_hosts.push(upstream.to_string());
    o.secrets.insert("OPENAI_API_KEY".into(), "sk-test".into());
    cfg.plugins.insert("openai".into(), o);
    let rt = runtime(cfg).await;

    let mut s = rt
        .provider_stream("openai", "acme", &request("gpt-4o-mini", vec![user("hi")]))
        .await
        .unwrap();
    let first = s.next().await.unwrap().unwrap();
    let mut ready = Vec::new();
    let mut ended = false;
    loop {
        match s.ready() {
            std::task::Poll::Ready(Some(c)) => ready.push(c.unwrap()),
            std::task::Poll::Ready(None) => {
                ended = true;
                break;
            }
            std::task::Poll::Pending => break,
        }
    }
    assert!(ended, "`[DONE]` came with the answer: the end is known too");
    // After "Hello" (the role-only event is no chunk): " world", the
    // finish and the usage.
    assert_eq!(ready.len(), 3, "{ready:?}");
    let text: String = std::iter::once(&first)
        .chain(&ready)
        .filter_map(|c| c.content.as_deref())
        .collect();
    assert_eq!(text, "Hello world");
    assert_eq!(ready[1].finish_reason, Some(FinishReason::Stop));
    assert_eq!(ready[2].usage.unwrap().total_tokens, 11);
    assert!(s.next().await.is_none());
}

/// `tests/plugins/provider-v0-3` is built against hanzo:node@0.3.3: its
/// stream has no `next-many`, so the node pulls it with `next`, a chunk a
/// call (nothing is ever `ready` ahead), to its end or its error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_built_against_0_3_3_is_pulled_a_chunk_a_call() {
    let dirs = Dirs::new();
    install(&dirs.plugins, "provider-v0-3", "provider-v0-3", |_| {});
    let mut cfg = dirs.config();
    let mut o = PluginOverrides::default();
    o.config
        .insert("prefix".into(), toml::Value::String("old".into()));
    cfg.plugins.insert("provider-v0-3".into(), o.clone());
    let rt = runtime(cfg).await;
    let ask = request("echo", vec![user("hi there")]);

    let mut s = rt
        .provider_stream("provider-v0-3", "acme", &ask)
        .await
        .unwrap();
    let mut words = Vec::new();
    while let Some(chunk) = s.next().await {
        assert!(
            s.ready().is_pending(),
            "a 0.3.3 stream has nothing ready ahead"
        );
        words.push(chunk.unwrap().content.unwrap());
    }
    assert_eq!(words, ["old: ", "hi ", "there"]);
    assert!(s.next().await.is_none());

    // Cut after one word: the error ends the stream.
    let dirs = Dirs::new();
    install(&dirs.plugins, "provider-v0-3", "provider-v0-3", |_| {});
    o.config.insert("cut_after".into(), toml::Value::Integer(1));
    let mut cfg = dirs.config();
    cfg.plugins.insert("provider-v0-3".into(), o);
    let rt = runtime(cfg).await;
    let mut s = rt
        .provider_stream("provider-v0-3", "acme", &ask)
        .await
        .unwrap();
    assert_eq!(s.next().await.unwrap().unwrap().content.unwrap(), "old: ");
    match s.next().await {
        Some(Err(ProviderCallError::Provider(ProviderError::UpstreamUnavailable(m)))) => {
            assert_eq!(m, "cut")
        }
        other => panic!("{other:?}"),
    }
    assert!(s.next().await.is_none());
}
