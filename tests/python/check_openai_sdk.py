#!/usr/bin/env python3
"""Checks a Hanzo Node's OpenAI-compatible API with the official, unmodified
`openai` Python package: chat, streaming chat, tool calls (plain and
streamed), embeddings (the SDK's default base64 encoding and floats), the
model list and an unknown model's error.

    python check_openai_sdk.py BASE_URL MODEL [--embedding-model MODEL]

BASE_URL is the node's address (`http://127.0.0.1:3690`; a trailing `/v1`
is accepted). MODEL is an alias the node routes to the mock upstream of the
end-to-end tests (tests/e2e/mock_openai.rs), which answers
"echo: <last user text>", streams "Hello world", calls the `calculator`
tool with {"expression": "2+2"} when tools are given and the last message
is the user's, and returns deterministic embeddings.

Exits 0 when every check passes, 1 with a message naming the failed check
otherwise, 2 when the `openai` package is missing.
"""

import argparse
import json
import sys
import uuid

try:
    import openai
except ImportError:
    print("FAIL: the `openai` package is not installed (pip install openai)", file=sys.stderr)
    sys.exit(2)

from checks import BYPASS, CheckFailed, check, expect_equal, run_checks  # noqa: E402


CALCULATOR = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluates an arithmetic expression",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    },
}


def check_chat(client, model):
    text = f"ping {uuid.uuid4().hex[:8]}"
    raw = client.chat.completions.with_raw_response.create(
        model=model,
        messages=[
            {"role": "system", "content": "You are a test."},
            {"role": "user", "content": text},
        ],
        temperature=0.2,
        max_tokens=64,
    )
    deployment = raw.headers.get("x-hanzo-deployment")
    check(deployment, "chat: the response has no x-hanzo-deployment header")
    check(
        raw.headers.get("x-hanzo-cache") in ("hit", "miss"),
        f"chat: x-hanzo-cache is {raw.headers.get('x-hanzo-cache')!r}, not hit or miss",
    )
    completion = raw.parse()
    expect_equal(completion.object, "chat.completion", "chat: object")
    check(completion.id, "chat: empty id")
    check(isinstance(completion.created, int) and completion.created > 0, "chat: bad created")
    expect_equal(completion.model, model, "chat: model")
    expect_equal(len(completion.choices), 1, "chat: number of choices")
    choice = completion.choices[0]
    expect_equal(choice.message.role, "assistant", "chat: role")
    expect_equal(choice.message.content, f"echo: {text}", "chat: content")
    expect_equal(choice.finish_reason, "stop", "chat: finish_reason")
    usage = completion.usage
    check(usage is not None, "chat: no usage")
    check(usage.prompt_tokens > 0 and usage.completion_tokens > 0, f"chat: usage {usage}")
    expect_equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens, "chat: total_tokens")

    # Content parts and the developer role.
    completion = client.chat.completions.create(
        model=model,
        messages=[
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {"role": "user", "content": [{"type": "text", "text": text}]},
        ],
    )
    expect_equal(completion.choices[0].message.content, f"echo: {text}", "chat with content parts: content")
    print(f"ok: chat (deployment {deployment})")


def check_stream(client, model):
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers=BYPASS,
    )
    chunks = list(stream)
    check(len(chunks) >= 4, f"stream: only {len(chunks)} chunks")
    ids = {c.id for c in chunks}
    expect_equal(len(ids), 1, f"stream: distinct chunk ids {ids}")
    for c in chunks:
        expect_equal(c.object, "chat.completion.chunk", "stream: object")
        expect_equal(c.model, model, "stream: model")
    expect_equal(chunks[0].choices[0].delta.role, "assistant", "stream: first delta's role")
    with_choices = [c for c in chunks if c.choices]
    pieces = [c.choices[0].delta.content for c in with_choices if c.choices[0].delta.content]
    expect_equal("".join(pieces), "Hello world", "stream: text")
    check(len(pieces) >= 2, f"stream: the text came in {len(pieces)} piece(s), not streamed")
    expect_equal(with_choices[-1].choices[0].finish_reason, "stop", "stream: last finish_reason")
    last = chunks[-1]
    expect_equal(last.choices, [], "stream: the usage chunk's choices")
    check(last.usage is not None and last.usage.total_tokens > 0, f"stream: usage chunk {last.usage}")

    # The SDK's own stream helper accumulates the same events.
    with client.chat.completions.stream(
        model=model,
        messages=[{"role": "user", "content": "stream again"}],
        extra_headers=BYPASS,
    ) as helper:
        final = helper.get_final_completion()
    expect_equal(final.choices[0].message.content, "Hello world", "stream helper: content")
    expect_equal(final.choices[0].finish_reason, "stop", "stream helper: finish_reason")
    print(f"ok: streaming chat ({len(chunks)} chunks, {len(pieces)} text pieces)")


def check_tools(client, model):
    question = "What is 2+2? Use the calculator."
    messages = [{"role": "user", "content": question}]
    completion = client.chat.completions.create(
        model=model, messages=messages, tools=[CALCULATOR], tool_choice="auto"
    )
    choice = completion.choices[0]
    expect_equal(choice.finish_reason, "tool_calls", "tool call: finish_reason")
    calls = choice.message.tool_calls or []
    expect_equal(len(calls), 1, "tool call: number of calls")
    call = calls[0]
    check(call.id, "tool call: empty id")
    expect_equal(call.type, "function", "tool call: type")
    expect_equal(call.function.name, "calculator", "tool call: name")
    expect_equal(json.loads(call.function.arguments), {"expression": "2+2"}, "tool call: arguments")

    # The result goes back; the model answers in text.
    messages.append(choice.message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "4"})
    followup = client.chat.completions.create(model=model, messages=messages, tools=[CALCULATOR])
    content = followup.choices[0].message.content or ""
    check(content.startswith("echo: "), f"tool result turn: content {content!r}")
    expect_equal(followup.choices[0].finish_reason, "stop", "tool result turn: finish_reason")

    # A named tool choice, streamed.
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": question}],
        tools=[CALCULATOR],
        tool_choice={"type": "function", "function": {"name": "calculator"}},
        stream=True,
        extra_headers=BYPASS,
    )
    name, call_id, arguments, finish, fragments = None, None, "", None, 0
    for chunk in stream:
        for c in chunk.choices:
            for delta in c.delta.tool_calls or []:
                expect_equal(delta.index, 0, "streamed tool call: index")
                if delta.id:
                    check(call_id is None, "streamed tool call: the id was sent twice")
                    call_id = delta.id
                if delta.function and delta.function.name:
                    check(name is None, "streamed tool call: the name was sent twice")
                    name = delta.function.name
                if delta.function and delta.function.arguments:
                    arguments += delta.function.arguments
                    fragments += 1
            if c.finish_reason:
                finish = c.finish_reason
    check(call_id, "streamed tool call: no id")
    expect_equal(name, "calculator", "streamed tool call: name")
    expect_equal(json.loads(arguments), {"expression": "2+2"}, "streamed tool call: arguments")
    expect_equal(finish, "tool_calls", "streamed tool call: finish_reason")
    print(f"ok: tool calls (streamed arguments in {fragments} fragments)")


def check_embeddings(client, model):
    inputs = ["hello", "hi there"]
    # The SDK asks for base64 unless told otherwise and decodes it itself.
    result = client.embeddings.create(model=model, input=inputs)
    expect_equal(result.object, "list", "embeddings: object")
    expect_equal(len(result.data), 2, "embeddings: count")
    for i, (item, text) in enumerate(zip(result.data, inputs)):
        expect_equal(item.object, "embedding", "embeddings: item object")
        expect_equal(item.index, i, "embeddings: index")
        # The mock: component d of text t is (len(t) + d) / 10, 4 components.
        expected = [(len(text) + d) / 10 for d in range(4)]
        check(
            len(item.embedding) == 4 and all(abs(a - b) < 1e-6 for a, b in zip(item.embedding, expected)),
            f"embeddings (base64): vector {i} is {item.embedding}, expected {expected}",
        )
    check(result.usage is not None and result.usage.prompt_tokens >= 0, "embeddings: no usage")

    result = client.embeddings.create(model=model, input="hello", dimensions=3, encoding_format="float")
    expect_equal(len(result.data), 1, "embeddings (float): count")
    vector = result.data[0].embedding
    check(
        len(vector) == 3 and all(abs(a - b) < 1e-6 for a, b in zip(vector, [0.5, 0.6, 0.7])),
        f"embeddings (float, 3 dimensions): {vector}",
    )
    print("ok: embeddings (base64 and float)")


def check_models(client, model):
    ids = [m.id for m in client.models.list()]
    check(ids, "models: the list is empty")
    if "/" not in model:
        # `provider/model` aliases reach a provider directly and need not be listed.
        check(model in ids, f"models: {model!r} not among {ids}")
        found = client.models.retrieve(model)
        expect_equal(found.id, model, "models: retrieve")
        expect_equal(found.object, "model", "models: object")
    print(f"ok: models ({len(ids)} listed)")


def check_errors(client):
    missing = f"no-such-model-{uuid.uuid4().hex[:8]}"
    try:
        client.chat.completions.create(model=missing, messages=[{"role": "user", "content": "hi"}])
    except openai.NotFoundError as e:
        check(isinstance(e.body, dict) and e.body.get("message"), f"unknown model: error body {e.body!r}")
    else:
        raise CheckFailed("unknown model: no error")
    try:
        client.chat.completions.create(model=missing, messages=[])
    except openai.BadRequestError as e:
        expect_equal(e.status_code, 400, "empty messages: status")
    else:
        raise CheckFailed("empty messages: no error")
    print("ok: errors")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="the node's address, e.g. http://127.0.0.1:3690")
    parser.add_argument("model", help="a model alias routed to the mock upstream")
    parser.add_argument("--embedding-model", help="alias for embeddings (default: MODEL)")
    parser.add_argument("--api-key", default="hanzo-test-key", help="the key sent (a tenant's, when the node has tenants)")
    args = parser.parse_args()

    base = args.base_url.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=args.api_key, max_retries=0, timeout=60)
    print(f"openai {openai.__version__} against {base}/v1, model {args.model!r}")

    checks = [
        ("chat", lambda: check_chat(client, args.model)),
        ("streaming", lambda: check_stream(client, args.model)),
        ("tools", lambda: check_tools(client, args.model)),
        ("embeddings", lambda: check_embeddings(client, args.embedding_model or args.model)),
        ("models", lambda: check_models(client, args.model)),
        ("errors", lambda: check_errors(client)),
    ]
    return run_checks(checks, openai.APIError, "all OpenAI SDK checks passed")


if __name__ == "__main__":
    sys.exit(main())
