//! Model infos for Gemini: capabilities and limits from `GET /models`
//! (`supportedGenerationMethods`, `inputTokenLimit`, `outputTokenLimit`)
//! plus a small table of list prices.
//!
//! Prices are Google's published paid-tier list prices in US dollars per
//! million tokens, for prompts up to 200k tokens where the price is tiered
//! (text input), as of late 2025; the router uses them for cost-aware
//! routing, so a stale price only skews a preference. Versioned ids
//! (`-001`, `-latest`, `-preview-…`, `-exp-…`) take their family's price.

use hanzo_node_sdk::gemini::ModelEntry;
use hanzo_node_sdk::provider::ModelInfo;

/// One row of the price table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    pub family: &'static str,
    pub input_per_mtok: f64,
    pub output_per_mtok: Option<f64>,
}

const fn price(family: &'static str, input: f64, output: f64) -> Price {
    Price {
        family,
        input_per_mtok: input,
        output_per_mtok: Some(output),
    }
}

pub const PRICES: &[Price] = &[
    price("gemini-3-pro", 2.00, 12.00),
    price("gemini-2.5-pro", 1.25, 10.00),
    price("gemini-2.5-flash", 0.30, 2.50),
    price("gemini-2.5-flash-lite", 0.10, 0.40),
    price("gemini-2.0-flash", 0.10, 0.40),
    price("gemini-2.0-flash-lite", 0.075, 0.30),
    price("gemini-1.5-pro", 1.25, 5.00),
    price("gemini-1.5-flash", 0.075, 0.30),
    price("gemini-1.5-flash-8b", 0.0375, 0.15),
    Price {
        family: "gemini-embedding-001",
        input_per_mtok: 0.15,
        output_per_mtok: None,
    },
];

/// True for a suffix that only names a version of the same model.
fn is_version_suffix(rest: &str) -> bool {
    rest == "latest"
        || rest.starts_with("preview")
        || rest.starts_with("exp")
        || (!rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
}

/// The price row for `id`: exact, or the longest family whose versioned
/// form it is.
pub fn lookup(id: &str) -> Option<&'static Price> {
    let id = id.to_ascii_lowercase();
    if let Some(exact) = PRICES.iter().find(|p| p.family == id) {
        return Some(exact);
    }
    PRICES
        .iter()
        .filter(|p| {
            id.strip_prefix(p.family)
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(is_version_suffix)
        })
        .max_by_key(|p| p.family.len())
}

/// The model info for a listed model; `None` for models this provider
/// cannot serve (image, video and answer models).
pub fn model_info(entry: &ModelEntry) -> Option<ModelInfo> {
    let capabilities = entry.capabilities();
    if capabilities.is_empty() {
        return None;
    }
    let price = lookup(&entry.id);
    Some(ModelInfo {
        id: entry.id.clone(),
        capabilities,
        context_length: entry.input_token_limit.unwrap_or(0),
        // Embedding models report an output limit of 1 (one vector).
        max_output_tokens: entry.output_token_limit.filter(|n| *n > 1),
        input_price_per_mtok: price.map(|p| p.input_per_mtok),
        output_price_per_mtok: price.and_then(|p| p.output_per_mtok),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanzo_node_sdk::provider::Capabilities;

    fn entry(id: &str, methods: &[&str]) -> ModelEntry {
        ModelEntry {
            id: id.into(),
            display_name: None,
            input_token_limit: Some(1_048_576),
            output_token_limit: Some(65_536),
            methods: methods.iter().map(|m| m.to_string()).collect(),
        }
    }

    #[test]
    fn prices_resolve_versions_not_siblings() {
        for (id, family) in [
            ("gemini-2.5-flash", "gemini-2.5-flash"),
            ("gemini-2.5-flash-lite", "gemini-2.5-flash-lite"),
            ("gemini-2.5-flash-preview-09-2025", "gemini-2.5-flash"),
            (
                "gemini-2.5-flash-lite-preview-06-17",
                "gemini-2.5-flash-lite",
            ),
            ("gemini-2.0-flash-001", "gemini-2.0-flash"),
            ("gemini-1.5-flash-8b-latest", "gemini-1.5-flash-8b"),
            ("gemini-3-pro-preview", "gemini-3-pro"),
            ("gemini-2.0-flash-exp", "gemini-2.0-flash"),
        ] {
            assert_eq!(lookup(id).map(|p| p.family), Some(family), "{id}");
        }
        assert!(lookup("gemini-2.5-flash-image").is_none());
        assert!(lookup("gemma-3-27b-it").is_none());
    }

    #[test]
    fn infos_from_the_listing() {
        let m = model_info(&entry(
            "gemini-2.5-pro",
            &["generateContent", "countTokens"],
        ))
        .unwrap();
        assert_eq!(m.context_length, 1_048_576);
        assert_eq!(m.max_output_tokens, Some(65_536));
        assert_eq!(m.input_price_per_mtok, Some(1.25));
        assert_eq!(m.output_price_per_mtok, Some(10.0));
        assert!(
            m.capabilities
                .contains(Capabilities::TOOLS | Capabilities::STREAMING)
        );

        let mut e = entry("gemini-embedding-001", &["embedContent"]);
        e.output_token_limit = Some(1);
        let m = model_info(&e).unwrap();
        assert_eq!(m.capabilities, Capabilities::EMBEDDINGS);
        assert_eq!(m.max_output_tokens, None);
        assert_eq!(m.output_price_per_mtok, None);

        assert!(model_info(&entry("imagen-4.0-generate-001", &["predict"])).is_none());
    }
}
