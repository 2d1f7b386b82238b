"""The WIT records of ``hanzo:node/llm-types`` (chat requests, messages,
chunks, model info, ...), as componentize-py generates them, plus small
constructors with defaults and what every wire format needs to carry a
message's content: its text, images and documents, ``data:`` URLs.
Available in the provider and api worlds.

A message's content is a list of parts (``ContentPart_Text``,
``ContentPart_Image``, ``ContentPart_Document``); the constructors here take
a string for text-only content::

    user("what is in it?")                                    # one text part
    user([ContentPart_Text("what is in it?"), image_bytes("image/png", png)])
    text_of(response.message)                                 # its text parts, joined
"""

from __future__ import annotations

import base64
import binascii
from typing import List, Optional, Union

from wit_world.imports.llm_types import (  # noqa: F401  (re-exported)
    Blob,
    Capabilities,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    ContentPart,
    ContentPart_Document,
    ContentPart_Image,
    ContentPart_Text,
    Document,
    EmbedRequest,
    EmbedResponse,
    FinishReason,
    Image,
    MediaSource,
    MediaSource_Inline,
    MediaSource_Url,
    Message,
    ModelInfo,
    Reasoning,
    ReasoningDelta,
    Role,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolChoice_Auto,
    ToolChoice_Named,
    ToolChoice_None_,
    ToolChoice_Required,
    ToolDefinition,
    Usage,
)

#: Content as the constructors take it: text, or the parts themselves.
Content = Union[str, List[ContentPart]]


# ------------------------------------------------------------------ content


def text_content(text: str) -> List[ContentPart]:
    """``text`` as content: no part for empty text (an assistant message
    that only calls tools has none)."""
    return [ContentPart_Text(text)] if text else []


def text_of(content: Union[Message, List[ContentPart]]) -> str:
    """The text parts of a message (or of a list of parts), joined; images
    and documents are skipped."""
    parts = content.content if isinstance(content, Message) else content
    return "".join(p.value for p in parts if isinstance(p, ContentPart_Text))


def is_text_only(parts: List[ContentPart]) -> bool:
    """Whether every part is text (an upstream that reads only text can take it)."""
    return all(isinstance(p, ContentPart_Text) for p in parts)


def part_kind(part: ContentPart) -> str:
    """``text``, ``image`` or ``document``, for error messages."""
    if isinstance(part, ContentPart_Image):
        return "image"
    if isinstance(part, ContentPart_Document):
        return "document"
    return "text"


def data_url(blob: Blob) -> str:
    """``data:<media type>;base64,<data>``."""
    return f"data:{blob.media_type};base64,{base64.b64encode(blob.data).decode('ascii')}"


def parse_data_url(url: str) -> Optional[Blob]:
    """A base64 ``data:`` URL's media type and bytes; ``None`` for any other URL."""
    if not url.startswith("data:") or "," not in url:
        return None
    meta, data = url[5:].split(",", 1)
    if not meta.endswith(";base64"):
        return None
    try:
        raw = base64.b64decode(data.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return Blob(meta[: -len(";base64")] or "application/octet-stream", raw)


def source_from_url(url: str) -> MediaSource:
    """A media source from a URL a client sent: a ``data:`` URL becomes
    inline bytes (so an upstream that takes only bytes can be sent it), any
    other stays a URL."""
    blob = parse_data_url(url)
    return MediaSource_Inline(blob) if blob is not None else MediaSource_Url(url)


def source_url(source: MediaSource) -> str:
    """The source as one URL (inline bytes as a ``data:`` URL)."""
    return data_url(source.value) if isinstance(source, MediaSource_Inline) else source.value


def image_url(url: str, detail: Optional[str] = None) -> ContentPart:
    """An image part from a URL (a ``data:`` URL is kept as bytes);
    ``detail`` is OpenAI's (``auto``, ``low``, ``high``)."""
    return ContentPart_Image(Image(source_from_url(url), detail))


def image_bytes(media_type: str, data: bytes, detail: Optional[str] = None) -> ContentPart:
    """An inline image (``image/png``, ``image/jpeg``, ...)."""
    return ContentPart_Image(Image(MediaSource_Inline(Blob(media_type, bytes(data))), detail))


def document_url(url: str, title: Optional[str] = None) -> ContentPart:
    """A document part from a URL (a ``data:`` URL is kept as bytes)."""
    return ContentPart_Document(Document(source_from_url(url), title))


def document_bytes(media_type: str, data: bytes, title: Optional[str] = None) -> ContentPart:
    """An inline document (a PDF, say); ``title`` a title or file name."""
    return ContentPart_Document(Document(MediaSource_Inline(Blob(media_type, bytes(data))), title))


# ----------------------------------------------------------------- messages


def message(role: Role, content: Content, tool_calls: Optional[List[ToolCall]] = None,
            tool_call_id: Optional[str] = None, name: Optional[str] = None,
            reasoning: Optional[List[Reasoning]] = None) -> Message:
    """A :class:`Message`; ``content`` is text or a list of parts."""
    parts = text_content(content) if isinstance(content, str) else list(content)
    return Message(role, parts, list(tool_calls or []), tool_call_id, name, list(reasoning or []))


def user(content: Content) -> Message:
    return message(Role.USER, content)


def system(content: Content) -> Message:
    return message(Role.SYSTEM, content)


def assistant(content: Content, tool_calls: Optional[List[ToolCall]] = None,
              reasoning: Optional[List[Reasoning]] = None) -> Message:
    return message(Role.ASSISTANT, content, tool_calls, reasoning=reasoning)


def tool_result(tool_call_id: str, content: Content) -> Message:
    """A tool message answering the call ``tool_call_id``."""
    return message(Role.TOOL, content, tool_call_id=tool_call_id)


def chat_request(model: str, messages: List[Message], **fields) -> ChatRequest:
    """A :class:`ChatRequest` with every optional field defaulted
    (``tools``, ``tool_choice``, ``temperature``, ``top_p``, ``max_tokens``,
    ``stop``, ``json_mode``, ``extra`` may be given by keyword)."""
    return ChatRequest(
        model=model,
        messages=messages,
        tools=fields.pop("tools", []),
        tool_choice=fields.pop("tool_choice", None),
        temperature=fields.pop("temperature", None),
        top_p=fields.pop("top_p", None),
        max_tokens=fields.pop("max_tokens", None),
        stop=fields.pop("stop", []),
        json_mode=fields.pop("json_mode", False),
        extra=fields.pop("extra", None),
        **fields,
    )


def chat_response(id: str, model: str, message: Message,
                  finish_reason: FinishReason = FinishReason.STOP, *,
                  stop_sequence: Optional[str] = None, usage: Optional[Usage] = None) -> ChatResponse:
    """A :class:`ChatResponse`; ``stop_sequence`` names the ``stop`` string
    that ended the answer (with ``FinishReason.STOP_SEQUENCE``)."""
    return ChatResponse(id, model, message, finish_reason, stop_sequence, usage)


def chunk(id: str, model: str, content: Optional[str] = None, *,
          tool_calls: Optional[List[ToolCallDelta]] = None,
          reasoning: Optional[List[ReasoningDelta]] = None,
          finish_reason: Optional[FinishReason] = None,
          stop_sequence: Optional[str] = None,
          usage: Optional[Usage] = None) -> ChatChunk:
    """A :class:`ChatChunk`."""
    return ChatChunk(id, model, content, list(tool_calls or []), list(reasoning or []),
                     finish_reason, stop_sequence, usage)


def model_info(id: str, capabilities: Capabilities = Capabilities.CHAT | Capabilities.STREAMING,
               context_length: int = 0, max_output_tokens: Optional[int] = None,
               input_price_per_mtok: Optional[float] = None,
               output_price_per_mtok: Optional[float] = None) -> ModelInfo:
    """A :class:`ModelInfo` (chat and streaming unless told otherwise)."""
    return ModelInfo(id, capabilities, context_length, max_output_tokens,
                     input_price_per_mtok, output_price_per_mtok)
