"""The node's LLM router (``hanzo:node/llm``), for api plugins: chat,
streaming, embeddings and token counts by model alias, with the router's
failover, retries, limits, cache and accounting. Needs ``permissions.llm``
in the manifest. Failures raise :class:`~hanzo_node.errors.LlmError`.

    from hanzo_node import llm
    from hanzo_node.types import user, chat_request, text_of
    result = llm.chat(chat_request("gpt", [user("hi")]))
    print(text_of(result.response.message), result.route.provider)
    for chunk in llm.stream_chat(chat_request("gpt", [user("hi")])):
        ...
"""

from __future__ import annotations

from typing import Any, Iterator, List

from componentize_py_types import Err
from wit_world.imports import llm as _wit

from ._resource import OwnedHandle
from .errors import LlmError, host_caller

Model = _wit.Model
Route = _wit.Route
ChatResult = _wit.ChatResult
EmbedResult = _wit.EmbedResult

#: The most chunks a stream takes from the node in one call (the node's cap).
BATCH = 64


_call = host_caller(LlmError)


def _options(bypass_cache: bool) -> Any:
    return _wit.CallOptions(bypass_cache=bypass_cache)


def models() -> List[Model]:
    """The aliases the router serves."""
    return _call(_wit.models)


def chat(request: Any, *, bypass_cache: bool = False) -> ChatResult:
    """One answer: ``result.response`` (``ChatResponse``) and ``result.route``."""
    return _call(_wit.chat, request, _options(bypass_cache))


def embed(request: Any, *, bypass_cache: bool = False) -> EmbedResult:
    return _call(_wit.embed, request, _options(bypass_cache))


def count_tokens(request: Any) -> int:
    """The input tokens of ``request`` (``ChatRequest``) as the upstream of the
    alias's first capable deployment counts them; ``LlmError`` of kind
    ``unsupported`` when it cannot (estimate instead)."""
    return _call(_wit.count_tokens, request)


class Stream(OwnedHandle):
    """A streamed answer: iterate for ``ChatChunk`` records; ``route`` is the
    deployment serving it. A failure mid-stream raises ``LlmError``."""

    def __init__(self, handle: Any):
        self._handle = handle
        self.route: Route = handle.route()

    def __iter__(self) -> Iterator[Any]:
        # In batches: the chunks the upstream sent together, and the end
        # with them, cross the component boundary in one call.
        while self._handle is not None:
            batch = self._handle.next_many(BATCH)
            for item in batch.chunks:
                if isinstance(item, Err):
                    self.close()
                    raise LlmError.from_wit(item.value)
                yield item.value
            if batch.ended:
                self.close()
                return


def stream_chat(request: Any, *, bypass_cache: bool = False) -> Stream:
    """Starts a streamed answer (failover happens only before its first chunk)."""
    return Stream(_call(_wit.stream_chat, request, _options(bypass_cache)))
