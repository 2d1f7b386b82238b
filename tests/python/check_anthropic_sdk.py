#!/usr/bin/env python3
"""Checks a Hanzo Node's Anthropic-compatible API (`/v1/messages`) with the
official, unmodified `anthropic` Python package: messages, streaming (the
raw event sequence and the SDK's stream helper), tool use (plain and
streamed, with a tool result turn) and an unknown model's error.

    python check_anthropic_sdk.py BASE_URL MODEL

BASE_URL is the node's address (`http://127.0.0.1:3690`). MODEL is an alias
the node routes to the mock upstream of the end-to-end tests
(tests/e2e/mock_openai.rs, an OpenAI-style upstream: the Anthropic client
reaches it through the node's router), which answers "echo: <last user
text>", streams "Hello world" and calls the `calculator` tool with
{"expression": "2+2"} when tools are given and the last message is the
user's.

Exits 0 when every check passes, 1 with a message naming the failed check
otherwise, 2 when the `anthropic` package is missing.
"""

import argparse
import sys
import uuid

try:
    import anthropic
except ImportError:
    print("FAIL: the `anthropic` package is not installed (pip install anthropic)", file=sys.stderr)
    sys.exit(2)

from checks import BYPASS, CheckFailed, check, expect_equal, run_checks  # noqa: E402


CALCULATOR = {
    "name": "calculator",
    "description": "Evaluates an arithmetic expression",
    "input_schema": {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
}


def check_message(client, model):
    text = f"ping {uuid.uuid4().hex[:8]}"
    raw = client.messages.with_raw_response.create(
        model=model,
        max_tokens=64,
        system="You are a test.",
        messages=[{"role": "user", "content": text}],
        # Sampling fields recent SDKs no longer name; the API still takes them.
        extra_body={"temperature": 0.2, "top_p": 0.9},
    )
    deployment = raw.headers.get("x-hanzo-deployment")
    check(deployment, "message: the response has no x-hanzo-deployment header")
    check(
        raw.headers.get("x-hanzo-cache") in ("hit", "miss"),
        f"message: x-hanzo-cache is {raw.headers.get('x-hanzo-cache')!r}, not hit or miss",
    )
    message = raw.parse()
    check(message.id.startswith("msg_"), f"message: id {message.id!r} does not start with msg_")
    expect_equal(message.type, "message", "message: type")
    expect_equal(message.role, "assistant", "message: role")
    expect_equal(message.model, model, "message: model")
    expect_equal(len(message.content), 1, "message: number of content blocks")
    expect_equal(message.content[0].type, "text", "message: block type")
    expect_equal(message.content[0].text, f"echo: {text}", "message: text")
    expect_equal(message.stop_reason, "end_turn", "message: stop_reason")
    check(message.usage.input_tokens > 0 and message.usage.output_tokens > 0, f"message: usage {message.usage}")

    # Content as blocks, system as blocks.
    message = client.messages.create(
        model=model,
        max_tokens=64,
        system=[{"type": "text", "text": "Be brief."}],
        messages=[{"role": "user", "content": [{"type": "text", "text": text}]}],
    )
    expect_equal(message.content[0].text, f"echo: {text}", "message with blocks: text")
    print(f"ok: messages (deployment {deployment})")


def check_stream(client, model):
    events = list(
        client.messages.create(
            model=model,
            max_tokens=64,
            messages=[{"role": "user", "content": "stream please"}],
            stream=True,
            extra_headers=BYPASS,
        )
    )
    kinds = [e.type for e in events]
    expect_equal(kinds[0], "message_start", "stream: first event")
    expect_equal(kinds[1], "content_block_start", "stream: second event")
    expect_equal(kinds[-3:], ["content_block_stop", "message_delta", "message_stop"], "stream: last events")
    check(set(kinds[2:-3]) == {"content_block_delta"}, f"stream: event sequence {kinds}")
    check(events[0].message.id.startswith("msg_"), "stream: message id")
    expect_equal(events[0].message.model, model, "stream: model")
    expect_equal(events[1].content_block.type, "text", "stream: block type")
    pieces = [e.delta.text for e in events if e.type == "content_block_delta"]
    expect_equal("".join(pieces), "Hello world", "stream: text")
    check(len(pieces) >= 2, f"stream: the text came in {len(pieces)} piece(s), not streamed")
    expect_equal(events[-2].delta.stop_reason, "end_turn", "stream: stop_reason")
    check(events[-2].usage.output_tokens > 0, f"stream: usage {events[-2].usage}")

    # The SDK's stream helper over the same events.
    with client.messages.stream(
        model=model,
        max_tokens=64,
        messages=[{"role": "user", "content": "stream again"}],
        extra_headers=BYPASS,
    ) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    expect_equal("".join(texts), "Hello world", "stream helper: text")
    expect_equal(final.content[0].text, "Hello world", "stream helper: final text")
    expect_equal(final.stop_reason, "end_turn", "stream helper: stop_reason")
    print(f"ok: streaming ({len(events)} events, {len(pieces)} text deltas)")


def check_tools(client, model):
    question = "What is 2+2? Use the calculator."
    messages = [{"role": "user", "content": question}]
    message = client.messages.create(model=model, max_tokens=256, tools=[CALCULATOR], messages=messages)
    expect_equal(message.stop_reason, "tool_use", "tool use: stop_reason")
    uses = [b for b in message.content if b.type == "tool_use"]
    expect_equal(len(uses), 1, "tool use: number of tool_use blocks")
    use = uses[0]
    check(use.id, "tool use: empty id")
    expect_equal(use.name, "calculator", "tool use: name")
    expect_equal(use.input, {"expression": "2+2"}, "tool use: input")

    # The result goes back; the model answers in text.
    messages.append({"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in message.content]})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "4"}]}
    )
    followup = client.messages.create(model=model, max_tokens=256, tools=[CALCULATOR], messages=messages)
    expect_equal(followup.stop_reason, "end_turn", "tool result turn: stop_reason")
    text = followup.content[0].text if followup.content and followup.content[0].type == "text" else ""
    check(text.startswith("echo: "), f"tool result turn: content {followup.content}")

    # Forced tool choice, streamed: input_json_delta fragments.
    with client.messages.stream(
        model=model,
        max_tokens=256,
        tools=[CALCULATOR],
        tool_choice={"type": "tool", "name": "calculator"},
        messages=[{"role": "user", "content": question}],
        extra_headers=BYPASS,
    ) as stream:
        fragments = [e.partial_json for e in stream if e.type == "input_json"]
        final = stream.get_final_message()
    uses = [b for b in final.content if b.type == "tool_use"]
    expect_equal(len(uses), 1, "streamed tool use: number of tool_use blocks")
    expect_equal(uses[0].name, "calculator", "streamed tool use: name")
    expect_equal(uses[0].input, {"expression": "2+2"}, "streamed tool use: input")
    expect_equal(final.stop_reason, "tool_use", "streamed tool use: stop_reason")
    check(fragments, "streamed tool use: no input_json_delta events")
    print(f"ok: tool use (streamed input in {len(fragments)} fragments)")


def check_errors(client):
    missing = f"no-such-model-{uuid.uuid4().hex[:8]}"
    try:
        client.messages.create(model=missing, max_tokens=16, messages=[{"role": "user", "content": "hi"}])
    except anthropic.NotFoundError as e:
        body = e.body if isinstance(e.body, dict) else {}
        expect_equal(body.get("type"), "error", "unknown model: body type")
        expect_equal((body.get("error") or {}).get("type"), "not_found_error", "unknown model: error type")
    else:
        raise CheckFailed("unknown model: no error")
    try:
        client.messages.create(model=missing, max_tokens=16, messages=[])
    except anthropic.BadRequestError as e:
        expect_equal(e.status_code, 400, "empty messages: status")
    else:
        raise CheckFailed("empty messages: no error")
    print("ok: errors")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="the node's address, e.g. http://127.0.0.1:3690")
    parser.add_argument("model", help="a model alias routed to the mock upstream")
    parser.add_argument("--api-key", default="hanzo-test-key", help="the key sent (a tenant's, when the node has tenants)")
    args = parser.parse_args()

    base = args.base_url.rstrip("/")
    if base.endswith("/v1"):
        base = base[: -len("/v1")]
    client = anthropic.Anthropic(base_url=base, api_key=args.api_key, max_retries=0, timeout=60)
    print(f"anthropic {anthropic.__version__} against {base}, model {args.model!r}")

    checks = [
        ("messages", lambda: check_message(client, args.model)),
        ("streaming", lambda: check_stream(client, args.model)),
        ("tools", lambda: check_tools(client, args.model)),
        ("errors", lambda: check_errors(client)),
    ]
    return run_checks(checks, anthropic.APIError, "all Anthropic SDK checks passed")


if __name__ == "__main__":
    sys.exit(main())
