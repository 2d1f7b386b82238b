"""The OpenAI-compatible wire format (``/chat/completions``, ``/embeddings``,
``/models``): request bodies from the node's records, records from response
bodies and stream events, and the mapping of upstream errors onto
:class:`~hanzo_node.errors.ProviderError` -- the Python side of the Rust SDK's
``openai`` module, for any provider whose upstream speaks this format.
Available in the provider and api worlds.
"""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from typing import Any, Dict, Iterator, List, Mapping, Optional

from . import types as t
from .errors import (
    AuthError,
    BadRequest,
    ContextTooLong,
    ModelNotFound,
    ProviderError,
    RateLimited,
    Unsupported,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from .sse import Event

_ROLES = {t.Role.SYSTEM: "system", t.Role.USER: "user", t.Role.ASSISTANT: "assistant", t.Role.TOOL: "tool"}
_FINISH = {
    "stop": t.FinishReason.STOP,
    "length": t.FinishReason.LENGTH,
    "tool_calls": t.FinishReason.TOOL_CALLS,
    "function_call": t.FinishReason.TOOL_CALLS,
    "content_filter": t.FinishReason.CONTENT_FILTER,
}
#: Fields of the body the node's request sets; ``extra`` may not override them.
RESERVED = ("model", "messages", "stream", "stream_options")
#: The wire formats whose name, as a key of ``extra``, scopes the fields of
#: its object to providers speaking that format (this one is ``openai``).
WIRE_FORMATS = ("openai", "anthropic", "gemini", "ollama")


def finish_reason(reason: Optional[str]) -> t.FinishReason:
    return _FINISH.get(reason or "stop", t.FinishReason.OTHER)


def _content_json(index: int, m: t.Message) -> Any:
    """A message's ``content``: a string when it is all text (what every
    OpenAI-compatible server takes), else an array of parts, which OpenAI
    takes in user messages only: ``image_url`` parts (a URL or a ``data:``
    URL) and ``file`` parts for inline documents."""
    if t.is_text_only(m.content):
        return t.text_of(m.content)
    if m.role != t.Role.USER:
        kind = next(t.part_kind(p) for p in m.content if not isinstance(p, t.ContentPart_Text))
        raise Unsupported(f"message {index} ({_ROLES[m.role]}): the OpenAI chat API takes {kind}s in user messages only")
    parts: List[Dict[str, Any]] = []
    for p in m.content:
        if isinstance(p, t.ContentPart_Text):
            parts.append({"type": "text", "text": p.value})
        elif isinstance(p, t.ContentPart_Image):
            url: Dict[str, Any] = {"url": t.source_url(p.value.source)}
            if p.value.detail is not None:
                url["detail"] = p.value.detail
            parts.append({"type": "image_url", "image_url": url})
        elif isinstance(p.value.source, t.MediaSource_Inline):
            file = {"file_data": t.source_url(p.value.source), "filename": p.value.title or "document"}
            parts.append({"type": "file", "file": file})
        else:
            raise Unsupported(f"message {index}: the OpenAI chat API does not take a document by URL (send its bytes)")
    return parts


def _message_json(index: int, m: t.Message) -> Dict[str, Any]:
    out: Dict[str, Any] = {"role": _ROLES[m.role]}
    if m.role == t.Role.ASSISTANT and m.tool_calls:
        # OpenAI wants null, not "", for an assistant turn that only calls tools.
        out["content"] = _content_json(index, m) if m.content else None
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
    else:
        out["content"] = _content_json(index, m)
    if m.role == t.Role.TOOL:
        if m.tool_call_id is None:
            raise BadRequest(f"message {index}: a tool message needs the tool-call-id it answers")
        out["tool_call_id"] = m.tool_call_id
    if m.name is not None:
        out["name"] = m.name
    return out


def chat_request_body(request: t.ChatRequest, stream: bool = False) -> Dict[str, Any]:
    """The JSON body of ``POST /chat/completions`` for ``request``; with
    ``stream``, SSE chunks and usage on the last one are asked for. Media
    OpenAI cannot take (in a message other than the user's, a document by
    URL) raises :class:`~hanzo_node.errors.Unsupported`; ``extra``'s fields
    are merged, those under ``openai`` too, those under another wire
    format's name left out."""
    body: Dict[str, Any] = {
        "model": request.model,
        "messages": [_message_json(i, m) for i, m in enumerate(request.messages)],
    }
    if request.tools:
        tools = []
        for tool in request.tools:
            try:
                params = json.loads(tool.parameters) if tool.parameters.strip() else {"type": "object", "properties": {}}
            except ValueError as e:
                raise BadRequest(f"tool `{tool.name}`: parameters are not valid JSON: {e}") from None
            fn: Dict[str, Any] = {"name": tool.name}
            if tool.description:
                fn["description"] = tool.description
            fn["parameters"] = params
            tools.append({"type": "function", "function": fn})
        body["tools"] = tools
    choice = request.tool_choice
    if choice is not None:
        if isinstance(choice, t.ToolChoice_Named):
            body["tool_choice"] = {"type": "function", "function": {"name": choice.value}}
        else:
            body["tool_choice"] = {
                t.ToolChoice_Auto: "auto", t.ToolChoice_None_: "none", t.ToolChoice_Required: "required",
            }[type(choice)]
    if request.temperature is not None:
        body["temperature"] = round(request.temperature, 6)
    if request.top_p is not None:
        body["top_p"] = round(request.top_p, 6)
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.stop:
        body["stop"] = list(request.stop)
    if request.json_mode:
        body["response_format"] = {"type": "json_object"}
    if request.extra:
        try:
            extra = json.loads(request.extra)
        except ValueError as e:
            raise BadRequest(f"extra is not valid JSON: {e}") from None
        if not isinstance(extra, dict):
            raise BadRequest("extra must be a JSON object")
        scoped = extra.get("openai", {})
        if not isinstance(scoped, dict):
            raise BadRequest("extra.openai must be a JSON object")
        for fields in ({k: v for k, v in extra.items() if k not in WIRE_FORMATS}, scoped):
            for k, v in fields.items():
                if k not in RESERVED:
                    body[k] = v
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def embeddings_request_body(request: t.EmbedRequest) -> Dict[str, Any]:
    """The JSON body of ``POST /embeddings``."""
    body: Dict[str, Any] = {"model": request.model, "input": list(request.inputs)}
    if request.dimensions is not None:
        body["dimensions"] = request.dimensions
    return body


def _usage(u: Any) -> Optional[t.Usage]:
    if not isinstance(u, dict):
        return None
    p = int(u.get("prompt_tokens") or 0)
    c = int(u.get("completion_tokens") or 0)
    return t.Usage(p, c, int(u.get("total_tokens") or p + c))


def _text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _reasoning(m: Dict[str, Any]) -> Optional[str]:
    """The reasoning of servers that show it (DeepSeek, vLLM, llama.cpp;
    OpenRouter's ``reasoning``)."""
    r = m.get("reasoning_content") or m.get("reasoning")
    return r if isinstance(r, str) and r else None


def _args(a: Any) -> str:
    if a is None:
        return ""
    return a if isinstance(a, str) else json.dumps(a)


def _load(body: Any) -> Dict[str, Any]:
    try:
        v = json.loads(body) if isinstance(body, (bytes, str)) else body
    except ValueError as e:
        raise UpstreamUnavailable(f"the upstream answered invalid JSON: {e}") from None
    if not isinstance(v, dict):
        raise UpstreamUnavailable("the upstream answered JSON that is not an object")
    if v.get("error"):
        raise error_from_stream_error(v["error"])
    return v


def parse_chat_response(body: Any, requested_model: str) -> t.ChatResponse:
    """A ``/chat/completions`` answer (bytes, text or parsed JSON)."""
    v = _load(body)
    choices = v.get("choices") or []
    if not choices:
        raise UpstreamUnavailable("the upstream answered no choices")
    choice = choices[0]
    m = choice.get("message") or {}
    content = _text(m.get("content")) or (m.get("refusal") or "")
    calls = [
        t.ToolCall(c.get("id") or f"call_{i}", (c.get("function") or {}).get("name") or "",
                   _args((c.get("function") or {}).get("arguments")), None)
        for i, c in enumerate(m.get("tool_calls") or [])
    ]
    reasoning = _reasoning(m)
    reason = choice.get("finish_reason")
    finish = finish_reason(reason) if reason else (t.FinishReason.TOOL_CALLS if calls else t.FinishReason.STOP)
    return t.chat_response(
        v.get("id") or "",
        v.get("model") or requested_model,
        t.assistant(content, calls, [t.Reasoning(reasoning, None, False)] if reasoning else None),
        finish,
        usage=_usage(v.get("usage")),
    )


def parse_stream_chunk(data: str, requested_model: str) -> Optional[t.ChatChunk]:
    """The ``data`` of one stream event (not ``[DONE]``) as a chunk, or
    ``None`` for one that carries nothing (the role-only first chunk)."""
    v = _load(data)
    chunk = t.chunk(v.get("id") or "", v.get("model") or requested_model, usage=_usage(v.get("usage")))
    choices = v.get("choices") or []
    if choices:
        choice = choices[0]
        if choice.get("finish_reason"):
            chunk.finish_reason = finish_reason(choice["finish_reason"])
        delta = choice.get("delta") or choice.get("message") or {}
        text = _text(delta.get("content")) or (delta.get("refusal") or "")
        chunk.content = text or None
        reasoning = _reasoning(delta)
        if reasoning:
            chunk.reasoning = [t.ReasoningDelta(0, reasoning, None, False)]
        chunk.tool_calls = [
            t.ToolCallDelta(
                c.get("index", i), c.get("id"), (c.get("function") or {}).get("name"),
                _args((c.get("function") or {}).get("arguments")), None,
            )
            for i, c in enumerate(delta.get("tool_calls") or [])
        ]
    empty = (chunk.content is None and not chunk.tool_calls and not chunk.reasoning
             and chunk.finish_reason is None and chunk.usage is None)
    return None if empty else chunk


def stream_chunks(events: Iterator[Event], requested_model: str) -> Iterator[t.ChatChunk]:
    """Chunks from the SSE events of a streamed ``/chat/completions``
    answer, up to ``[DONE]``. A stream that ends without ``[DONE]`` and
    before a finish reason was cut: :class:`UpstreamUnavailable`."""
    saw_finish = False
    for event in events:
        data = event.data.strip()
        if data == "[DONE]":
            return
        if not data:
            continue
        c = parse_stream_chunk(data, requested_model)
        if c is not None:
            saw_finish = saw_finish or c.finish_reason is not None
            yield c
    if not saw_finish:
        raise UpstreamUnavailable("the upstream's stream ended before [DONE]")


def parse_embeddings_response(body: Any, requested_model: str, expected: int) -> t.EmbedResponse:
    """An ``/embeddings`` answer, vectors in input order."""
    v = _load(body)
    items = v.get("data") or []
    if len(items) != expected:
        raise UpstreamUnavailable(f"the upstream answered {len(items)} embeddings for {expected} inputs")
    ordered = sorted(enumerate(items), key=lambda p: p[1].get("index", p[0]))
    return t.EmbedResponse(
        model=v.get("model") or requested_model,
        embeddings=[[float(x) for x in item.get("embedding") or []] for _, item in ordered],
        usage=_usage(v.get("usage")),
    )


def retry_after_ms(headers: Mapping[str, str]) -> Optional[int]:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date), in ms."""
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0, int(float(ms)))
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra:
        try:
            return max(0, int(float(ra) * 1000))
        except ValueError:
            try:
                import time

                return max(0, int((parsedate_to_datetime(ra).timestamp() - time.time()) * 1000))
            except (TypeError, ValueError):
                return None
    return None


def _detail(value: Any) -> Dict[str, Optional[str]]:
    if isinstance(value, dict):
        inner = value.get("error")
        if isinstance(inner, (dict, str)):
            return _detail(inner)
        return {
            "message": str(value.get("message") or value.get("detail") or ""),
            "code": value.get("code") if isinstance(value.get("code"), str) else None,
            "type": value.get("type") if isinstance(value.get("type"), str) else None,
        }
    return {"message": str(value), "code": None, "type": None}


def _mentions_context_length(d: Dict[str, Optional[str]]) -> bool:
    if "context_length_exceeded" in (d["code"], d["type"]) or d["type"] == "exceed_context_size_error":
        return True
    m = (d["message"] or "").lower()
    return any(n in m for n in ("context length", "context_length", "maximum context", "context window", "context size"))


def error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> ProviderError:
    """The provider error a non-2xx answer means: 429 rate-limited, 401/403
    auth, context-length 400s context-too-long, 404 not-found, 408 timeout,
    other 4xx bad-request, the rest upstream-unavailable."""
    try:
        d = _detail(json.loads(body))
    except ValueError:
        d = {"message": body[:300].decode("utf-8", "replace"), "code": None, "type": None}
    message = f"upstream answered {status}: {d['message']}".rstrip(": ")
    if status == 429:
        return RateLimited(message, retry_after_ms(headers))
    if status in (401, 403):
        return AuthError(message)
    if status in (400, 413, 422) and _mentions_context_length(d):
        return ContextTooLong(message)
    if status == 404:
        return ModelNotFound(message)
    if status == 408:
        return UpstreamTimeout(message)
    if 400 <= status < 500:
        return BadRequest(message)
    return UpstreamUnavailable(message)


def error_from_stream_error(error: Any) -> ProviderError:
    """The provider error an ``error`` object inside a 200 answer or a stream means."""
    d = _detail(error)
    message = f"upstream error: {d['message']}"
    if _mentions_context_length(d):
        return ContextTooLong(message)
    if any("rate_limit" in (s or "") for s in (d["code"], d["type"])):
        return RateLimited(message)
    if d["type"] == "invalid_request_error":
        return BadRequest(message)
    return UpstreamUnavailable(message)


def parse_model_list(body: Any) -> List[Dict[str, Any]]:
    """The ``data`` entries of a ``GET /models`` answer."""
    v = _load(body)
    return [m for m in v.get("data") or [] if isinstance(m, dict) and m.get("id")]
