"""{{name}}: an LLM provider for Hanzo Node, in Python, for any
OpenAI-compatible API (set ``base_url`` in plugin.toml or, as the operator,
in node.toml's ``[plugins.{{name}}]``; grant its host in ``permissions.http``
or the operator's ``allow_hosts``).

The class is made for each call: read settings and secrets in ``__init__``,
never at module level (that runs at build time).
"""

from typing import Iterator

from hanzo_node import config, fetch, openai
from hanzo_node.errors import FetchError
from hanzo_node.provider import Provider, serve
from hanzo_node.types import Capabilities, ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, model_info


class Upstream(Provider):
    def __init__(self) -> None:
        self.base_url = config.get("base_url", "https://api.openai.com/v1").rstrip("/")
        key = config.optional_secret("API_KEY")
        self.headers = {"authorization": f"Bearer {key}"} if key else {}

    def _post(self, path: str, body: dict) -> fetch.Response:
        try:
            r = fetch.post(self.base_url + path, json=body, headers=self.headers)
        except FetchError as e:
            raise e.to_provider_error() from None
        if not r.ok:
            raise openai.error_from_response(r.status, r.headers, r.body)
        return r

    def models(self):
        return [model_info(m.strip()) for m in config.get("models", "").split(",") if m.strip()]

    def chat(self, request: ChatRequest) -> ChatResponse:
        r = self._post("/chat/completions", openai.chat_request_body(request))
        return openai.parse_chat_response(r.body, request.model)

    def stream_chat(self, request: ChatRequest) -> Iterator[ChatChunk]:
        try:
            r = fetch.open("POST", self.base_url + "/chat/completions", headers=self.headers,
                           json=openai.chat_request_body(request, stream=True))
        except FetchError as e:
            raise e.to_provider_error() from None
        with r:
            if r.status >= 300:
                raise openai.error_from_response(r.status, r.headers, r.read(1 << 20))
            yield from openai.stream_chunks(r.iter_sse(), request.model)

    def embed(self, request: EmbedRequest) -> EmbedResponse:
        r = self._post("/embeddings", openai.embeddings_request_body(request))
        return openai.parse_embeddings_response(r.body, request.model, len(request.inputs))


ModelProvider = serve(Upstream)
