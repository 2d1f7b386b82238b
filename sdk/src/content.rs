//! Message content as parts (text, images, documents) and what every wire
//! format needs to carry them: a message's text, base64, `data:` URLs.

use crate::wit::hanzo::node::llm_types::{
    Blob, ContentPart, Document, Image, MediaSource, Message, Role,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// `text` as content: no part for empty text (an assistant message that
/// only calls tools has none).
pub fn text_content(text: impl Into<String>) -> Vec<ContentPart> {
    let text = text.into();
    if text.is_empty() {
        Vec::new()
    } else {
        vec![ContentPart::Text(text)]
    }
}

/// The text parts of `parts`, joined; images and documents are skipped.
pub fn text_of(parts: &[ContentPart]) -> String {
    let mut out = String::new();
    for p in parts {
        if let ContentPart::Text(t) = p {
            out.push_str(t);
        }
    }
    out
}

/// Whether every part is text (an upstream that reads only text can take it).
pub fn is_text_only(parts: &[ContentPart]) -> bool {
    parts.iter().all(|p| matches!(p, ContentPart::Text(_)))
}

/// A part's kind, for error messages: `text`, `image` or `document`.
pub fn part_kind(p: &ContentPart) -> &'static str {
    match p {
        ContentPart::Text(_) => "text",
        ContentPart::Image(_) => "image",
        ContentPart::Document(_) => "document",
    }
}

pub fn base64_encode(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// `None` when `text` is not standard base64.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text.trim()).ok()
}

/// `data:<media type>;base64,<data>`.
pub fn data_url(blob: &Blob) -> String {
    format!(
        "data:{};base64,{}",
        blob.media_type,
        base64_encode(&blob.data)
    )
}

/// A base64 `data:` URL's media type and bytes; `None` for any other URL.
pub fn parse_data_url(url: &str) -> Option<Blob> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some(Blob {
        media_type: if media_type.is_empty() {
            "application/octet-stream".into()
        } else {
            media_type.to_string()
        },
        data: base64_decode(data)?,
    })
}

/// A media source from a URL a client sent: a `data:` URL becomes inline
/// bytes (so an upstream that takes only bytes can be sent it), any other
/// stays a URL.
pub fn source_from_url(url: &str) -> MediaSource {
    match parse_data_url(url) {
        Some(blob) => MediaSource::Inline(blob),
        None => MediaSource::Url(url.to_string()),
    }
}

/// The source as one URL (inline bytes as a `data:` URL).
pub fn source_url(source: &MediaSource) -> String {
    match source {
        MediaSource::Url(u) => u.clone(),
        MediaSource::Inline(b) => data_url(b),
    }
}

impl ContentPart {
    /// An image part from a URL (a `data:` URL is kept as bytes).
    pub fn image_url(url: &str) -> ContentPart {
        ContentPart::Image(Image {
            source: source_from_url(url),
            detail: None,
        })
    }

    /// An inline image.
    pub fn image_bytes(media_type: impl Into<String>, data: Vec<u8>) -> ContentPart {
        ContentPart::Image(Image {
            source: MediaSource::Inline(Blob {
                media_type: media_type.into(),
                data,
            }),
            detail: None,
        })
    }

    /// An inline document (a PDF, say).
    pub fn document_bytes(media_type: impl Into<String>, data: Vec<u8>) -> ContentPart {
        ContentPart::Document(Document {
            source: MediaSource::Inline(Blob {
                media_type: media_type.into(),
                data,
            }),
            title: None,
        })
    }
}

impl Message {
    /// A message with just a role and text.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self::with_parts(role, text_content(content))
    }

    /// A message with a role and content parts.
    pub fn with_parts(role: Role, content: Vec<ContentPart>) -> Self {
        Message {
            role,
            content,
            tool_calls: Vec::new(),
            tool_call_id: None,
            name: None,
            reasoning: Vec::new(),
        }
    }

    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Self::new(Role::System, content)
    }

    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self::new(Role::User, content)
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self::new(Role::Assistant, content)
    }

    /// A tool result answering the call `tool_call_id`.
    pub fn tool_result(tool_call_id: impl Into<String>, content: impl Into<String>) -> Self {
        Message {
            tool_call_id: Some(tool_call_id.into()),
            ..Self::new(Role::Tool, content)
        }
    }

    /// The message's text parts, joined.
    pub fn text(&self) -> String {
        text_of(&self.content)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_round_trip_and_others_stay_urls() {
        let blob = Blob {
            media_type: "image/png".into(),
            data: vec![0x89, b'P', b'N', b'G'],
        };
        let url = data_url(&blob);
        assert_eq!(url, "data:image/png;base64,iVBORw==");
        assert_eq!(parse_data_url(&url), Some(blob));
        assert_eq!(parse_data_url("https://x/a.png"), None);
        assert_eq!(parse_data_url("data:image/png,notbase64"), None);
        assert!(matches!(
            source_from_url("https://x/a.png"),
            MediaSource::Url(_)
        ));
    }

    #[test]
    fn text_joins_text_parts_only() {
        let m = Message::with_parts(
            Role::User,
            vec![
                ContentPart::Text("a ".into()),
                ContentPart::image_url("https://x/a.png"),
                ContentPart::Text("b".into()),
            ],
        );
        assert_eq!(m.text(), "a b");
        assert!(!is_text_only(&m.content));
        assert!(Message::assistant("").content.is_empty());
    }
}
