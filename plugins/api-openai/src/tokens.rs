//! Token counts for `POST /v1/messages/count_tokens`, with a real BPE
//! tokenizer (OpenAI's `cl100k_base`) and the per-message framing OpenAI
//! documents for chat models. An estimate for other models' tokenizers
//! (Claude's is not public): within a few percent on English text.

use hanzo_node_sdk::llm::{ChatRequest, ContentPart};
use std::sync::OnceLock;
use tiktoken_rs::CoreBPE;

/// Tokens each message's framing costs (role and separators).
const PER_MESSAGE: usize = 3;
/// Tokens priming the answer.
const PRIMING: usize = 3;
/// What an image or document counts for: about what a 1024-pixel image or
/// a page costs at the major providers (the router estimates the same).
const PER_MEDIA_PART: usize = 1_000;

/// The tokenizer, built once per instance (about 100k merges).
fn bpe() -> &'static CoreBPE {
    static BPE: OnceLock<CoreBPE> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().expect("the bundled cl100k_base table parses"))
}

fn tokens(text: &str) -> usize {
    if text.is_empty() {
        0
    } else {
        bpe().encode_ordinary(text).len()
    }
}

/// The input tokens of `request`: its messages (text, images and documents,
/// tool calls and tool results) and its tools' names, descriptions and
/// schemas.
pub fn count(request: &ChatRequest) -> u32 {
    let mut n = PRIMING;
    for m in &request.messages {
        n += PER_MESSAGE;
        for part in &m.content {
            n += match part {
                ContentPart::Text(t) => tokens(t),
                ContentPart::Image(_) | ContentPart::Document(_) => PER_MEDIA_PART,
            };
        }
        for call in &m.tool_calls {
            n += PER_MESSAGE + tokens(&call.name) + tokens(&call.arguments);
        }
    }
    for tool in &request.tools {
        n +=
            PER_MESSAGE + tokens(&tool.name) + tokens(&tool.description) + tokens(&tool.parameters);
    }
    n.try_into().unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hanzo_node_sdk::llm::Message;

    fn request(messages: Vec<Message>) -> ChatRequest {
        ChatRequest::new("m", messages)
    }

    #[test]
    fn counts_follow_the_tokenizer_and_the_framing() {
        // "Hello, world!" is 4 cl100k tokens: Hello , world !
        assert_eq!(tokens("Hello, world!"), 4);
        let one = count(&request(vec![Message::user("Hello, world!".to_string())]));
        assert_eq!(one, (PRIMING + PER_MESSAGE + 4) as u32);
        let longer = count(&request(vec![
            Message::system("You are terse.".to_string()),
            Message::user("Hello, world!".to_string()),
        ]));
        assert!(longer > one);
    }
}
