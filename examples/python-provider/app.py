"""An OpenAI-compatible LLM provider in Python (Hanzo Node SDK): chat,
streaming (SSE) and embeddings through the host's ``fetch`` interface,
against the API root the operator sets. Images go upstream as ``image_url``
parts and inline documents as ``file`` parts (``hanzo_node.openai``).

Build: ``make python-provider`` (from the repository root) writes
``$CARGO_TARGET_DIR/python-plugins/python-provider/``; copy that folder into
a node's plugin directory and point it at a server in ``node.toml``:

    [plugins.python-provider]
    config = { base_url = "http://127.0.0.1:8000/v1" }
    allow_hosts = ["127.0.0.1:8000"]
    secrets = { OPENAI_API_KEY = "sk-..." }

Settings (``[config]`` in plugin.toml, overridable by the operator):
``base_url``, ``api_key_secret``, ``models``, ``connect_timeout_ms``,
``read_timeout_ms``.
"""

from typing import Dict, Iterator

from hanzo_node import config, fetch, openai
from hanzo_node.errors import FetchError
from hanzo_node.provider import Provider, response_chunks, serve
from hanzo_node.types import Capabilities, ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, model_info

CHAT = Capabilities.CHAT | Capabilities.STREAMING | Capabilities.TOOLS | Capabilities.JSON_MODE

# Context windows of well-known models (OpenAI's /models does not say; vLLM's
# `max_model_len` and others' `context_length` are read when present). The
# chat models among them all read images; for another model the operator
# says so in a deployment's `capabilities`.
CONTEXT = {
    "gpt-4o": 128_000,
    "gpt-4o-mini": 128_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gpt-4.1-nano": 1_047_576,
    "o3": 200_000,
    "o4-mini": 200_000,
    "text-embedding-3-small": 8_191,
    "text-embedding-3-large": 8_191,
}


def _capabilities(id: str) -> Capabilities:
    if "embed" in id:
        return Capabilities.EMBEDDINGS
    return CHAT | Capabilities.VISION if id in CONTEXT else CHAT


def _context(entry: dict) -> int:
    for key in ("max_model_len", "context_length", "context_window"):
        if isinstance(entry.get(key), int):
            return entry[key]
    return CONTEXT.get(entry["id"], 0)


class OpenAiCompatible(Provider):
    """Made for each call: settings and secrets are read here, at run time
    (never at import, which runs at build time)."""

    def __init__(self) -> None:
        self.base_url = config.get("base_url", "https://api.openai.com/v1").rstrip("/")
        self.connect_timeout_ms = config.get_as("connect_timeout_ms", int, 10_000)
        self.read_timeout_ms = config.get_as("read_timeout_ms", int, 110_000)
        self.key_secret = config.get("api_key_secret", "OPENAI_API_KEY")
        # An unset key sends no auth header, as local servers expect.
        self.api_key = config.optional_secret(self.key_secret)

    # ---------------------------------------------------------------- HTTP

    def _headers(self) -> Dict[str, str]:
        h = {"accept": "application/json"}
        if self.api_key:
            h["authorization"] = f"Bearer {self.api_key}"
        return h

    def _send(self, method: str, path: str, body=None) -> fetch.Response:
        try:
            r = fetch.request(
                method, self.base_url + path, headers=self._headers(), json=body,
                connect_timeout_ms=self.connect_timeout_ms,
                first_byte_timeout_ms=self.read_timeout_ms,
                between_bytes_timeout_ms=self.read_timeout_ms,
            )
        except FetchError as e:
            raise e.to_provider_error() from None
        if not r.ok:
            raise openai.error_from_response(r.status, r.headers, r.body)
        return r

    # ------------------------------------------------------------ exports

    def models(self):
        listed = config.get("models")
        if listed:
            entries = [{"id": m.strip()} for m in listed.split(",") if m.strip()]
        else:
            entries = openai.parse_model_list(self._send("GET", "/models").body)
        return [
            model_info(e["id"], _capabilities(e["id"]), _context(e))
            for e in entries
        ]

    def chat(self, request: ChatRequest) -> ChatResponse:
        body = openai.chat_request_body(request)
        r = self._send("POST", "/chat/completions", body)
        return openai.parse_chat_response(r.body, request.model)

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        body = openai.chat_request_body(request, stream=True)
        headers = self._headers()
        headers["accept"] = "text/event-stream"
        try:
            r = fetch.open(
                "POST", self.base_url + "/chat/completions", headers=headers, json=body,
                connect_timeout_ms=self.connect_timeout_ms,
                first_byte_timeout_ms=self.read_timeout_ms,
                between_bytes_timeout_ms=self.read_timeout_ms,
            )
        except FetchError as e:
            raise e.to_provider_error() from None
        with r:
            if r.status >= 300:
                raise openai.error_from_response(r.status, r.headers, r.read(1 << 20))
            if not r.headers.get("content-type", "").startswith("text/event-stream"):
                # Some servers answer a whole completion even when asked to stream.
                yield from response_chunks(openai.parse_chat_response(r.read(), request.model))
                return
            try:
                yield from openai.stream_chunks(r.iter_sse(), request.model)
            except FetchError as e:
                raise e.to_provider_error() from None

    def embed(self, request: EmbedRequest) -> EmbedResponse:
        r = self._send("POST", "/embeddings", openai.embeddings_request_body(request))
        return openai.parse_embeddings_response(r.body, request.model, len(request.inputs))


ModelProvider = serve(OpenAiCompatible)
