"""The WIT records of ``hanzo:node/llm-types`` (chat requests, messages,
chunks, model info, ...), as componentize-py generates them, plus small
constructors with defaults. Available in the provider and api worlds.
"""

from __future__ import annotations

from typing import List, Optional

from wit_world.imports.llm_types import (  # noqa: F401  (re-exported)
    Capabilities,
    ChatChunk,
    ChatRequest,
    ChatResponse,
    EmbedRequest,
    EmbedResponse,
    FinishReason,
    Message,
    ModelInfo,
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


def message(role: Role, content: str, tool_calls: Optional[List[ToolCall]] = None,
            tool_call_id: Optional[str] = None, name: Optional[str] = None) -> Message:
    """A :class:`Message`."""
    return Message(role, content, list(tool_calls or []), tool_call_id, name)


def user(content: str) -> Message:
    return message(Role.USER, content)


def system(content: str) -> Message:
    return message(Role.SYSTEM, content)


def assistant(content: str, tool_calls: Optional[List[ToolCall]] = None) -> Message:
    return message(Role.ASSISTANT, content, tool_calls)


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


def chunk(id: str, model: str, content: Optional[str] = None, *,
          tool_calls: Optional[List[ToolCallDelta]] = None,
          finish_reason: Optional[FinishReason] = None,
          usage: Optional[Usage] = None) -> ChatChunk:
    """A :class:`ChatChunk`."""
    return ChatChunk(id, model, content, list(tool_calls or []), finish_reason, usage)


def model_info(id: str, capabilities: Capabilities = Capabilities.CHAT | Capabilities.STREAMING,
               context_length: int = 0, max_output_tokens: Optional[int] = None,
               input_price_per_mtok: Optional[float] = None,
               output_price_per_mtok: Optional[float] = None) -> ModelInfo:
    """A :class:`ModelInfo` (chat and streaming unless told otherwise)."""
    return ModelInfo(id, capabilities, context_length, max_output_tokens,
                     input_price_per_mtok, output_price_per_mtok)
