//! One conformance suite for every provider plugin: the same scenarios run
//! against `openai`, `anthropic`, `gemini`, `ollama` and the Python
//! example `python-provider`, each against a
//! local mock speaking its wire format (`mock_upstream`'s `openai`,
//! `anthropic`, `gemini`, `ollama`), through the host's plugin-call API
//! (`Runtime::provider_models/chat/stream/embed`) with the operator's
//! overrides granting the mock's address and setting `base_url`.
//!
//! Scenarios: models (capabilities, context, prices), chat with a system
//! prompt, usage, a tool-call round trip, streamed text (incrementally,
//! with usage, one id), streamed tool-call deltas, embeddings (or the typed
//! refusal where the API has none), rate limits with retry-after, 5xx,
//! context too long, a stream cut mid-way, a refused connection, and an
//! upstream that was not granted. Each scenario also checks what the mock
//! received: headers (credentials where the format puts them) and the
//! body's shape in that format.

use crate::common::{Dirs, install, runtime};
use crate::mock_openai::MockOpenAi;
use hanzo_node::Runtime;
use hanzo_node::bindings::llm_types::*;
use hanzo_node::config::PluginOverrides;
use hanzo_node::runtime::ProviderCallError;
use hanzo_node::tenant::Tenant;
use mock_upstream::{MockServer, Recorded};
use mock_upstream::{anthropic as mock_anthropic, gemini as mock_gemini, ollama as mock_ollama};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The wire formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    OpenAi,
    Anthropic,
    Gemini,
    Ollama,
}

/// What kind of error a call should fail with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    RateLimited(Option<u64>),
    ContextTooLong,
    Auth,
    BadRequest,
    NotFound,
    Unavailable,
    Timeout,
    Internal,
    Unsupported,
}

fn kind(e: &ProviderError) -> Kind {
    match e {
        ProviderError::RateLimited(r) => Kind::RateLimited(r.retry_after_ms),
        ProviderError::ContextTooLong(_) => Kind::ContextTooLong,
        ProviderError::Auth(_) => Kind::Auth,
        ProviderError::BadRequest(_) => Kind::BadRequest,
        ProviderError::NotFound(_) => Kind::NotFound,
        ProviderError::UpstreamUnavailable(_) => Kind::Unavailable,
        ProviderError::Timeout(_) => Kind::Timeout,
        ProviderError::Internal(_) => Kind::Internal,
        ProviderError::Unsupported(_) => Kind::Unsupported,
    }
}

/// One provider plugin and what its mock serves.
struct Spec {
    wire: Wire,
    plugin: &'static str,
    /// The operator's secret for the mock (name, value).
    secret: Option<(&'static str, &'static str)>,
    chat_model: &'static str,
    embed_model: Option<&'static str>,
    /// The ids `models` lists, sorted.
    models: &'static [&'static str],
    /// The chat model's list prices are known.
    priced: bool,
    /// Errors beyond the common ones: (model, expected kind).
    extra_errors: &'static [(&'static str, Kind)],
}

static OPENAI: Spec = Spec {
    wire: Wire::OpenAi,
    plugin: "openai",
    secret: Some(("OPENAI_API_KEY", "sk-test-123")),
    chat_model: "gpt-4o-mini",
    embed_model: Some("text-embedding-3-small"),
    models: &["gpt-4o-mini", "text-embedding-3-small"],
    priced: true,
    extra_errors: &[("bad-key", Kind::Auth)],
};

static ANTHROPIC: Spec = Spec {
    wire: Wire::Anthropic,
    plugin: "anthropic",
    secret: Some(("ANTHROPIC_API_KEY", mock_anthropic::API_KEY)),
    chat_model: "claude-sonnet-4-5-20250929",
    embed_model: None,
    models: mock_anthropic::MODELS,
    priced: true,
    extra_errors: &[
        ("bad-key", Kind::Auth),
        ("overloaded", Kind::Unavailable),
        ("missing", Kind::NotFound),
    ],
};

static GEMINI: Spec = Spec {
    wire: Wire::Gemini,
    plugin: "gemini",
    secret: Some(("GEMINI_API_KEY", mock_gemini::API_KEY)),
    chat_model: "gemini-2.5-flash",
    embed_model: Some("gemini-embedding-001"),
    models: &["gemini-2.5-flash", "gemini-embedding-001"],
    priced: true,
    extra_errors: &[
        ("bad-key", Kind::Auth),
        ("overloaded", Kind::Unavailable),
        ("missing", Kind::NotFound),
    ],
};

static OLLAMA: Spec = Spec {
    wire: Wire::Ollama,
    plugin: "ollama",
    secret: None,
    chat_model: "llama3.2:latest",
    embed_model: Some("nomic-embed-text:latest"),
    models: mock_ollama::MODELS,
    priced: false,
    extra_errors: &[
        ("busy", Kind::RateLimited(None)),
        ("missing", Kind::NotFound),
    ],
};

/// The Python example provider (`examples/python-provider`, sdk/python),
/// against the same OpenAI mock as `openai`.
static PYTHON_PROVIDER: Spec = Spec {
    wire: Wire::OpenAi,
    plugin: "python-provider",
    secret: Some(("OPENAI_API_KEY", "sk-test-123")),
    chat_model: "gpt-4o-mini",
    embed_model: Some("text-embedding-3-small"),
    models: &["gpt-4o-mini", "text-embedding-3-small"],
    priced: false,
    extra_errors: &[("bad-key", Kind::Auth)],
};

/// A running mock of either kind.
enum Mock {
    OpenAi(MockOpenAi),
    Server(MockServer),
}

impl Mock {
    async fn start(wire: Wire) -> Mock {
        match wire {
            Wire::OpenAi => Mock::OpenAi(MockOpenAi::start().await),
            Wire::Anthropic => Mock::Server(mock_anthropic::start().await),
            Wire::Gemini => Mock::Server(mock_gemini::start().await),
            Wire::Ollama => Mock::Server(mock_ollama::start().await),
        }
    }

    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Mock::OpenAi(m) => m.addr,
            Mock::Server(m) => m.addr,
        }
    }

    /// The plugin's `base_url` for this mock.
    fn base_url(&self) -> String {
        match self {
            Mock::OpenAi(m) => m.base_url(),
            // The other plugins append the API's own path (`/v1/messages`,
            // `/v1beta/models/..`, `/api/chat`).
            Mock::Server(m) => format!("http://{}", m.addr),
        }
    }

    /// Everything the mock received.
    fn requests(&self) -> Vec<Recorded> {
        match self {
            Mock::OpenAi(m) => m.requests(),
            Mock::Server(m) => m.requests(),
        }
    }

    fn last(&self) -> Recorded {
        self.requests().pop().expect("the mock received no request")
    }
}

struct Fixture {
    spec: &'static Spec,
    mock: Mock,
    rt: Arc<Runtime>,
    _dirs: Dirs,
}

impl Fixture {
    /// The plugin installed from its manifest, with the operator's
    /// overrides pointing it at a fresh mock; `grant` adds the mock's
    /// address to `allow_hosts`.
    async fn new(spec: &'static Spec, grant: bool) -> Fixture {
        let mock = Mock::start(spec.wire).await;
        let base_url = mock.base_url();
        let addr = mock.addr().to_string();
        Self::with(spec, mock, base_url, grant.then_some(addr)).await
    }

    async fn with(
        spec: &'static Spec,
        mock: Mock,
        base_url: String,
        allow: Option<String>,
    ) -> Fixture {
        let dirs = Dirs::new();
        if spec.plugin.starts_with("python-") {
            crate::python_plugins::drop_in(&dirs.plugins, spec.plugin, spec.plugin);
        } else {
            install(&dirs.plugins, spec.plugin, spec.plugin, |_| {});
        }
        let mut cfg = dirs.config();
        let mut o = PluginOverrides::default();
        o.config
            .insert("base_url".into(), toml::Value::String(base_url));
        if let Some((name, value)) = spec.secret {
            o.secrets.insert(name.into(), value.into());
        }
        o.allow_hosts.extend(allow);
        cfg.plugins.insert(spec.plugin.into(), o);
        let rt = runtime(cfg).await;
        Fixture {
            spec,
            mock,
            rt,
            _dirs: dirs,
        }
    }

    fn tenant(&self) -> Tenant {
        "acme".into()
    }

    async fn chat(&self, request: &ChatRequest) -> Result<ChatResponse, ProviderError> {
        match self
            .rt
            .provider_chat(self.spec.plugin, self.tenant(), request)
            .await
        {
            Ok(r) => Ok(r),
            Err(ProviderCallError::Provider(e)) => Err(e),
            Err(e) => panic!("{}: the call itself failed: {e:?}", self.spec.plugin),
        }
    }

    /// The whole stream: its chunks with their arrival times, and the error
    /// that ended it, if one did.
    async fn stream(
        &self,
        request: &ChatRequest,
    ) -> Result<(Vec<(ChatChunk, Instant)>, Option<ProviderError>), ProviderError> {
        let mut s = match self
            .rt
            .provider_stream(self.spec.plugin, self.tenant(), request)
            .await
        {
            Ok(s) => s,
            Err(ProviderCallError::Provider(e)) => return Err(e),
            Err(e) => panic!("{}: the call itself failed: {e:?}", self.spec.plugin),
        };
        let mut chunks = Vec::new();
        while let Some(item) = s.next().await {
            match item {
                Ok(c) => chunks.push((c, Instant::now())),
                Err(ProviderCallError::Provider(e)) => return Ok((chunks, Some(e))),
                Err(e) => panic!("{}: the stream itself failed: {e:?}", self.spec.plugin),
            }
        }
        Ok((chunks, None))
    }

    async fn embed(&self, request: &EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        match self
            .rt
            .provider_embed(self.spec.plugin, self.tenant(), request)
            .await
        {
            Ok(r) => Ok(r),
            Err(ProviderCallError::Provider(e)) => Err(e),
            Err(e) => panic!("{}: the call itself failed: {e:?}", self.spec.plugin),
        }
    }
}

fn message(role: Role, text: &str) -> Message {
    Message::text_message(role, text)
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

fn calculator() -> ToolDefinition {
    ToolDefinition {
        name: "calculator".into(),
        description: "Evaluate arithmetic".into(),
        parameters: r#"{"type":"object","properties":{"expression":{"type":"string"}},"required":["expression"]}"#.into(),
    }
}

fn usage_of(u: &Option<Usage>) -> Option<(u32, u32, u32)> {
    u.as_ref()
        .map(|u| (u.prompt_tokens, u.completion_tokens, u.total_tokens))
}

// ---------------------------------------------------------------- scenarios

/// Models with capabilities, context and prices; a chat with a system
/// prompt; usage; and the request as the format wants it.
async fn models_chat_and_usage(spec: &'static Spec) {
    let f = Fixture::new(spec, true).await;
    let p = spec.plugin;

    let models = f.rt.provider_models(p, f.tenant()).await.unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, spec.models, "{p}: models");
    let chat_model = models.iter().find(|m| m.id == spec.chat_model).unwrap();
    assert!(
        chat_model
            .capabilities
            .contains(Capabilities::CHAT | Capabilities::STREAMING | Capabilities::TOOLS),
        "{p}: {chat_model:?}"
    );
    assert!(
        !chat_model.capabilities.contains(Capabilities::EMBEDDINGS),
        "{p}"
    );
    assert!(chat_model.context_length > 0, "{p}: {chat_model:?}");
    assert_eq!(
        chat_model.input_price_per_mtok.is_some() && chat_model.output_price_per_mtok.is_some(),
        spec.priced,
        "{p}: {chat_model:?}"
    );
    if let Some(embed) = spec.embed_model {
        let m = models.iter().find(|m| m.id == embed).unwrap();
        assert!(
            m.capabilities.contains(Capabilities::EMBEDDINGS),
            "{p}: {m:?}"
        );
        assert!(!m.capabilities.contains(Capabilities::CHAT), "{p}: {m:?}");
    }
    check_models_requests(spec, &f.mock.requests());

    let r = f
        .chat(&request(
            spec.chat_model,
            vec![
                message(Role::System, "be brief"),
                message(Role::User, "hi there"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(r.message.text(), "echo: hi there", "{p}");
    assert_eq!(r.message.role, Role::Assistant, "{p}");
    assert!(r.message.tool_calls.is_empty(), "{p}");
    assert_eq!(r.finish_reason, FinishReason::Stop, "{p}");
    assert_eq!(usage_of(&r.usage), Some((12, 7, 19)), "{p}: usage");
    assert!(!r.model.is_empty(), "{p}");
    check_chat_request(spec, &f.mock.last());
}

/// The model calls a tool; the result goes back in the format's own shape.
async fn tool_call_round_trip(spec: &'static Spec) {
    let f = Fixture::new(spec, true).await;
    let p = spec.plugin;
    let mut req = request(spec.chat_model, vec![message(Role::User, "what is 2+2?")]);
    req.tools = vec![calculator()];
    req.tool_choice = Some(ToolChoice::Auto);
    let r = f.chat(&req).await.unwrap();
    assert_eq!(r.finish_reason, FinishReason::ToolCalls, "{p}");
    assert_eq!(r.message.tool_calls.len(), 1, "{p}");
    let call = r.message.tool_calls[0].clone();
    assert!(!call.id.is_empty(), "{p}: a tool call needs an id");
    assert_eq!(call.name, "calculator", "{p}");
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments).unwrap(),
        json!({"expression": "2+2"}),
        "{p}"
    );
    assert_eq!(usage_of(&r.usage), Some((12, 7, 19)), "{p}: usage");

    // The assistant's call and the tool's result go back.
    req.messages.push(r.message.clone());
    req.messages.push(Message {
        role: Role::Tool,
        content: ContentPart::text(r#"{"value":4}"#),
        tool_calls: vec![],
        tool_call_id: Some(call.id.clone()),
        name: None,
        reasoning: Vec::new(),
    });
    let r2 = f.chat(&req).await.unwrap();
    assert_eq!(r2.finish_reason, FinishReason::Stop, "{p}");
    assert_eq!(r2.message.text(), "echo: what is 2+2?", "{p}");
    check_tool_round_trip(spec, &f.mock.last(), &call.id);
}

/// Text arrives as it is produced, with usage and one id; tool calls
/// arrive as deltas that concatenate.
async fn streaming(spec: &'static Spec) {
    let f = Fixture::new(spec, true).await;
    let p = spec.plugin;

    let (chunks, error) = f
        .stream(&request(spec.chat_model, vec![message(Role::User, "hi")]))
        .await
        .unwrap();
    assert!(error.is_none(), "{p}: {error:?}");
    let text: String = chunks
        .iter()
        .filter_map(|(c, _)| c.content.clone())
        .collect();
    assert_eq!(text, "Hello world", "{p}");
    let finish: Vec<FinishReason> = chunks.iter().filter_map(|(c, _)| c.finish_reason).collect();
    assert_eq!(finish, [FinishReason::Stop], "{p}: one finish reason");
    let usage = chunks.iter().rev().find_map(|(c, _)| usage_of(&c.usage));
    assert_eq!(usage, Some((12, 3, 15)), "{p}: stream usage");
    let ids: std::collections::BTreeSet<&str> = chunks.iter().map(|(c, _)| c.id.as_str()).collect();
    assert_eq!(ids.len(), 1, "{p}: one id across chunks: {ids:?}");
    assert!(chunks.iter().all(|(c, _)| c.tool_calls.is_empty()), "{p}");
    check_stream_request(spec, &f.mock.last());

    // Slowly produced text is passed on as it comes, not at the end.
    let (chunks, error) = f
        .stream(&request("slow-stream", vec![message(Role::User, "hi")]))
        .await
        .unwrap();
    assert!(error.is_none(), "{p}: {error:?}");
    let text: String = chunks
        .iter()
        .filter_map(|(c, _)| c.content.clone())
        .collect();
    assert_eq!(text, "Hello world", "{p}");
    let first = chunks.first().unwrap().1;
    let last = chunks.last().unwrap().1;
    assert!(
        last - first >= Duration::from_millis(100),
        "{p}: chunks of a slow stream arrived together ({:?} apart): buffered?",
        last - first
    );

    // Tool calls as deltas.
    let mut req = request(spec.chat_model, vec![message(Role::User, "2+2?")]);
    req.tools = vec![calculator()];
    let (chunks, error) = f.stream(&req).await.unwrap();
    assert!(error.is_none(), "{p}: {error:?}");
    let mut args = String::new();
    let (mut name, mut id) = (None, None);
    for d in chunks.iter().flat_map(|(c, _)| &c.tool_calls) {
        assert_eq!(d.index, 0, "{p}: one call, index 0");
        args.push_str(&d.arguments);
        name = name.or(d.name.clone());
        id = id.or(d.id.clone());
    }
    assert_eq!(
        serde_json::from_str::<Value>(&args).unwrap(),
        json!({"expression": "2+2"}),
        "{p}: concatenated arguments {args:?}"
    );
    assert_eq!(name.as_deref(), Some("calculator"), "{p}");
    assert!(id.is_some_and(|i| !i.is_empty()), "{p}");
    let finish: Vec<FinishReason> = chunks.iter().filter_map(|(c, _)| c.finish_reason).collect();
    assert_eq!(finish, [FinishReason::ToolCalls], "{p}");
}

/// Embeddings in input order, or a typed refusal that reaches nobody.
async fn embeddings(spec: &'static Spec) {
    let f = Fixture::new(spec, true).await;
    let p = spec.plugin;
    let req = EmbedRequest {
        model: spec.embed_model.unwrap_or("claude-sonnet-4-5").into(),
        inputs: vec!["a".into(), "hello world".into()],
        dimensions: Some(3),
    };
    let Some(model) = spec.embed_model else {
        let e = f.embed(&req).await.unwrap_err();
        assert_eq!(kind(&e), Kind::BadRequest, "{p}: {e:?}");
        assert!(e_message(&e).contains("embeddings"), "{p}: {e:?}");
        assert!(f.mock.requests().is_empty(), "{p}: nothing may be sent");
        return;
    };
    let e = f.embed(&req).await.unwrap();
    assert_eq!(e.model, model, "{p}");
    assert_eq!(e.embeddings.len(), 2, "{p}");
    assert_eq!(e.embeddings[0], vec![0.1, 0.2, 0.3], "{p}");
    assert_eq!(e.embeddings[1], vec![1.1, 1.2, 1.3], "{p}");
    match spec.wire {
        // Gemini reports no token counts for embeddings.
        Wire::Gemini => assert!(e.usage.is_none(), "{p}"),
        _ => assert_eq!(e.usage.map(|u| u.prompt_tokens), Some(3), "{p}"),
    }
    check_embed_request(spec, &f.mock.last());
}

fn e_message(e: &ProviderError) -> String {
    match e {
        ProviderError::RateLimited(r) => r.message.clone(),
        ProviderError::ContextTooLong(m)
        | ProviderError::Auth(m)
        | ProviderError::BadRequest(m)
        | ProviderError::NotFound(m)
        | ProviderError::UpstreamUnavailable(m)
        | ProviderError::Timeout(m)
        | ProviderError::Internal(m)
        | ProviderError::Unsupported(m) => m.clone(),
    }
}

/// Every upstream failure becomes the typed error routing acts on.
async fn upstream_errors(spec: &'static Spec) {
    let f = Fixture::new(spec, true).await;
    let p = spec.plugin;
    let ask = |model: &str| request(model, vec![message(Role::User, "x")]);
    let common = [
        ("rate-limited", Kind::RateLimited(Some(2000))),
        ("broken", Kind::Unavailable),
        ("too-long", Kind::ContextTooLong),
    ];
    for (model, expected) in common.iter().chain(spec.extra_errors) {
        let e = f.chat(&ask(model)).await.unwrap_err();
        assert_eq!(kind(&e), *expected, "{p}: chat with `{model}`: {e:?}");
        assert!(
            !e_message(&e).is_empty(),
            "{p}: {model}: the error says why"
        );
    }

    // A failing stream fails before its first chunk.
    for (model, expected) in &common {
        match f.stream(&ask(model)).await {
            Err(e) => assert_eq!(kind(&e), *expected, "{p}: stream with `{model}`: {e:?}"),
            Ok((chunks, e)) => panic!("{p}: stream `{model}` started: {chunks:?} {e:?}"),
        }
    }

    // A stream cut mid-way ends with an error, not a silent end.
    let (chunks, error) = f.stream(&ask("cut-stream")).await.unwrap();
    let error = error.unwrap_or_else(|| panic!("{p}: a cut stream ended cleanly: {chunks:?}"));
    assert_eq!(kind(&error), Kind::Unavailable, "{p}: {error:?}");
    assert!(
        chunks.iter().all(|(c, _)| c.finish_reason.is_none()),
        "{p}: no finish reason before the cut"
    );
}

/// The host refuses an upstream the operator did not grant (nothing
/// reaches it), and a refused connection is upstream-unavailable.
async fn upstream_must_be_granted(spec: &'static Spec) {
    let p = spec.plugin;
    let f = Fixture::new(spec, false).await;
    let r = f
        .chat(&request(spec.chat_model, vec![message(Role::User, "x")]))
        .await;
    let e = r.expect_err("an ungranted upstream must be refused");
    assert_eq!(kind(&e), Kind::Unavailable, "{p}: {e:?}");
    assert!(e_message(&e).contains("refused"), "{p}: {e:?}");
    assert!(
        f.mock.requests().is_empty(),
        "{p}: no request may reach a host that was not granted"
    );
    drop(f);

    // Granted, but nothing listens there.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mock = Mock::start(spec.wire).await;
    let base_url = mock
        .base_url()
        .replace(&mock.addr().to_string(), &closed.to_string());
    let f = Fixture::with(spec, mock, base_url, Some(closed.to_string())).await;
    let e = f
        .chat(&request(spec.chat_model, vec![message(Role::User, "x")]))
        .await
        .expect_err("nothing listens");
    assert_eq!(kind(&e), Kind::Unavailable, "{p}: {e:?}");
    let e =
        f.rt.provider_models(p, f.tenant())
            .await
            .expect_err("nothing listens");
    assert!(
        matches!(
            e,
            ProviderCallError::Provider(ProviderError::UpstreamUnavailable(_))
        ),
        "{p}: {e:?}"
    );
}

// ---------------------------------------------------------------- what the mocks received

fn check_models_requests(spec: &Spec, seen: &[Recorded]) {
    let paths: Vec<String> = seen
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    match spec.wire {
        Wire::OpenAi => assert_eq!(paths, ["GET /v1/models"]),
        Wire::Anthropic => {
            // Two pages, the second after the first page's last id.
            assert_eq!(paths, ["GET /v1/models", "GET /v1/models"]);
            assert_eq!(
                seen[1].query_param("after_id").as_deref(),
                Some(mock_anthropic::MODELS[1])
            );
            for r in seen {
                assert_eq!(r.header("x-api-key"), Some(mock_anthropic::API_KEY));
                assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
            }
        }
        Wire::Gemini => {
            assert_eq!(paths, ["GET /v1beta/models", "GET /v1beta/models"]);
            assert_eq!(
                seen[1].query_param("pageToken").as_deref(),
                Some(mock_gemini::PAGE_TOKEN),
                "the page token is escaped and arrives intact"
            );
            assert!(
                seen.iter()
                    .all(|r| r.header("x-goog-api-key") == Some(mock_gemini::API_KEY))
            );
        }
        Wire::Ollama => {
            assert_eq!(paths[0], "GET /api/tags");
            let shown: Vec<&str> = seen[1..]
                .iter()
                .inspect(|r| assert_eq!(r.path, "/api/show"))
                .filter_map(|r| r.body["model"].as_str())
                .collect();
            assert_eq!(shown, mock_ollama::MODELS);
        }
    }
}

fn check_chat_request(spec: &Spec, r: &Recorded) {
    let b = &r.body;
    assert_eq!(r.method, "POST");
    match spec.wire {
        Wire::OpenAi => {
            assert_eq!(r.path, "/v1/chat/completions");
            assert_eq!(r.header("authorization"), Some("Bearer sk-test-123"));
            assert_eq!(b["model"], spec.chat_model);
            assert_eq!(
                b["messages"],
                json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}])
            );
            assert_eq!(b["max_tokens"], 64);
            assert_eq!(b["temperature"], json!(0.2));
        }
        Wire::Anthropic => {
            assert_eq!(r.path, "/v1/messages");
            assert_eq!(r.header("x-api-key"), Some(mock_anthropic::API_KEY));
            assert_eq!(r.header("anthropic-version"), Some("2023-06-01"));
            assert_eq!(r.header("authorization"), None);
            assert!(
                r.header("content-type")
                    .unwrap()
                    .starts_with("application/json")
            );
            assert_eq!(b["model"], spec.chat_model);
            assert_eq!(b["system"], "be brief");
            assert_eq!(
                b["messages"],
                json!([{"role": "user", "content": "hi there"}])
            );
            assert_eq!(b["max_tokens"], 64);
            assert_eq!(b["temperature"], json!(0.2));
            assert!(b.get("stream").is_none());
        }
        Wire::Gemini => {
            assert_eq!(
                r.path,
                format!("/v1beta/models/{}:generateContent", spec.chat_model)
            );
            assert_eq!(r.header("x-goog-api-key"), Some(mock_gemini::API_KEY));
            assert_eq!(r.query, None, "nothing in the URL, least of all the key");
            assert_eq!(
                b["systemInstruction"],
                json!({"parts": [{"text": "be brief"}]})
            );
            assert_eq!(
                b["contents"],
                json!([{"role": "user", "parts": [{"text": "hi there"}]}])
            );
            assert_eq!(
                b["generationConfig"],
                json!({"temperature": 0.2, "maxOutputTokens": 64})
            );
            assert!(b.get("model").is_none(), "the model is in the path");
        }
        Wire::Ollama => {
            assert_eq!(r.path, "/api/chat");
            assert_eq!(
                r.header("authorization"),
                None,
                "a local server needs no key"
            );
            assert_eq!(b["model"], spec.chat_model);
            assert_eq!(
                b["messages"],
                json!([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi there"}])
            );
            assert_eq!(b["options"], json!({"temperature": 0.2, "num_predict": 64}));
            assert_eq!(b["stream"], false);
        }
    }
}

fn check_tool_round_trip(spec: &Spec, r: &Recorded, call_id: &str) {
    let b = &r.body;
    match spec.wire {
        Wire::OpenAi => {
            assert_eq!(b["tools"][0]["type"], "function");
            assert_eq!(b["tools"][0]["function"]["name"], "calculator");
            assert_eq!(
                b["tools"][0]["function"]["parameters"]["required"][0],
                "expression"
            );
            assert_eq!(b["tool_choice"], "auto");
            assert_eq!(b["messages"][1]["tool_calls"][0]["id"], call_id);
            assert_eq!(b["messages"][2]["role"], "tool");
            assert_eq!(b["messages"][2]["tool_call_id"], call_id);
        }
        Wire::Anthropic => {
            assert_eq!(
                b["tools"],
                json!([{"name": "calculator", "description": "Evaluate arithmetic",
                        "input_schema": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}])
            );
            assert_eq!(b["tool_choice"], json!({"type": "auto"}));
            assert_eq!(b["messages"][1]["role"], "assistant");
            let blocks = b["messages"][1]["content"].as_array().unwrap();
            assert!(blocks.contains(&json!({"type": "text", "text": "I'll calculate that."})));
            assert!(blocks.contains(&json!({"type": "tool_use", "id": call_id, "name": "calculator", "input": {"expression": "2+2"}})));
            assert_eq!(
                b["messages"][2],
                json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "{\"value\":4}"}]})
            );
        }
        Wire::Gemini => {
            assert_eq!(
                b["tools"],
                json!([{"functionDeclarations": [{"name": "calculator", "description": "Evaluate arithmetic",
                        "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}}]}])
            );
            assert_eq!(
                b["toolConfig"],
                json!({"functionCallingConfig": {"mode": "AUTO"}})
            );
            assert_eq!(
                b["contents"][1],
                json!({"role": "model", "parts": [{"functionCall": {"name": "calculator", "args": {"expression": "2+2"}}}]})
            );
            assert_eq!(
                b["contents"][2],
                json!({"role": "user", "parts": [{"functionResponse": {"name": "calculator", "response": {"value": 4}}}]})
            );
        }
        Wire::Ollama => {
            assert_eq!(b["tools"][0]["type"], "function");
            assert_eq!(b["tools"][0]["function"]["name"], "calculator");
            assert_eq!(
                b["messages"][1]["tool_calls"],
                json!([{"function": {"name": "calculator", "arguments": {"expression": "2+2"}}}])
            );
            assert_eq!(
                b["messages"][2],
                json!({"role": "tool", "content": "{\"value\":4}", "tool_name": "calculator"})
            );
        }
    }
}

fn check_stream_request(spec: &Spec, r: &Recorded) {
    let b = &r.body;
    if spec.wire != Wire::OpenAi {
        let accepts: Vec<&str> = r
            .headers
            .iter()
            .filter(|(n, _)| n == "accept")
            .map(|(_, v)| v.as_str())
            .collect();
        let expected = match spec.wire {
            Wire::Ollama => "application/x-ndjson",
            _ => "text/event-stream",
        };
        assert_eq!(accepts, [expected], "one accept header");
    }
    match spec.wire {
        Wire::OpenAi => {
            assert_eq!(b["stream"], true);
            assert_eq!(b["stream_options"]["include_usage"], true);
        }
        Wire::Anthropic => {
            assert_eq!(r.path, "/v1/messages");
            assert_eq!(b["stream"], true);
        }
        Wire::Gemini => {
            assert_eq!(
                r.path,
                format!("/v1beta/models/{}:streamGenerateContent", spec.chat_model)
            );
            assert_eq!(r.query_param("alt").as_deref(), Some("sse"));
            assert!(b.get("stream").is_none());
        }
        Wire::Ollama => {
            assert_eq!(r.path, "/api/chat");
            assert_eq!(b["stream"], true);
        }
    }
}

fn check_embed_request(spec: &Spec, r: &Recorded) {
    let b = &r.body;
    match spec.wire {
        Wire::OpenAi => {
            assert_eq!(r.path, "/v1/embeddings");
            assert_eq!(b["input"], json!(["a", "hello world"]));
            assert_eq!(b["dimensions"], 3);
        }
        Wire::Anthropic => unreachable!("no embeddings"),
        Wire::Gemini => {
            assert_eq!(
                r.path,
                "/v1beta/models/gemini-embedding-001:batchEmbedContents"
            );
            assert_eq!(
                b["requests"][1],
                json!({"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "hello world"}]},
                       "outputDimensionality": 3})
            );
        }
        Wire::Ollama => {
            assert_eq!(r.path, "/api/embed");
            assert_eq!(
                *b,
                json!({"model": spec.embed_model.unwrap(), "input": ["a", "hello world"], "dimensions": 3})
            );
        }
    }
}

// ---------------------------------------------------------------- the suite, per provider

macro_rules! conformance {
    ($($provider:ident => $spec:ident),* $(,)?) => {$(
        mod $provider {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn models_chat_and_usage() {
                super::models_chat_and_usage(&$spec).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn tool_call_round_trip() {
                super::tool_call_round_trip(&$spec).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn streaming() {
                super::streaming(&$spec).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embeddings() {
                super::embeddings(&$spec).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn upstream_errors() {
                super::upstream_errors(&$spec).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn upstream_must_be_granted() {
                super::upstream_must_be_granted(&$spec).await
            }
        }
    )*};
}

conformance!(
    openai => OPENAI,
    anthropic => ANTHROPIC,
    gemini => GEMINI,
    ollama => OLLAMA,
    python_provider => PYTHON_PROVIDER,
);
