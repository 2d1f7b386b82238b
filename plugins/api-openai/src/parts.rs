//! Message content as each API shape sends it, into the router's content
//! parts: OpenAI's `image_url` and `file` parts, the Responses API's
//! `input_image` and `input_file`, Anthropic's `image` and `document`
//! blocks. Adjacent text parts are joined with a newline, as the text-only
//! node did, so a text-only conversation reaches upstreams unchanged.

use crate::error::ApiError;
use crate::wire::type_name;
use hanzo_node_sdk::content::{base64_decode, parse_data_url, source_from_url};
use hanzo_node_sdk::llm::{Blob, ContentPart, Document, Image, MediaSource};
use serde_json::{Map, Value};

/// What a client's `unsupported_content` error is coded as.
pub const UNSUPPORTED: &str = "unsupported_content";

/// Content parts being collected for one message.
#[derive(Default)]
pub struct Parts(Vec<ContentPart>);

impl Parts {
    pub fn text(&mut self, text: &str) {
        if let Some(ContentPart::Text(last)) = self.0.last_mut() {
            last.push('\n');
            last.push_str(text);
        } else {
            self.0.push(ContentPart::Text(text.to_string()));
        }
    }

    pub fn push(&mut self, part: ContentPart) {
        self.0.push(part);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<ContentPart> {
        self.0
    }
}

fn field<'a>(obj: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a str, ApiError> {
    match obj.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(other) if !other.is_null() => Err(ApiError::invalid(
            format!("{at}.{key}"),
            format!("`{at}.{key}` must be a string, not {}.", type_name(other)),
        )),
        _ => Err(ApiError::invalid(
            format!("{at}.{key}"),
            format!("Missing required parameter: `{at}.{key}`."),
        )),
    }
}

fn object<'a>(value: &'a Value, at: &str) -> Result<&'a Map<String, Value>, ApiError> {
    value.as_object().ok_or_else(|| {
        ApiError::invalid(
            at,
            format!("`{at}` must be an object, not {}.", type_name(value)),
        )
    })
}

fn bad_data(at: &str) -> ApiError {
    ApiError::invalid(at, format!("`{at}` is not valid base64 data."))
}

/// The media type a file name implies, for documents sent without one.
fn media_type_of(name: Option<&str>) -> &'static str {
    let ext = name
        .and_then(|n| n.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt" | "md") => "text/plain",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        _ => "application/pdf",
    }
}

/// A URL as the client sent it: a `data:` URL must hold base64.
fn url_source(url: &str, at: &str) -> Result<MediaSource, ApiError> {
    if url.starts_with("data:") && parse_data_url(url).is_none() {
        return Err(ApiError::invalid(
            at,
            format!("`{at}` is not a valid base64 data URL."),
        ));
    }
    Ok(source_from_url(url))
}

/// OpenAI's `{"type": "image_url", "image_url": {"url", "detail"}}` (the
/// `image_url` may also be the URL itself).
pub fn openai_image(part: &Map<String, Value>, at: &str) -> Result<ContentPart, ApiError> {
    let inner_at = format!("{at}.image_url");
    let (url, detail) = match part.get("image_url") {
        Some(Value::String(url)) => (url.as_str(), None),
        Some(v @ Value::Object(_)) => {
            let obj = object(v, &inner_at)?;
            let detail = obj
                .get("detail")
                .and_then(Value::as_str)
                .map(str::to_string);
            (field(obj, "url", &inner_at)?, detail)
        }
        _ => (field(part, "image_url", at)?, None),
    };
    Ok(ContentPart::Image(Image {
        source: url_source(url, &format!("{inner_at}.url"))?,
        detail,
    }))
}

/// OpenAI's `{"type": "file", "file": {"file_data", "filename"}}`. Files
/// uploaded to OpenAI (`file_id`) are OpenAI's alone: refused.
pub fn openai_file(part: &Map<String, Value>, at: &str) -> Result<ContentPart, ApiError> {
    let inner_at = format!("{at}.file");
    let obj = object(part.get("file").unwrap_or(&Value::Null), &inner_at)?;
    let name = obj.get("filename").and_then(Value::as_str);
    if obj.contains_key("file_id") && !obj.contains_key("file_data") {
        return Err(file_id_refused(&format!("{inner_at}.file_id")));
    }
    let data = field(obj, "file_data", &inner_at)?;
    document(data, name, &format!("{inner_at}.file_data"))
}

/// A document from `file_data`: a `data:` URL, or bare base64 whose type the
/// file name tells.
fn document(data: &str, name: Option<&str>, at: &str) -> Result<ContentPart, ApiError> {
    let blob = match parse_data_url(data) {
        Some(blob) => blob,
        None => Blob {
            media_type: media_type_of(name).to_string(),
            data: base64_decode(data).ok_or_else(|| bad_data(at))?,
        },
    };
    Ok(ContentPart::Document(Document {
        source: MediaSource::Inline(blob),
        title: name.map(str::to_string),
    }))
}

fn file_id_refused(at: &str) -> ApiError {
    ApiError::invalid(
        at,
        format!("`{at}`: files uploaded to OpenAI are not available here; send the file's bytes."),
    )
    .with_code(UNSUPPORTED)
}

/// The Responses API's `input_image` (`image_url`, a URL or a data URL, and
/// `detail`) and `input_file` (`file_data` or `file_url`, `filename`).
pub fn responses_part(
    kind: &str,
    part: &Map<String, Value>,
    at: &str,
) -> Result<ContentPart, ApiError> {
    match kind {
        "input_image" => {
            if part.contains_key("file_id") && !part.contains_key("image_url") {
                return Err(file_id_refused(&format!("{at}.file_id")));
            }
            let url = field(part, "image_url", at)?;
            Ok(ContentPart::Image(Image {
                source: url_source(url, &format!("{at}.image_url"))?,
                detail: part
                    .get("detail")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            }))
        }
        _ => {
            let name = part.get("filename").and_then(Value::as_str);
            if let Some(Value::String(url)) = part.get("file_url") {
                return Ok(ContentPart::Document(Document {
                    source: url_source(url, &format!("{at}.file_url"))?,
                    title: name.map(str::to_string),
                }));
            }
            if part.contains_key("file_id") && !part.contains_key("file_data") {
                return Err(file_id_refused(&format!("{at}.file_id")));
            }
            document(
                field(part, "file_data", at)?,
                name,
                &format!("{at}.file_data"),
            )
        }
    }
}

/// Anthropic's `image` and `document` blocks: `source` of type `base64`
/// (`media_type`, `data`), `url`, or for documents `text` (plain text).
pub fn anthropic_media(
    kind: &str,
    block: &Map<String, Value>,
    at: &str,
) -> Result<ContentPart, ApiError> {
    let source_at = format!("{at}.source");
    let source = object(block.get("source").unwrap_or(&Value::Null), &source_at)?;
    let source = match source.get("type").and_then(Value::as_str) {
        Some("base64") => MediaSource::Inline(Blob {
            media_type: field(source, "media_type", &source_at)?.to_string(),
            data: base64_decode(field(source, "data", &source_at)?)
                .ok_or_else(|| bad_data(&format!("{source_at}.data")))?,
        }),
        Some("url") => url_source(
            field(source, "url", &source_at)?,
            &format!("{source_at}.url"),
        )?,
        Some("text") if kind == "document" => MediaSource::Inline(Blob {
            media_type: "text/plain".into(),
            data: field(source, "data", &source_at)?.as_bytes().to_vec(),
        }),
        Some("file") => return Err(file_id_refused(&format!("{source_at}.file_id"))),
        other => {
            return Err(ApiError::invalid(
                format!("{source_at}.type"),
                format!(
                    "{source_at}.type: '{}' is not a source this node takes (base64, url{})",
                    other.unwrap_or(""),
                    if kind == "document" { ", text" } else { "" }
                ),
            )
            .with_code(UNSUPPORTED));
        }
    };
    Ok(if kind == "image" {
        ContentPart::Image(Image {
            source,
            detail: None,
        })
    } else {
        ContentPart::Document(Document {
            source,
            title: block
                .get("title")
                .and_then(Value::as_str)
                .map(str::to_string),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn openai_images_by_url_and_data_url() {
        let p = openai_image(
            &obj(json!({"type": "image_url", "image_url": {"url": "https://x/a.png", "detail": "low"}})),
            "m",
        )
        .unwrap();
        assert!(
            matches!(&p, ContentPart::Image(i) if i.detail.as_deref() == Some("low")
            && matches!(&i.source, MediaSource::Url(u) if u == "https://x/a.png"))
        );
        let p = openai_image(
            &obj(json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,AQID"}})),
            "m",
        )
        .unwrap();
        assert!(matches!(&p, ContentPart::Image(i)
            if matches!(&i.source, MediaSource::Inline(b) if b.data == [1, 2, 3] && b.media_type == "image/png")));
        let e = openai_image(
            &obj(json!({"type": "image_url", "image_url": {"url": "data:image/png;base64,%%"}})),
            "m",
        )
        .unwrap_err();
        assert_eq!(e.param.as_deref(), Some("m.image_url.url"));
    }

    #[test]
    fn uploaded_file_ids_are_refused_with_the_stable_code() {
        let e = openai_file(
            &obj(json!({"type": "file", "file": {"file_id": "file-1"}})),
            "m",
        )
        .unwrap_err();
        assert_eq!(e.code, Some(UNSUPPORTED));
        let p = openai_file(
            &obj(json!({"type": "file", "file": {"file_data": "JVBERg==", "filename": "a.pdf"}})),
            "m",
        )
        .unwrap();
        assert!(
            matches!(&p, ContentPart::Document(d) if d.title.as_deref() == Some("a.pdf")
            && matches!(&d.source, MediaSource::Inline(b) if b.media_type == "application/pdf"))
        );
    }

    #[test]
    fn anthropic_sources() {
        let p = anthropic_media(
            "image",
            &obj(json!({"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/"}})),
            "b",
        )
        .unwrap();
        assert!(matches!(&p, ContentPart::Image(i)
            if matches!(&i.source, MediaSource::Inline(b) if b.media_type == "image/jpeg")));
        let p = anthropic_media(
            "document",
            &obj(json!({"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "hi"}, "title": "t"})),
            "b",
        )
        .unwrap();
        assert!(matches!(&p, ContentPart::Document(d) if d.title.as_deref() == Some("t")));
        let e = anthropic_media(
            "image",
            &obj(json!({"type": "image", "source": {"type": "file", "file_id": "f"}})),
            "b",
        )
        .unwrap_err();
        assert_eq!(e.code, Some(UNSUPPORTED));
    }

    #[test]
    fn adjacent_text_joins_with_a_newline() {
        let mut parts = Parts::default();
        parts.text("a");
        parts.text("b");
        parts.push(ContentPart::image_url("https://x/a.png"));
        parts.text("c");
        let v = parts.into_vec();
        assert_eq!(v.len(), 3);
        assert!(matches!(&v[0], ContentPart::Text(t) if t == "a\nb"));
    }
}
