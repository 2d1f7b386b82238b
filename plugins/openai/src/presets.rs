//! Presets for OpenAI-compatible services, selected with the config key
//! `preset`: where the API is, how the key is sent, which secret holds it,
//! what the service does not support, and a table of its well-known models
//! (context window, output limit, list prices).
//!
//! Prices are the services' published list prices in US dollars per
//! million tokens as of late 2025 (the router uses them for cost-aware
//! routing, so a stale price only skews a preference); a service whose
//! prices move too often to be worth a table (DeepInfra) or that reports
//! them itself (OpenRouter's `/models`) has none. The local servers (vLLM,
//! llama.cpp, LM Studio, LocalAI) have no table: they report what they
//! serve.

use hanzo_node_sdk::provider::{Capabilities, ModelInfo};

/// How the API key is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// `api-key: <key>` (Azure OpenAI).
    ApiKeyHeader,
}

/// How the request's model picks the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// `{base_url}/chat/completions` with `model` in the body.
    Standard,
    /// `{endpoint}/openai/deployments/{model}/chat/completions?api-version=..`:
    /// the request's model is the deployment's name.
    AzureDeployment,
}

/// A model the preset knows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KnownModel {
    pub id: &'static str,
    /// 0 when it varies (by plan or server).
    pub context_length: u32,
    pub max_output_tokens: Option<u32>,
    pub input_per_mtok: f64,
    /// `None` for embedding models.
    pub output_per_mtok: Option<f64>,
}

/// One service.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Preset {
    pub name: &'static str,
    /// The API root; `""` for Azure, whose endpoint is the operator's.
    pub base_url: &'static str,
    pub auth: Auth,
    /// The declared secret holding the key (unset: no auth header).
    pub secret: &'static str,
    pub routing: Routing,
    /// `GET /models` exists; otherwise `models` lists the table.
    pub models_endpoint: bool,
    /// Accepts `stream_options: {include_usage: true}` (Mistral refuses
    /// unknown fields and sends usage anyway).
    pub stream_usage_option: bool,
    /// Capabilities the service lacks whatever the model.
    pub unsupported: Capabilities,
    /// Models are priced in OpenAI's table (OpenAI itself, Azure).
    pub openai_models: bool,
    pub models: &'static [KnownModel],
}

const fn chat(id: &'static str, context: u32, max_out: u32, input: f64, output: f64) -> KnownModel {
    KnownModel {
        id,
        context_length: context,
        max_output_tokens: if max_out == 0 { None } else { Some(max_out) },
        input_per_mtok: input,
        output_per_mtok: Some(output),
    }
}

const fn embedding(id: &'static str, context: u32, input: f64) -> KnownModel {
    KnownModel {
        id,
        context_length: context,
        max_output_tokens: None,
        input_per_mtok: input,
        output_per_mtok: None,
    }
}

const fn hosted(name: &'static str, base_url: &'static str, secret: &'static str) -> Preset {
    Preset {
        name,
        base_url,
        auth: Auth::Bearer,
        secret,
        routing: Routing::Standard,
        models_endpoint: true,
        stream_usage_option: true,
        unsupported: Capabilities::empty(),
        openai_models: false,
        models: &[],
    }
}

const fn local(name: &'static str, base_url: &'static str, secret: &'static str) -> Preset {
    hosted(name, base_url, secret)
}

const GROQ: &[KnownModel] = &[
    chat("llama-3.3-70b-versatile", 131_072, 32_768, 0.59, 0.79),
    chat("llama-3.1-8b-instant", 131_072, 131_072, 0.05, 0.08),
    chat("openai/gpt-oss-120b", 131_072, 65_536, 0.15, 0.75),
    chat("openai/gpt-oss-20b", 131_072, 65_536, 0.10, 0.50),
];

const TOGETHER: &[KnownModel] = &[
    chat(
        "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        131_072,
        0,
        0.88,
        0.88,
    ),
    chat(
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Turbo",
        131_072,
        0,
        0.18,
        0.18,
    ),
    chat(
        "meta-llama/Meta-Llama-3.1-405B-Instruct-Turbo",
        130_815,
        0,
        3.50,
        3.50,
    ),
    chat("Qwen/Qwen2.5-72B-Instruct-Turbo", 32_768, 0, 1.20, 1.20),
    chat("deepseek-ai/DeepSeek-V3", 131_072, 0, 1.25, 1.25),
];

const FIREWORKS: &[KnownModel] = &[
    chat(
        "accounts/fireworks/models/llama-v3p3-70b-instruct",
        131_072,
        0,
        0.90,
        0.90,
    ),
    chat(
        "accounts/fireworks/models/llama-v3p1-8b-instruct",
        131_072,
        0,
        0.20,
        0.20,
    ),
    chat(
        "accounts/fireworks/models/llama-v3p1-405b-instruct",
        131_072,
        0,
        3.00,
        3.00,
    ),
    chat(
        "accounts/fireworks/models/deepseek-v3",
        131_072,
        0,
        0.90,
        0.90,
    ),
];

const DEEPSEEK: &[KnownModel] = &[
    chat("deepseek-chat", 128_000, 8_192, 0.28, 0.42),
    chat("deepseek-reasoner", 128_000, 65_536, 0.28, 0.42),
];

const MISTRAL: &[KnownModel] = &[
    chat("mistral-large-latest", 131_072, 0, 2.00, 6.00),
    chat("mistral-medium-latest", 131_072, 0, 0.40, 2.00),
    chat("mistral-small-latest", 131_072, 0, 0.10, 0.30),
    chat("codestral-latest", 256_000, 0, 0.30, 0.90),
    chat("ministral-8b-latest", 131_072, 0, 0.10, 0.10),
    chat("ministral-3b-latest", 131_072, 0, 0.04, 0.04),
    chat("open-mistral-nemo", 131_072, 0, 0.15, 0.15),
    embedding("mistral-embed", 8_192, 0.10),
];

const XAI: &[KnownModel] = &[
    chat("grok-4", 256_000, 0, 3.00, 15.00),
    chat("grok-4-fast-reasoning", 2_000_000, 0, 0.20, 0.50),
    chat("grok-4-fast-non-reasoning", 2_000_000, 0, 0.20, 0.50),
    chat("grok-code-fast-1", 256_000, 0, 0.20, 1.50),
    chat("grok-3", 131_072, 0, 3.00, 15.00),
    chat("grok-3-mini", 131_072, 0, 0.30, 0.50),
];

const PERPLEXITY: &[KnownModel] = &[
    chat("sonar", 128_000, 0, 1.00, 1.00),
    chat("sonar-pro", 200_000, 8_000, 3.00, 15.00),
    chat("sonar-reasoning", 128_000, 0, 1.00, 5.00),
    chat("sonar-reasoning-pro", 128_000, 0, 2.00, 8.00),
    chat("sonar-deep-research", 128_000, 0, 2.00, 8.00),
];

const CEREBRAS: &[KnownModel] = &[
    chat("llama3.1-8b", 0, 0, 0.10, 0.10),
    chat("llama-3.3-70b", 0, 0, 0.85, 1.20),
    chat("gpt-oss-120b", 0, 0, 0.35, 0.75),
    chat("qwen-3-32b", 0, 0, 0.40, 0.80),
];

/// Every preset, by name.
pub const PRESETS: &[Preset] = &[
    Preset {
        openai_models: true,
        ..hosted("openai", "https://api.openai.com/v1", "OPENAI_API_KEY")
    },
    Preset {
        auth: Auth::ApiKeyHeader,
        routing: Routing::AzureDeployment,
        openai_models: true,
        ..hosted("azure", "", "AZURE_OPENAI_API_KEY")
    },
    Preset {
        models: GROQ,
        ..hosted("groq", "https://api.groq.com/openai/v1", "GROQ_API_KEY")
    },
    Preset {
        models: TOGETHER,
        ..hosted(
            "together",
            "https://api.together.xyz/v1",
            "TOGETHER_API_KEY",
        )
    },
    Preset {
        models: FIREWORKS,
        ..hosted(
            "fireworks",
            "https://api.fireworks.ai/inference/v1",
            "FIREWORKS_API_KEY",
        )
    },
    Preset {
        models: DEEPSEEK,
        ..hosted(
            "deepseek",
            "https://api.deepseek.com/v1",
            "DEEPSEEK_API_KEY",
        )
    },
    Preset {
        models: MISTRAL,
        stream_usage_option: false,
        ..hosted("mistral", "https://api.mistral.ai/v1", "MISTRAL_API_KEY")
    },
    Preset {
        models: XAI,
        ..hosted("xai", "https://api.x.ai/v1", "XAI_API_KEY")
    },
    hosted(
        "openrouter",
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
    ),
    Preset {
        models: PERPLEXITY,
        models_endpoint: false,
        // No function calling, and only json_schema response formats.
        unsupported: Capabilities::TOOLS.union(Capabilities::JSON_MODE),
        ..hosted(
            "perplexity",
            "https://api.perplexity.ai",
            "PERPLEXITY_API_KEY",
        )
    },
    Preset {
        models: CEREBRAS,
        ..hosted("cerebras", "https://api.cerebras.ai/v1", "CEREBRAS_API_KEY")
    },
    hosted(
        "deepinfra",
        "https://api.deepinfra.com/v1/openai",
        "DEEPINFRA_API_KEY",
    ),
    local("vllm", "http://127.0.0.1:8000/v1", "VLLM_API_KEY"),
    local("llamacpp", "http://127.0.0.1:8080/v1", "LLAMACPP_API_KEY"),
    local("lmstudio", "http://127.0.0.1:1234/v1", "LMSTUDIO_API_KEY"),
    local("localai", "http://127.0.0.1:8080/v1", "LOCALAI_API_KEY"),
];

/// The preset named `name` (case-insensitive; `-` and `_` ignored, so
/// `llama.cpp`-style spellings like `llama-cpp` work too).
pub fn find(name: &str) -> Result<&'static Preset, String> {
    let key = |s: &str| {
        s.trim()
            .to_ascii_lowercase()
            .replace(['-', '_', '.', ' '], "")
    };
    let wanted = key(name);
    PRESETS
        .iter()
        .find(|p| key(p.name) == wanted)
        .ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
            format!(
                "config `preset` = `{name}` is not a known preset; use one of: {}",
                names.join(", ")
            )
        })
}

impl Preset {
    /// The table row for `id` (exact, case-insensitive).
    pub fn lookup(&self, id: &str) -> Option<&'static KnownModel> {
        self.models.iter().find(|m| m.id.eq_ignore_ascii_case(id))
    }

    /// The model info for `id` on this service. `server_context` is a
    /// window the server reported; `prices` are per-million-token prices
    /// the server reported (OpenRouter).
    pub fn model_info(
        &self,
        id: &str,
        server_context: Option<u32>,
        prices: Option<(f64, Option<f64>)>,
    ) -> ModelInfo {
        let mut info = crate::models::model_info(id, server_context);
        if !self.openai_models {
            // OpenAI's table describes OpenAI's models only.
            info.max_output_tokens = None;
            info.input_price_per_mtok = None;
            info.output_price_per_mtok = None;
            info.capabilities.remove(Capabilities::VISION);
            info.context_length = server_context.unwrap_or(0);
            if let Some(known) = self.lookup(id) {
                if known.output_per_mtok.is_none() {
                    info.capabilities = Capabilities::EMBEDDINGS;
                }
                if info.context_length == 0 {
                    info.context_length = known.context_length;
                }
                info.max_output_tokens = known.max_output_tokens;
                info.input_price_per_mtok = Some(known.input_per_mtok);
                info.output_price_per_mtok = known.output_per_mtok;
            }
        }
        if let Some((input, output)) = prices {
            info.input_price_per_mtok = Some(input);
            info.output_price_per_mtok = output;
        }
        info.capabilities.remove(self.unsupported);
        info
    }

    /// The table as model infos, for services without `GET /models`.
    pub fn table_models(&self) -> Vec<ModelInfo> {
        self.models
            .iter()
            .map(|m| self.model_info(m.id, None, None))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (preset, base URL, auth, secret, routing, has /models, stream usage option)
    const EXPECTED: &[(&str, &str, Auth, &str, Routing, bool, bool)] = &[
        (
            "openai",
            "https://api.openai.com/v1",
            Auth::Bearer,
            "OPENAI_API_KEY",
            Routing::Standard,
            true,
            true,
        ),
        (
            "azure",
            "",
            Auth::ApiKeyHeader,
            "AZURE_OPENAI_API_KEY",
            Routing::AzureDeployment,
            true,
            true,
        ),
        (
            "groq",
            "https://api.groq.com/openai/v1",
            Auth::Bearer,
            "GROQ_API_KEY",
            Routing::Standard,
            true,
            true,
        ),
        (
            "together",
            "https://api.together.xyz/v1",
            Auth::Bearer,
            "TOGETHER_API_KEY",
            Routing::Standard,
            true,
            true,
        ),
        (
            "fireworks",
            "https://api.fireworks.ai/inference/v1",
            Auth::Bearer,
            "FIREWORKS_API_KEY",
            Routing::Standard,
            true,
            true,
        ),
        (
            "deepseek",
            "https://api.deepseek.com/v1",
            Auth::Bearer,
            "DEEPSEEK_API_KEY",
            Routing::Standard,
            true,
            true,
        ),
        (
            "mistral",
            "https://api.mistral.ai/v1",
            Auth::Bearer,
            "MISTRAL_API_KEY",
            Routing::Standard,
            true,
            false,
        ),
        (
            "xai",
            "https://api.x.ai/v1",
            Auth::Bearer,
            "XAI_API_KEY",
            Routing::Standard,
            true,
            true,
        ),
        (
            "openrouter",
            "https://openrouter.ai/api/v1",
            Auth::Bearer,
            "OPENROUTER_API_KEY",
            Routing::Standard,
            true,
            true,
        ),
        (
            "perplexity",
            "https://api.perplexity.ai",
            Auth::Bearer,
            "PERPLEXITY_API_KEY",
            Routing::Standard,
            false,
            true,
        ),
        (
            "cerebras",
            "https://api.cerebras.ai/v1",
            Auth::Bearer,
            "CEREBRAS_API_KEY",
            Routing::Standard,
            true,
            true,
        ),
        (
            "deepinfra",
            "https://api.deepinfra.com/v1/openai",
            Auth::Bearer,
            "DEEPINFRA_API_KEY",
            Routing::Standard,
            true,
            true,
        ),
        (
            "vllm",
            "http://127.0.0.1:8000/v1",
            Auth::Bearer,
            "VLLM_API_KEY",
            Routing::Standard,
            true,
            true,
        ),
        (
            "llamacpp",
            "http://127.0.0.1:8080/v1",
            Auth::Bearer,
            "LLAMACPP_API_KEY",
            Routing::Standard,
            true,
            true,
        ),
        (
            "lmstudio",
            "http://127.0.0.1:1234/v1",
            Auth::Bearer,
            "LMSTUDIO_API_KEY",
            Routing::Standard,
            true,
            true,
        ),
        (
            "localai",
            "http://127.0.0.1:8080/v1",
            Auth::Bearer,
            "LOCALAI_API_KEY",
            Routing::Standard,
            true,
            true,
        ),
    ];

    #[test]
    fn every_preset_is_as_documented() {
        assert_eq!(PRESETS.len(), EXPECTED.len());
        for &(name, url, auth, secret, routing, models, usage) in EXPECTED {
            let p = find(name).unwrap();
            assert_eq!(p.name, name);
            assert_eq!(p.base_url, url, "{name}");
            assert_eq!(p.auth, auth, "{name}");
            assert_eq!(p.secret, secret, "{name}");
            assert_eq!(p.routing, routing, "{name}");
            assert_eq!(p.models_endpoint, models, "{name}");
            assert_eq!(p.stream_usage_option, usage, "{name}");
        }
    }

    #[test]
    fn manifest_grants_every_hosted_preset_and_declares_every_secret() {
        let manifest = include_str!("../plugin.toml");
        for p in PRESETS {
            assert!(
                manifest.contains(&format!("\"{}\"", p.secret)),
                "{}: secret {} is not declared",
                p.name,
                p.secret
            );
            if p.base_url.starts_with("https://") {
                let host = p.base_url["https://".len()..].split('/').next().unwrap();
                assert!(
                    manifest.contains(&format!("\"{host}\"")),
                    "{}: host {host} is not granted",
                    p.name
                );
            }
        }
        assert!(manifest.contains("\"*.openai.azure.com\""));
    }

    #[test]
    fn names_are_forgiving_and_unknown_ones_listed() {
        assert_eq!(find("Llama-CPP").unwrap().name, "llamacpp");
        assert_eq!(find(" LM_Studio ").unwrap().name, "lmstudio");
        let e = find("bedrock").unwrap_err();
        assert!(e.contains("bedrock") && e.contains("openrouter"), "{e}");
    }

    #[test]
    fn table_rows_are_sane() {
        for p in PRESETS {
            for m in p.models {
                assert!(
                    m.input_per_mtok >= 0.0 && m.input_per_mtok < 100.0,
                    "{}",
                    m.id
                );
                if let Some(out) = m.output_per_mtok {
                    assert!(out >= m.input_per_mtok * 0.5, "{}", m.id);
                }
                if let Some(max) = m.max_output_tokens
                    && m.context_length > 0
                {
                    assert!(max <= m.context_length, "{}", m.id);
                }
            }
            let mut ids: Vec<&str> = p.models.iter().map(|m| m.id).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), p.models.len(), "{}: duplicate rows", p.name);
        }
    }

    #[test]
    fn model_infos_per_preset() {
        let groq = find("groq").unwrap();
        let m = groq.model_info("llama-3.3-70b-versatile", None, None);
        assert_eq!(m.context_length, 131_072);
        assert_eq!(m.max_output_tokens, Some(32_768));
        assert_eq!(m.input_price_per_mtok, Some(0.59));
        assert_eq!(m.output_price_per_mtok, Some(0.79));
        assert!(
            m.capabilities
                .contains(Capabilities::TOOLS | Capabilities::STREAMING)
        );
        // A model the table does not know: what the server says, no prices.
        let m = groq.model_info("some-new-model", Some(8192), None);
        assert_eq!(m.context_length, 8192);
        assert_eq!(m.input_price_per_mtok, None);

        // OpenAI's own table applies to openai and azure only.
        let openai = find("openai").unwrap();
        assert_eq!(
            openai
                .model_info("gpt-4o-mini", None, None)
                .input_price_per_mtok,
            Some(0.15)
        );
        assert_eq!(
            find("together")
                .unwrap()
                .model_info("gpt-4o-mini", None, None)
                .input_price_per_mtok,
            None
        );
        assert_eq!(
            find("azure")
                .unwrap()
                .model_info("gpt-4o", None, None)
                .context_length,
            128_000
        );

        let mistral = find("mistral").unwrap();
        assert_eq!(
            mistral.model_info("mistral-embed", None, None).capabilities,
            Capabilities::EMBEDDINGS
        );

        let pplx = find("perplexity").unwrap();
        let tables = pplx.table_models();
        assert_eq!(tables.len(), 5);
        assert!(
            tables
                .iter()
                .all(|m| !m.capabilities.contains(Capabilities::TOOLS))
        );
        assert!(
            tables
                .iter()
                .all(|m| m.capabilities.contains(Capabilities::CHAT))
        );

        let or = find("openrouter").unwrap();
        let m = or.model_info(
            "anthropic/claude-sonnet-4.5",
            Some(1_000_000),
            Some((3.0, Some(15.0))),
        );
        assert_eq!(m.context_length, 1_000_000);
        assert_eq!(m.input_price_per_mtok, Some(3.0));
        assert_eq!(m.output_price_per_mtok, Some(15.0));
    }
}
