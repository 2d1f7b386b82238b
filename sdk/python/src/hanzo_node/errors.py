"""Typed errors.

Two families:

- Errors a plugin *raises* to answer a call: :class:`ToolError` subclasses
  (a tool plugin) and :class:`ProviderError` subclasses (a provider). The SDK's
  export adapters turn them into the WIT variants ``tool-error`` and
  ``provider-error``, which the node maps onto its JSON errors (``tool_failed``,
  ``invalid_arguments``, ``rate_limited``, ...).
- Errors the host interfaces *return*: :class:`HostError` subclasses
  (:class:`KvError`, :class:`FetchError`, :class:`ConfigError`,
  :class:`LlmError`, :class:`ToolsError`, :class:`JobsError`,
  :class:`AgentsError`, :class:`ContainersError`, :class:`VectorsError`, :class:`TeeError`,
  :class:`GpuError`), each with ``kind`` (the WIT case, snake_case) and
  ``message``.

Any other exception escaping a plugin is a bug in the plugin: the call traps,
the instance is thrown away, and the node answers ``plugin_trap`` /
``tool_plugin_failed`` with the plugin's name and the Python traceback (the
node keeps the end of the plugin's stderr for that message).
"""

from __future__ import annotations

from typing import Any, Optional


def _variant_parts(value: Any) -> tuple[str, Any]:
    """``(kind, payload)`` of a generated variant case such as ``KvError_TooLarge(5)``."""
    name = type(value).__name__
    kind = name.split("_", 1)[1] if "_" in name else name
    # CamelCase -> snake_case
    snake = "".join("_" + c.lower() if c.isupper() else c for c in kind).lstrip("_")
    return snake, getattr(value, "value", None)


# ------------------------------------------------------------------ tool-error


class ToolError(Exception):
    """A tool call's failure, returned to the node as a WIT ``tool-error``.

    Raise a subclass from a ``@tool`` function; raising ``ToolError`` itself
    means :class:`ToolFailed`.
    """

    #: The WIT case (``tool-error``) this class maps onto.
    kind = "failed"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_wit(self) -> Any:
        from wit_world.imports import tool_types as t

        case = {
            "not_found": t.ToolError_NotFound,
            "invalid_arguments": t.ToolError_InvalidArguments,
            "failed": t.ToolError_Failed,
            "plugin_failed": t.ToolError_PluginFailed,
            "denied": t.ToolError_Denied,
        }[self.kind]
        return case(self.message)

    @staticmethod
    def from_wit(value: Any) -> "ToolError":
        kind, message = _variant_parts(value)
        cls = {
            "not_found": ToolNotFound,
            "invalid_arguments": InvalidArguments,
            "failed": ToolFailed,
            "plugin_failed": PluginFailed,
            "denied": ToolDenied,
        }.get(kind, ToolFailed)
        return cls(str(message))


class ToolNotFound(ToolError):
    """No tool of that name (node: 404 ``tool_not_found``)."""

    kind = "not_found"


class InvalidArguments(ToolError):
    """The arguments do not fit the tool (node: 400 ``invalid_arguments``)."""

    kind = "invalid_arguments"


class ToolFailed(ToolError):
    """The tool ran and failed (node: 422 ``tool_failed``)."""

    kind = "failed"


class PluginFailed(ToolError):
    """A tool this plugin called through the catalog trapped or hit a limit."""

    kind = "plugin_failed"


class ToolDenied(ToolError):
    """Not allowed (node: 403 ``forbidden``)."""

    kind = "denied"


# -------------------------------------------------------------- provider-error


class ProviderError(Exception):
    """An LLM provider's failure, returned as a WIT ``provider-error``.

    The router acts on the kind (retry, failover, circuit breaking), so pick
    the subclass that says what happened upstream. ``ProviderError`` itself
    means :class:`Internal`.
    """

    kind = "internal"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def to_wit(self) -> Any:
        from wit_world.imports import llm_types as t

        if isinstance(self, RateLimited):
            return t.ProviderError_RateLimited(t.RateLimit(self.retry_after_ms, self.message))
        case = {
            "context_too_long": t.ProviderError_ContextTooLong,
            "auth": t.ProviderError_Auth,
            "bad_request": t.ProviderError_BadRequest,
            "not_found": t.ProviderError_NotFound,
            "upstream_unavailable": t.ProviderError_UpstreamUnavailable,
            "timeout": t.ProviderError_Timeout,
            "internal": t.ProviderError_Internal,
            "unsupported": t.ProviderError_Unsupported,
        }[self.kind]
        return case(self.message)

    @staticmethod
    def from_wit(value: Any) -> "ProviderError":
        kind, payload = _variant_parts(value)
        if kind == "rate_limited":
            return RateLimited(payload.message, payload.retry_after_ms)
        cls = {
            "context_too_long": ContextTooLong,
            "auth": AuthError,
            "bad_request": BadRequest,
            "not_found": ModelNotFound,
            "upstream_unavailable": UpstreamUnavailable,
            "timeout": UpstreamTimeout,
            "unsupported": Unsupported,
        }.get(kind, Internal)
        return cls(str(payload))


class RateLimited(ProviderError):
    """The upstream said 429; ``retry_after_ms`` when it said how long to wait."""

    kind = "rate_limited"

    def __init__(self, message: str, retry_after_ms: Optional[int] = None):
        super().__init__(message)
        self.retry_after_ms = retry_after_ms


class ContextTooLong(ProviderError):
    kind = "context_too_long"


class AuthError(ProviderError):
    """The key is missing, wrong or not allowed (401/403)."""

    kind = "auth"


class BadRequest(ProviderError):
    kind = "bad_request"


class ModelNotFound(ProviderError):
    kind = "not_found"


class UpstreamUnavailable(ProviderError):
    """5xx, a refused or broken connection, a cut stream: worth a failover."""

    kind = "upstream_unavailable"


class UpstreamTimeout(ProviderError):
    kind = "timeout"


class Internal(ProviderError):
    kind = "internal"


class Unsupported(ProviderError):
    """The upstream cannot take part of the request (an image for a text
    model, a document type it does not read) or has no such operation; the
    router tries the alias's next deployment, and a client is answered 400
    ``unsupported_content``."""

    kind = "unsupported"


# ------------------------------------------------------------------ host errors


class HostError(Exception):
    """An error a host interface returned. ``kind`` is the WIT case in
    snake_case (``denied``, ``too_large``, ...), ``message`` its text and
    ``value`` its raw payload."""

    interface = "host"

    def __init__(self, kind: str, message: str, value: Any = None):
        super().__init__(f"{self.interface}: {kind}: {message}")
        self.kind = kind
        self.message = message
        self.value = value

    @classmethod
    def from_wit(cls, value: Any) -> "HostError":
        kind, payload = _variant_parts(value)
        return cls(kind, str(payload), payload)


class ConfigError(HostError):
    """``not_declared`` (the manifest lacks the secret) or ``not_set``."""

    interface = "config"


class KvError(HostError):
    """``denied``, ``too_large`` (value: the limit), ``quota_exceeded``, ``store``."""

    interface = "kv"


class FetchError(HostError):
    """``invalid_request``, ``denied``, ``dns``, ``connection_refused``,
    ``connection``, ``timeout``, ``tls``, ``protocol``, ``body_too_large``."""

    interface = "fetch"

    def to_provider_error(self) -> ProviderError:
        """The provider error a failed upstream request means to the router:
        a timeout is ``timeout``, a malformed request (the plugin's bug) is
        ``internal``, anything else -- a refused destination or connection,
        DNS, TLS, a broken answer -- is ``upstream_unavailable`` (another
        deployment may still serve), as the Rust SDK maps them."""
        if self.kind == "timeout":
            return UpstreamTimeout(self.message)
        if self.kind == "invalid_request":
            return Internal(self.message)
        return UpstreamUnavailable(self.message)


class ToolsError(HostError):
    """A ``tool-error`` from the node's tool catalog (``hanzo_node.tools``)."""

    interface = "tools"


class LlmError(HostError):
    """``denied``, ``unknown_model``, ``unsupported``, ``rate_limited``,
    ``over_budget``, ``provider`` (then ``provider_error`` holds the
    :class:`ProviderError`)."""

    interface = "llm"

    provider_error: Optional[ProviderError] = None

    @classmethod
    def from_wit(cls, value: Any) -> "LlmError":
        kind, payload = _variant_parts(value)
        if kind == "provider":
            inner = ProviderError.from_wit(payload)
            err = cls(kind, f"{inner.kind}: {inner.message}", payload)
            err.provider_error = inner
            return err
        if kind == "rate_limited":
            return cls(kind, payload.message, payload)
        return cls(kind, str(payload), payload)


class JobsError(HostError):
    """``denied``, ``not_found``, ``invalid``, ``conflict``, ``store``."""

    interface = "jobs"


class AgentsError(HostError):
    """``denied``, ``not_found``, ``invalid``, ``conflict``, ``store``."""

    interface = "agents"


class ContainersError(HostError):
    """``denied``, ``unavailable`` (no container engine), ``image_not_found``,
    ``invalid``, ``failed``."""

    interface = "containers"


class VectorsError(HostError):
    """``denied``, ``invalid``, ``not_found``, ``exists``, ``quota_exceeded``,
    ``store``."""

    interface = "vectors"


class TeeError(HostError):
    """``denied``, ``absent`` (no TEE on this node: the message says what was
    looked for), ``invalid`` (the nonce), ``failed``."""

    interface = "tee"


class GpuError(HostError):
    """``denied``."""

    interface = "gpu"


def host_caller(cls: type) -> Any:
    """``call(f, *args)``: calls host function ``f``, raising ``cls`` (a
    :class:`HostError` or :class:`ToolError`) for the WIT error it returns,
    which componentize-py raises as ``Err``."""
    from componentize_py_types import Err

    def call(f: Any, *args: Any) -> Any:
        try:
            return f(*args)
        except Err as e:
            raise cls.from_wit(e.value) from None

    return call


def _reraise(exc: BaseException, cls: type) -> None:
    """Raises ``cls.from_wit`` for a componentize-py ``Err``, else ``exc``."""
    from componentize_py_types import Err

    if isinstance(exc, Err):
        raise cls.from_wit(exc.value) from None
    raise exc
