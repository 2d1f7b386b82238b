"""LLM provider plugins (the ``hanzo:node/provider`` world): a provider is a
class.

    from hanzo_node.provider import Provider, serve
    from hanzo_node.types import ChatRequest, ChatResponse, model_info, ...

    class Echo(Provider):
        def models(self):
            return [model_info("echo-1")]

        def chat(self, request: ChatRequest) -> ChatResponse:
            ...

        def stream_chat(self, request):
            yield chunk(...)            # a generator of ChatChunk
            yield chunk(..., finish_reason=FinishReason.STOP)

    ModelProvider = serve(Echo)       # the export componentize-py looks for

A message's content is a list of parts (text, images, documents; see
:mod:`hanzo_node.types`): map the parts the upstream takes and raise
:class:`~hanzo_node.errors.Unsupported` for the rest (``openai`` does it for
the OpenAI wire format). ``count_tokens`` is optional: by default it raises
``Unsupported`` and the node estimates instead.

The class is instantiated for each call (``__init__`` is the place to read
settings and secrets), never at build time: componentize-py runs the module
while building, so module-level code must not read settings or secrets.

Errors: raise a :class:`~hanzo_node.errors.ProviderError` subclass
(``RateLimited``, ``AuthError``, ``UpstreamUnavailable``, ...); the router
retries, fails over or gives up by its kind. In a stream, an error raised
before the first chunk fails ``stream-chat`` itself (the router can still
fail over); later, it ends the stream with that error. Any other exception
traps: the node answers with the plugin's name and the Python traceback.
"""

from __future__ import annotations

from typing import Any, Iterable, Iterator, List, Optional

from .errors import BadRequest, ProviderError, Unsupported

__all__ = ["Provider", "serve", "response_chunks"]


class Provider:
    """Base class of a provider: override :meth:`models` and :meth:`chat`,
    and :meth:`stream_chat` / :meth:`embed` / :meth:`count_tokens` where the
    upstream has them."""

    def models(self) -> List[Any]:
        """The models this provider serves (``ModelInfo`` records)."""
        raise NotImplementedError

    def chat(self, request: Any) -> Any:
        """One answer (``ChatResponse``) to ``request`` (``ChatRequest``)."""
        raise NotImplementedError

    def stream_chat(self, request: Any) -> Iterable[Any]:
        """The answer as ``ChatChunk`` records, best as a generator. The
        default streams :meth:`chat`'s answer as one chunk."""
        return response_chunks(self.chat(request))

    def embed(self, request: Any) -> Any:
        """Embeddings (``EmbedResponse``) for ``request`` (``EmbedRequest``)."""
        raise BadRequest("this provider has no embeddings")

    def count_tokens(self, request: Any) -> int:
        """The input tokens of ``request`` (``ChatRequest``) as the upstream's
        own endpoint counts them. By default :class:`Unsupported`: the node
        estimates instead."""
        raise Unsupported(f"model `{request.model}`: this provider cannot count tokens")


def response_chunks(response: Any) -> Iterator[Any]:
    """A whole ``ChatResponse`` as a stream of one ``ChatChunk`` (for an
    upstream that cannot stream, or answered in one piece)."""
    from .types import ReasoningDelta, ToolCallDelta, chunk, text_of

    r = response
    calls = [ToolCallDelta(i, c.id, c.name, c.arguments, c.signature) for i, c in enumerate(r.message.tool_calls)]
    reasoning = [ReasoningDelta(i, x.text, x.signature, x.redacted) for i, x in enumerate(r.message.reasoning)]
    yield chunk(r.id, r.model, text_of(r.message) or None, tool_calls=calls, reasoning=reasoning,
                finish_reason=r.finish_reason, stop_sequence=r.stop_sequence, usage=r.usage)


class _Stream:
    """The exported ``chat-stream`` resource over a Python iterator."""

    def __init__(self, first: Any, rest: Iterator[Any]):
        self._pending = first
        self._rest: Optional[Iterator[Any]] = rest

    def next(self) -> Any:
        from componentize_py_types import Err, Ok

        if self._pending is not None:
            c, self._pending = self._pending, None
            return Ok(c)
        if self._rest is None:
            return None
        try:
            return Ok(next(self._rest))
        except StopIteration:
            self._rest = None
            return None
        except ProviderError as e:
            self._rest = None
            return Err(e.to_wit())

    def next_many(self, max: int) -> Any:
        """One chunk per call (a Python iterator cannot say what is ready
        without waiting), and whether the stream ended with it: an error
        ends it, and so does an iterator already known to be done."""
        from componentize_py_types import Err
        from wit_world.exports.model_provider import ChunkBatch

        item = self.next()
        if item is None:
            return ChunkBatch([], True)
        return ChunkBatch([item], isinstance(item, Err))

    def __exit__(self, *exc: object) -> None:
        rest, self._rest = self._rest, None
        close = getattr(rest, "close", None)
        if close is not None:
            close()


def serve(cls: type) -> type:
    """The ``model-provider`` export over ``cls`` (a :class:`Provider`
    subclass): assign it to ``ModelProvider`` in the app module."""

    def provider() -> Any:
        # One object per call: settings may differ between calls (a
        # deployment's settings overlay the plugin's), and a reused
        # component instance must not carry one call's state to the next.
        return cls()

    def guard(name: str, f: Any, *args: Any) -> Any:
        from componentize_py_types import Err

        try:
            return f(*args)
        except ProviderError as e:
            raise Err(e.to_wit()) from None

    class ModelProvider:
        def models(self) -> Any:
            return guard("models", lambda: list(provider().models()))

        def chat(self, request: Any) -> Any:
            return guard("chat", lambda: provider().chat(request))

        def embed(self, request: Any) -> Any:
            return guard("embed", lambda: provider().embed(request))

        def count_tokens(self, request: Any) -> int:
            return guard("count_tokens", lambda: provider().count_tokens(request))

        def stream_chat(self, request: Any) -> Any:
            def start() -> _Stream:
                it = iter(provider().stream_chat(request))
                # Run up to the first chunk now: an error before it fails
                # the call itself, where the router may still fail over.
                try:
                    first = next(it)
                except StopIteration:
                    return _Stream(None, iter(()))
                return _Stream(first, it)

            return guard("stream_chat", start)

    ModelProvider.__name__ = "ModelProvider"
    ModelProvider.__qualname__ = f"serve({cls.__name__})"
    return ModelProvider
