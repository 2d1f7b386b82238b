"""HTTP API plugins (the ``hanzo:node/api`` world, a ``wasi:http/proxy``
component with the node's interfaces): a function from :class:`Request` to
:class:`Response`, or a :class:`Router` of them.

    from hanzo_node.api import Router, Response, HttpError, serve

    app = Router()

    @app.get("/hello")
    def hello(req):
        return Response.json({"hello": req.query.get("name", "world")})

    @app.post("/echo")
    def echo(req):
        return Response(200, req.body, {"content-type": "text/plain"})

    IncomingHandler = serve(app)   # the export componentize-py looks for

The manifest's ``routes`` say which paths the node sends to the plugin. A
body may be ``bytes``/``str`` or an iterable of chunks, written as they are
produced (Server-Sent Events: :func:`sse_event`). Raise :class:`HttpError`
for an error answer in the node's shape (``{"error": {"code", "message"}}``);
any other exception traps: the node answers ``plugin_trap`` (502) with the
plugin's name and the Python traceback.
"""

from __future__ import annotations

import json as _json
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union
from urllib.parse import parse_qsl, urlsplit

__all__ = ["Request", "Response", "HttpError", "Router", "serve", "sse_event"]

Body = Union[bytes, str, Iterable[Union[bytes, str]], None]


class Request:
    """An incoming request: ``method`` (upper case), ``path``, ``query``
    (first value per name), ``headers`` (lower-case names), ``body``."""

    def __init__(self, method: str, path_with_query: str, headers: List[Tuple[str, bytes]], body: bytes):
        self.method = method
        parts = urlsplit(path_with_query or "/")
        self.path = parts.path or "/"
        self.query_string = parts.query
        self.query: Dict[str, str] = {}
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            self.query.setdefault(k, v)
        self.raw_headers = headers
        self.headers: Dict[str, str] = {}
        for k, v in headers:
            k = k.lower()
            text = v.decode("latin-1")
            self.headers[k] = f"{self.headers[k]}, {text}" if k in self.headers else text
        self.body = body
        #: Path parameters matched by a :class:`Router` pattern (``/items/{id}``).
        self.params: Dict[str, str] = {}

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON; a malformed one is a 400 ``invalid_json``."""
        try:
            return _json.loads(self.body)
        except ValueError as e:
            raise HttpError(400, "invalid_json", f"the body is not JSON: {e}") from None


class Response:
    """An answer: ``status``, ``body`` (bytes, text, or an iterable of
    chunks streamed as produced) and ``headers``."""

    def __init__(self, status: int = 200, body: Body = b"", headers: Optional[Mapping[str, str]] = None):
        self.status = status
        self.body = body
        self.headers: Dict[str, str] = {k.lower(): v for k, v in (headers or {}).items()}

    @staticmethod
    def json(value: Any, status: int = 200, headers: Optional[Mapping[str, str]] = None) -> "Response":
        h = {"content-type": "application/json"}
        h.update(headers or {})
        return Response(status, _json.dumps(value, separators=(",", ":")), h)

    @staticmethod
    def text(text: str, status: int = 200) -> "Response":
        return Response(status, text, {"content-type": "text/plain; charset=utf-8"})

    @staticmethod
    def sse(events: Iterable[Union[bytes, str]], status: int = 200) -> "Response":
        """A ``text/event-stream`` answer from already-framed events (:func:`sse_event`)."""
        return Response(status, events, {"content-type": "text/event-stream; charset=utf-8",
                                         "cache-control": "no-cache"})


def sse_event(data: Union[str, Any], event: Optional[str] = None) -> bytes:
    """One Server-Sent Event; ``data`` that is not text is sent as JSON."""
    if not isinstance(data, str):
        data = _json.dumps(data, separators=(",", ":"))
    out = f"event: {event}\n" if event else ""
    out += "".join(f"data: {line}\n" for line in data.split("\n"))
    return (out + "\n").encode()


class HttpError(Exception):
    """An error answer in the node's shape: ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> Response:
        return Response.json({"error": {"code": self.code, "message": self.message}}, self.status)


Handler = Callable[[Request], Union[Response, Any]]


class Router:
    """Routes by method and path; a ``{name}`` segment matches one segment
    and lands in ``request.params``. Unmatched paths answer 404
    ``not_found``; a path with other methods, 405 ``method_not_allowed``."""

    def __init__(self) -> None:
        self._routes: List[Tuple[str, List[str], Handler]] = []

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(f: Handler) -> Handler:
            self._routes.append((method.upper(), _segments(pattern), f))
            return f

        return register

    def get(self, pattern: str) -> Callable[[Handler], Handler]:
        return self.route("GET", pattern)

    def post(self, pattern: str) -> Callable[[Handler], Handler]:
        return self.route("POST", pattern)

    def put(self, pattern: str) -> Callable[[Handler], Handler]:
        return self.route("PUT", pattern)

    def delete(self, pattern: str) -> Callable[[Handler], Handler]:
        return self.route("DELETE", pattern)

    def __call__(self, request: Request) -> Any:
        path = _segments(request.path)
        allowed = []
        for method, pattern, handler in self._routes:
            params = _match(pattern, path)
            if params is None:
                continue
            if method != request.method and not (method == "GET" and request.method == "HEAD"):
                allowed.append(method)
                continue
            request.params = params
            return handler(request)
        if allowed:
            raise HttpError(405, "method_not_allowed", f"{request.method} is not allowed on {request.path}")
        raise HttpError(404, "not_found", f"no route for {request.path}")


def _segments(path: str) -> List[str]:
    return [s for s in path.split("/") if s]


def _match(pattern: List[str], path: List[str]) -> Optional[Dict[str, str]]:
    if len(pattern) != len(path):
        return None
    params: Dict[str, str] = {}
    for p, s in zip(pattern, path):
        if p.startswith("{") and p.endswith("}"):
            params[p[1:-1]] = s
        elif p != s:
            return None
    return params


# ------------------------------------------------------------------ wasi:http

_CHUNK = 4096  # blocking-write-and-flush takes at most 4096 bytes a call


def _method_name(m: Any) -> str:
    name = type(m).__name__.split("_", 1)[-1]
    return (m.value if name == "Other" else name).upper()


def _read_body(incoming: Any) -> bytes:
    from componentize_py_types import Err

    body = incoming.consume()
    stream = body.stream()
    out = bytearray()
    try:
        while True:
            try:
                out += stream.blocking_read(64 * 1024)
            except Err:
                break  # closed
    finally:
        stream.__exit__(None, None, None)
        body.__exit__(None, None, None)
    return bytes(out)


def _write(response_out: Any, response: Response) -> None:
    from componentize_py_types import Ok
    from wit_world.imports import types as http

    body_value = response.body
    if isinstance(body_value, str):
        body_value = body_value.encode()
    headers = [(k, v.encode()) for k, v in response.headers.items()]
    if isinstance(body_value, (bytes, bytearray, memoryview)) and "content-length" not in response.headers:
        # A whole body goes out with its length, not chunked.
        headers.append(("content-length", str(len(body_value)).encode()))
    out = http.OutgoingResponse(http.Fields.from_list(headers))
    out.set_status_code(response.status)
    body = out.body()
    http.ResponseOutparam.set(response_out, Ok(out))
    stream = body.write()
    try:
        chunks: Iterable[Any]
        if body_value is None:
            chunks = ()
        elif isinstance(body_value, (bytes, bytearray, memoryview)):
            chunks = (body_value,)
        else:
            chunks = body_value
        for chunk in chunks:
            data = chunk.encode() if isinstance(chunk, str) else bytes(chunk)
            for i in range(0, len(data), _CHUNK):
                stream.blocking_write_and_flush(data[i : i + _CHUNK])
    finally:
        stream.__exit__(None, None, None)
        http.OutgoingBody.finish(body, None)


def serve(handler: Handler) -> type:
    """The ``wasi:http/incoming-handler`` export over ``handler`` (a function
    or a :class:`Router`): assign it to ``IncomingHandler`` in the app module.
    A handler returning a ``dict``/``list`` answers it as JSON; ``str`` or
    ``bytes``, as text."""

    class IncomingHandler:
        def handle(self, request: Any, response_out: Any) -> None:
            headers = request.headers()
            req = Request(_method_name(request.method()), request.path_with_query() or "/",
                          headers.entries(), b"")
            headers.__exit__(None, None, None)
            req.body = _read_body(request)
            # Drop the request now: a handle left to the garbage collector
            # outlives the call, and the node never reuses an instance that
            # still holds one.
            request.__exit__(None, None, None)
            try:
                result = handler(req)
            except HttpError as e:
                result = e.response()
            if isinstance(result, Response):
                response = result
            elif isinstance(result, (dict, list)):
                response = Response.json(result)
            elif isinstance(result, (str, bytes)):
                response = Response.text(result) if isinstance(result, str) else Response(200, result)
            elif result is None:
                response = Response(204)
            else:
                raise TypeError(f"handler returned {type(result).__name__}, not a Response")
            _write(response_out, response)

    return IncomingHandler
