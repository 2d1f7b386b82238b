"""Outbound HTTP through the host (``hanzo:node/fetch``), under the plugin's
``permissions.http`` allowlist (plus the operator's ``allow_hosts``), the
node's connection pool and timeouts. Every world imports it.

    from hanzo_node import fetch
    r = fetch.post("https://api.example.com/v1/x", json={"a": 1},
                   headers={"authorization": "Bearer ..."})
    r.raise_for_status()
    data = r.json()

    # A body read as it arrives (SSE, NDJSON):
    with fetch.open("POST", url, json=body) as r:
        for event in r.iter_sse():
            ...

Failures raise :class:`~hanzo_node.errors.FetchError` (``denied``,
``timeout``, ``connection_refused``, ...); an HTTP error status is not a
failure (see :meth:`Response.raise_for_status`).
"""

from __future__ import annotations

import json as _json
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from componentize_py_types import Err
from wit_world.imports import fetch as _wit

from ._resource import OwnedHandle
from .errors import FetchError
from .sse import Decoder, Event

#: The default cap on a whole response body read by :func:`request`.
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024

Headers = Union[Mapping[str, str], Sequence[Tuple[str, str]], None]


class HttpStatusError(Exception):
    """Raised by :meth:`Response.raise_for_status` for a 4xx or 5xx answer."""

    def __init__(self, response: "Response"):
        super().__init__(f"HTTP {response.status}: {response.text[:500]}")
        self.response = response


def _header_list(headers: Headers) -> List[Tuple[str, bytes]]:
    if headers is None:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(k, v.encode() if isinstance(v, str) else bytes(v)) for k, v in items]


def _decode_headers(raw: List[Tuple[str, bytes]]) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for name, value in raw:
        text = value.decode("latin-1")
        out[name] = f"{out[name]}, {text}" if name in out else text
    return out


def _request(
    method: str,
    url: str,
    headers: Headers,
    body: Union[bytes, str, None],
    json: Any,
    connect_timeout_ms: Optional[int],
    first_byte_timeout_ms: Optional[int],
    between_bytes_timeout_ms: Optional[int],
    max_response_bytes: int,
) -> Any:
    hs = _header_list(headers)
    if json is not None:
        body = _json.dumps(json, separators=(",", ":"))
        if not any(k.lower() == "content-type" for k, _ in hs):
            hs.append(("content-type", b"application/json"))
    if isinstance(body, str):
        body = body.encode()
    return _wit.Request(
        method=method.upper(),
        url=url,
        headers=hs,
        body=bytes(body or b""),
        connect_timeout_ms=connect_timeout_ms,
        first_byte_timeout_ms=first_byte_timeout_ms,
        between_bytes_timeout_ms=between_bytes_timeout_ms,
        max_response_bytes=max_response_bytes,
    )


class Response:
    """A whole answer: ``status``, ``headers`` (lower-case names, values
    joined with ``, `` when repeated), ``raw_headers`` and ``body``."""

    def __init__(self, status: int, raw_headers: List[Tuple[str, bytes]], body: bytes):
        self.status = status
        self.raw_headers = raw_headers
        self.headers = _decode_headers(raw_headers)
        self.body = body

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return _json.loads(self.body)

    def raise_for_status(self) -> "Response":
        if self.status >= 400:
            raise HttpStatusError(self)
        return self


def request(
    method: str,
    url: str,
    *,
    headers: Headers = None,
    body: Union[bytes, str, None] = None,
    json: Any = None,
    connect_timeout_ms: Optional[int] = None,
    first_byte_timeout_ms: Optional[int] = None,
    between_bytes_timeout_ms: Optional[int] = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> Response:
    """Sends one request and returns the whole answer. ``json`` is encoded
    and sent with ``content-type: application/json``."""
    req = _request(
        method, url, headers, body, json,
        connect_timeout_ms, first_byte_timeout_ms, between_bytes_timeout_ms,
        max_response_bytes,
    )
    try:
        r = _wit.fetch(req)
    except Err as e:
        raise FetchError.from_wit(e.value) from None
    return Response(r.status, r.headers, r.body)


def get(url: str, **kw: Any) -> Response:
    """``request("GET", url, ...)``."""
    return request("GET", url, **kw)


def post(url: str, **kw: Any) -> Response:
    """``request("POST", url, ...)``."""
    return request("POST", url, **kw)


class StreamingResponse(OwnedHandle):
    """An answer whose body is read as it arrives (:func:`open`). Use it as a
    context manager, or call :meth:`close`, to hand the connection back."""

    def __init__(self, status: int, raw_headers: List[Tuple[str, bytes]], body: Any):
        self.status = status
        self.raw_headers = raw_headers
        self.headers = _decode_headers(raw_headers)
        self._handle = body

    def read_chunk(self, max_bytes: int = 64 * 1024) -> Optional[bytes]:
        """What arrived since the last read (waiting for something), or
        ``None`` once the body ended."""
        if self._handle is None:
            return None
        try:
            chunk = self._handle.read(max_bytes)
        except Err as e:
            raise FetchError.from_wit(e.value) from None
        if chunk is None:
            self.close()
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        while True:
            chunk = self.read_chunk()
            if chunk is None:
                return
            yield chunk

    def read(self, limit: int = DEFAULT_MAX_RESPONSE_BYTES) -> bytes:
        """The rest of the body (at most ``limit`` bytes, else FetchError
        ``body_too_large``)."""
        out = bytearray()
        for chunk in self:
            out += chunk
            if len(out) > limit:
                self.close()
                raise FetchError("body_too_large", f"body over {limit} bytes", limit)
        return bytes(out)

    def iter_sse(self, max_event_bytes: Optional[int] = None) -> Iterator[Event]:
        """The body decoded as Server-Sent Events, event by event."""
        decoder = Decoder() if max_event_bytes is None else Decoder(max_event_bytes)
        for chunk in self:
            decoder.feed(chunk)
            while True:
                event = decoder.next_event()
                if event is None:
                    break
                yield event

    def close(self) -> None:
        """Drops the body (the host drains the rest off the connection)."""
        super().close()


def open(
    method: str,
    url: str,
    *,
    headers: Headers = None,
    body: Union[bytes, str, None] = None,
    json: Any = None,
    connect_timeout_ms: Optional[int] = None,
    first_byte_timeout_ms: Optional[int] = None,
    between_bytes_timeout_ms: Optional[int] = None,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> StreamingResponse:
    """Sends one request and returns as soon as the answer's head arrived;
    read the body from the :class:`StreamingResponse`."""
    req = _request(
        method, url, headers, body, json,
        connect_timeout_ms, first_byte_timeout_ms, between_bytes_timeout_ms,
        max_response_bytes,
    )
    try:
        head, stream = _wit.open(req)
    except Err as e:
        raise FetchError.from_wit(e.value) from None
    return StreamingResponse(head.status, head.headers, stream)
