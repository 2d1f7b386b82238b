//! What the plugin knows about models beyond what `/models` says: a small
//! table of well-known OpenAI models (context window, output limit, list
//! prices) and the rules that derive capabilities from a model id.
//!
//! Prices are OpenAI's published list prices in US dollars per million
//! tokens (standard tier, uncached input) as of mid-2025; the router uses
//! them for cost-aware routing, so a stale price only skews a preference.
//! Models not in the table (other servers, new snapshots) report a context
//! length of 0 and no prices, which the WIT defines as "unknown".

use hanzo_node_sdk::provider::{Capabilities, ModelInfo};

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Known {
    pub id: &'static str,
    pub context_length: u32,
    pub max_output_tokens: Option<u32>,
    pub input_per_mtok: f64,
    pub output_per_mtok: Option<f64>,
    pub vision: bool,
}

const fn chat(
    id: &'static str,
    context_length: u32,
    max_output_tokens: u32,
    input: f64,
    output: f64,
    vision: bool,
) -> Known {
    Known {
        id,
        context_length,
        max_output_tokens: Some(max_output_tokens),
        input_per_mtok: input,
        output_per_mtok: Some(output),
        vision,
    }
}

const fn embedding(id: &'static str, input: f64) -> Known {
    Known {
        id,
        context_length: 8191,
        max_output_tokens: None,
        input_per_mtok: input,
        output_per_mtok: None,
        vision: false,
    }
}

/// Well-known OpenAI models. Dated snapshots (`gpt-4o-2024-08-06`,
/// `gpt-3.5-turbo-0125`) resolve to their family's row.
pub const KNOWN: &[Known] = &[
    chat("gpt-5", 400_000, 128_000, 1.25, 10.00, true),
    chat("gpt-5-mini", 400_000, 128_000, 0.25, 2.00, true),
    chat("gpt-5-nano", 400_000, 128_000, 0.05, 0.40, true),
    chat("gpt-4.1", 1_047_576, 32_768, 2.00, 8.00, true),
    chat("gpt-4.1-mini", 1_047_576, 32_768, 0.40, 1.60, true),
    chat("gpt-4.1-nano", 1_047_576, 32_768, 0.10, 0.40, true),
    chat("gpt-4o", 128_000, 16_384, 2.50, 10.00, true),
    chat("gpt-4o-mini", 128_000, 16_384, 0.15, 0.60, true),
    chat("gpt-4-turbo", 128_000, 4_096, 10.00, 30.00, true),
    chat("gpt-4", 8_192, 8_192, 30.00, 60.00, false),
    chat("gpt-3.5-turbo", 16_385, 4_096, 0.50, 1.50, false),
    chat("o1", 200_000, 100_000, 15.00, 60.00, true),
    chat("o1-mini", 128_000, 65_536, 1.10, 4.40, false),
    chat("o3", 200_000, 100_000, 2.00, 8.00, true),
    chat("o3-mini", 200_000, 100_000, 1.10, 4.40, false),
    chat("o4-mini", 200_000, 100_000, 1.10, 4.40, true),
    embedding("text-embedding-3-small", 0.02),
    embedding("text-embedding-3-large", 0.13),
    embedding("text-embedding-ada-002", 0.10),
];

/// The table row for `id`: an exact match, or the family of a dated
/// snapshot (`-YYYY-MM-DD` or `-MMDD` after the family id).
pub fn lookup(id: &str) -> Option<&'static Known> {
    let id = id.to_ascii_lowercase();
    if let Some(exact) = KNOWN.iter().find(|k| k.id == id) {
        return Some(exact);
    }
    KNOWN
        .iter()
        .filter(|k| {
            id.strip_prefix(k.id)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(is_snapshot_suffix)
        })
        .max_by_key(|k| k.id.len())
}

/// `2024-08-06` or `0613`.
fn is_snapshot_suffix(rest: &str) -> bool {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = rest.split('-').collect();
    match parts.as_slice() {
        [y, m, d] => digits(y, 4) && digits(m, 2) && digits(d, 2),
        [mmdd] => digits(mmdd, 4),
        _ => false,
    }
}

/// Families in OpenAI's `/models` list that cannot serve
/// `/chat/completions` or `/embeddings` (speech, images, moderation,
/// realtime, legacy completions). Listing them would let the router send
/// chat to a model that can only fail.
const NOT_CHAT_PREFIXES: &[&str] = &[
    "whisper",
    "tts-",
    "dall-e",
    "gpt-image",
    "sora",
    "davinci",
    "babbage",
    "omni-moderation",
    "text-moderation",
    "codex-mini",
    "computer-use",
];
const NOT_CHAT_INFIXES: &[&str] = &["-realtime", "-audio", "-transcribe", "-tts", "-instruct"];

/// True for ids this provider can serve.
pub fn is_servable(id: &str) -> bool {
    let id = id.to_ascii_lowercase();
    !NOT_CHAT_PREFIXES.iter().any(|p| id.starts_with(p))
        && !NOT_CHAT_INFIXES.iter().any(|p| id.contains(p))
}

/// Reasoning models (o-series, gpt-5) reject `max_tokens` and want
/// `max_completion_tokens` instead.
pub fn wants_max_completion_tokens(model: &str) -> bool {
    // Per request: compared in place rather than lowercased into a copy.
    let m = model.rsplit('/').next().unwrap_or(model).as_bytes();
    ["o1", "o3", "o4", "gpt-5"].iter().any(|family| {
        let f = family.as_bytes();
        m.len() >= f.len()
            && m[..f.len()].eq_ignore_ascii_case(f)
            && (m.len() == f.len() || m[f.len()] == b'-')
    })
}

/// The model info for `id`. Ids containing `embed` are embedding models;
/// everything else is a chat model with streaming, tools and JSON mode.
/// `server_context` is a context window the server itself reported.
pub fn model_info(id: &str, server_context: Option<u32>) -> ModelInfo {
    let known = lookup(id);
    let capabilities = if id.to_ascii_lowercase().contains("embed") {
        Capabilities::EMBEDDINGS
    } else {
        let mut c = Capabilities::CHAT
            | Capabilities::STREAMING
            | Capabilities::TOOLS
            | Capabilities::JSON_MODE;
        if known.is_some_and(|k| k.vision) {
            c |= Capabilities::VISION;
        }
        c
    };
    ModelInfo {
        id: id.to_string(),
        capabilities,
        context_length: server_context
            .or(known.map(|k| k.context_length))
            .unwrap_or(0),
        max_output_tokens: known.and_then(|k| k.max_output_tokens),
        input_price_per_mtok: known.map(|k| k.input_per_mtok),
        output_price_per_mtok: known.and_then(|k| k.output_per_mtok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_snapshots_to_families() {
        assert_eq!(lookup("gpt-4o").unwrap().id, "gpt-4o");
        assert_eq!(lookup("gpt-4o-2024-08-06").unwrap().id, "gpt-4o");
        assert_eq!(lookup("gpt-4o-mini-2024-07-18").unwrap().id, "gpt-4o-mini");
        assert_eq!(lookup("gpt-3.5-turbo-0125").unwrap().id, "gpt-3.5-turbo");
        assert_eq!(lookup("gpt-4-0613").unwrap().id, "gpt-4");
        assert_eq!(lookup("GPT-4.1-MINI").unwrap().id, "gpt-4.1-mini");
        assert!(lookup("gpt-4o-audio-preview").is_none());
        assert!(lookup("gpt-4o-search-preview-2025-03-11").is_none());
        assert!(lookup("meta-llama/Llama-3.1-8B-Instruct").is_none());
    }

    #[test]
    fn capabilities() {
        let e = model_info("text-embedding-3-small", None);
        assert_eq!(e.capabilities, Capabilities::EMBEDDINGS);
        assert_eq!(e.context_length, 8191);
        assert_eq!(e.input_price_per_mtok, Some(0.02));
        assert_eq!(e.output_price_per_mtok, None);

        let c = model_info("gpt-4o-mini-2024-07-18", None);
        assert!(c.capabilities.contains(
            Capabilities::CHAT
                | Capabilities::STREAMING
                | Capabilities::TOOLS
                | Capabilities::JSON_MODE
                | Capabilities::VISION
        ));
        assert_eq!(c.context_length, 128_000);
        assert_eq!(c.max_output_tokens, Some(16_384));
        assert_eq!(c.input_price_per_mtok, Some(0.15));
        assert_eq!(c.output_price_per_mtok, Some(0.60));

        let local = model_info("qwen2.5-7b-instruct", None);
        assert!(local.capabilities.contains(Capabilities::CHAT));
        assert!(!local.capabilities.contains(Capabilities::VISION));
        assert_eq!(local.context_length, 0);
        assert_eq!(local.input_price_per_mtok, None);

        let reported = model_info("meta-llama/Llama-3.1-8B-Instruct", Some(131_072));
        assert_eq!(reported.context_length, 131_072);
        assert_eq!(
            model_info("nomic-embed-text", None).capabilities,
            Capabilities::EMBEDDINGS
        );
    }

    #[test]
    fn filters_models_that_cannot_chat() {
        for id in [
            "whisper-1",
            "tts-1-hd",
            "dall-e-3",
            "gpt-4o-realtime-preview",
            "gpt-4o-mini-transcribe",
            "gpt-4o-audio-preview-2024-12-17",
            "omni-moderation-latest",
            "davinci-002",
            "gpt-3.5-turbo-instruct",
        ] {
            assert!(!is_servable(id), "{id}");
        }
        for id in ["gpt-4o", "o3-mini", "text-embedding-3-large", "llama3.1:8b"] {
            assert!(is_servable(id), "{id}");
        }
    }

    #[test]
    fn reasoning_models_use_max_completion_tokens() {
        for m in [
            "o1",
            "o1-mini",
            "o3-2025-04-16",
            "o4-mini",
            "gpt-5",
            "gpt-5-nano",
            "openai/O3-mini",
        ] {
            assert!(wants_max_completion_tokens(m), "{m}");
        }
        for m in [
            "gpt-4o",
            "gpt-4.1-mini",
            "llama3",
            "olmo-7b",
            "o1x",
            "gpt-50",
            "o",
            "",
        ] {
            assert!(!wants_max_completion_tokens(m), "{m}");
        }
    }
}
