//! What the plugin knows about Claude models beyond what `/v1/models`
//! says (ids and names only): context window, output limit and list prices.
//!
//! Prices are Anthropic's published list prices in US dollars per million
//! tokens (base input, no caching or batch discount) as of late 2025; the
//! router uses them for cost-aware routing, so a stale price only skews a
//! preference. Context windows are the standard ones (Sonnet 4 and 4.5
//! offer 1M tokens only behind a beta header). Models not in the table
//! report a context length of 0 and no prices ("unknown" in the WIT).

use hanzo_node_sdk::provider::{Capabilities, ModelInfo};

/// One row of the table: a model family, matched by its id without the
/// snapshot date (`claude-sonnet-4-5-20250929` → `claude-sonnet-4-5`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Known {
    pub family: &'static str,
    pub context_length: u32,
    pub max_output_tokens: u32,
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

const fn known(
    family: &'static str,
    context_length: u32,
    max_output_tokens: u32,
    input_per_mtok: f64,
    output_per_mtok: f64,
) -> Known {
    Known {
        family,
        context_length,
        max_output_tokens,
        input_per_mtok,
        output_per_mtok,
    }
}

/// Well-known Claude models.
pub const KNOWN: &[Known] = &[
    known("claude-opus-4-5", 200_000, 64_000, 5.00, 25.00),
    known("claude-sonnet-4-5", 200_000, 64_000, 3.00, 15.00),
    known("claude-haiku-4-5", 200_000, 64_000, 1.00, 5.00),
    known("claude-opus-4-1", 200_000, 32_000, 15.00, 75.00),
    known("claude-opus-4", 200_000, 32_000, 15.00, 75.00),
    known("claude-sonnet-4", 200_000, 64_000, 3.00, 15.00),
    known("claude-3-7-sonnet", 200_000, 64_000, 3.00, 15.00),
    known("claude-3-5-sonnet", 200_000, 8_192, 3.00, 15.00),
    known("claude-3-5-haiku", 200_000, 8_192, 0.80, 4.00),
    known("claude-3-opus", 200_000, 4_096, 15.00, 75.00),
    known("claude-3-haiku", 200_000, 4_096, 0.25, 1.25),
];

/// The family of `id`: without a trailing `-YYYYMMDD` snapshot date or
/// `-latest`.
fn family(id: &str) -> String {
    let id = id.to_ascii_lowercase();
    if let Some(base) = id.strip_suffix("-latest") {
        return base.to_string();
    }
    match id.rsplit_once('-') {
        Some((base, date)) if date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit()) => {
            base.to_string()
        }
        _ => id,
    }
}

/// The table row for `id`.
pub fn lookup(id: &str) -> Option<&'static Known> {
    let family = family(id);
    KNOWN.iter().find(|k| k.family == family)
}

/// The model info for `id`. Every Claude model chats, streams, calls tools
/// and reads images; JSON mode is an instruction in the system prompt.
pub fn model_info(id: &str) -> ModelInfo {
    let known = lookup(id);
    ModelInfo {
        id: id.to_string(),
        capabilities: Capabilities::CHAT
            | Capabilities::STREAMING
            | Capabilities::TOOLS
            | Capabilities::VISION
            | Capabilities::JSON_MODE,
        context_length: known.map_or(0, |k| k.context_length),
        max_output_tokens: known.map(|k| k.max_output_tokens),
        input_price_per_mtok: known.map(|k| k.input_per_mtok),
        output_price_per_mtok: known.map(|k| k.output_per_mtok),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_snapshots_and_aliases() {
        for (id, family) in [
            ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5"),
            ("claude-sonnet-4-5", "claude-sonnet-4-5"),
            ("claude-opus-4-20250514", "claude-opus-4"),
            ("claude-opus-4-1-20250805", "claude-opus-4-1"),
            ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
            ("claude-3-5-haiku-20241022", "claude-3-5-haiku"),
            ("CLAUDE-3-HAIKU-20240307", "claude-3-haiku"),
            ("claude-haiku-4-5-20251001", "claude-haiku-4-5"),
        ] {
            assert_eq!(lookup(id).map(|k| k.family), Some(family), "{id}");
        }
        assert!(lookup("claude-2.1").is_none());
        assert!(lookup("claude-sonnet-4-5-preview").is_none());
    }

    #[test]
    fn infos_carry_the_table() {
        let m = model_info("claude-sonnet-4-5-20250929");
        assert_eq!(m.context_length, 200_000);
        assert_eq!(m.max_output_tokens, Some(64_000));
        assert_eq!(m.input_price_per_mtok, Some(3.0));
        assert_eq!(m.output_price_per_mtok, Some(15.0));
        assert!(
            m.capabilities
                .contains(Capabilities::TOOLS | Capabilities::STREAMING)
        );
        assert!(!m.capabilities.contains(Capabilities::EMBEDDINGS));
        let unknown = model_info("claude-next");
        assert_eq!(unknown.context_length, 0);
        assert_eq!(unknown.input_price_per_mtok, None);
        assert!(unknown.capabilities.contains(Capabilities::CHAT));
    }
}
