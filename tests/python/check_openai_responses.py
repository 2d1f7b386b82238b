#!/usr/bin/env python3
"""Checks a Hanzo Node's Responses API (`/v1/responses`) and legacy
Completions API (`/v1/completions`) with the official, unmodified `openai`
Python package: a plain response, a stream (the SDK's event types and its
accumulated final response), function tools with the result sent back, a
second turn by `previous_response_id`, retrieve and delete, `store=False`,
and a legacy completion, plain and streamed.

    python check_openai_responses.py BASE_URL MODEL

MODEL is an alias routed to the mock upstream of the end-to-end tests
(tests/e2e/mock_openai.rs), which answers "echo: <last user text>", streams
"Hello world" and calls the `calculator` tool with {"expression": "2+2"}
when tools are given and the last message is the user's.

Exits 0 when every check passes, 1 with a message naming the failed check.
"""

import argparse
import json
import sys

try:
    import openai
except ImportError:
    print("FAIL: the `openai` package is not installed (pip install openai)", file=sys.stderr)
    sys.exit(2)

from checks import BYPASS, CheckFailed, check, expect_equal, run_checks  # noqa: E402


CALCULATOR = {
    "type": "function",
    "name": "calculator",
    "description": "Evaluates an arithmetic expression",
    "parameters": {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
}


def check_plain(client, model):
    r = client.responses.create(model=model, input="hi there", instructions="Answer briefly.")
    expect_equal(r.object, "response", "plain: object")
    expect_equal(r.status, "completed", "plain: status")
    expect_equal(r.output_text, "echo: hi there", "plain: output_text")
    check(r.id.startswith("resp_"), f"plain: id {r.id!r}")
    check(r.usage is not None and r.usage.total_tokens > 0, f"plain: usage {r.usage!r}")
    expect_equal(r.instructions, "Answer briefly.", "plain: instructions echoed")

    # A second turn continues the first from the node's store.
    second = client.responses.create(model=model, input="and again", previous_response_id=r.id)
    expect_equal(second.output_text, "echo: and again", "second turn: output_text")
    expect_equal(second.previous_response_id, r.id, "second turn: previous_response_id")

    # Retrieve and delete; a deleted response is gone.
    got = client.responses.retrieve(r.id)
    expect_equal(got.output_text, r.output_text, "retrieve: output_text")
    client.responses.delete(r.id)
    try:
        client.responses.retrieve(r.id)
    except openai.NotFoundError as e:
        expect_equal(e.body.get("code"), "response_not_found", "retrieve after delete: code")
    else:
        raise CheckFailed("retrieve after delete: no error")

    # Not stored: it cannot be continued.
    unstored = client.responses.create(model=model, input="secret", store=False)
    try:
        client.responses.create(model=model, input="x", previous_response_id=unstored.id)
    except openai.NotFoundError:
        pass
    else:
        raise CheckFailed("store=False: the response was kept")
    print("ok: responses (plain, second turn, retrieve, delete, store=False)")


def check_stream(client, model):
    kinds = []
    text = ""
    with client.responses.stream(model=model, input="hi", extra_headers=BYPASS) as stream:
        for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                text += event.delta
        final = stream.get_final_response()
    expect_equal(kinds[0], "response.created", "stream: first event")
    expect_equal(kinds[-1], "response.completed", "stream: last event")
    for kind in [
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.done",
        "response.output_item.done",
    ]:
        check(kind in kinds, f"stream: no {kind} among {kinds}")
    expect_equal(text, "Hello world", "stream: deltas")
    expect_equal(final.output_text, "Hello world", "stream: final response")
    # The streamed response was stored too.
    expect_equal(client.responses.retrieve(final.id).output_text, "Hello world", "stream: stored")
    print(f"ok: streamed response ({len(kinds)} events)")


def check_tools(client, model):
    question = "What is 2+2? Use the calculator."
    r = client.responses.create(model=model, input=question, tools=[CALCULATOR])
    calls = [item for item in r.output if item.type == "function_call"]
    expect_equal(len(calls), 1, "tools: function calls")
    call = calls[0]
    expect_equal(call.name, "calculator", "tools: name")
    expect_equal(json.loads(call.arguments), {"expression": "2+2"}, "tools: arguments")
    check(call.call_id, "tools: empty call_id")

    # The result goes back by previous_response_id; the model answers in text.
    followup = client.responses.create(
        model=model,
        previous_response_id=r.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "4"}],
        tools=[CALCULATOR],
    )
    check(followup.output_text.startswith("echo: "), f"tools: answer {followup.output_text!r}")

    # Streamed: the SDK assembles the arguments from their deltas.
    with client.responses.stream(
        model=model, input=question, tools=[CALCULATOR], extra_headers=BYPASS
    ) as stream:
        deltas = sum(1 for e in stream if e.type == "response.function_call_arguments.delta")
        final = stream.get_final_response()
    streamed = [item for item in final.output if item.type == "function_call"]
    expect_equal(len(streamed), 1, "streamed tools: function calls")
    expect_equal(json.loads(streamed[0].arguments), {"expression": "2+2"}, "streamed tools: arguments")
    print(f"ok: function tools (streamed arguments in {deltas} deltas)")


def check_errors(client, model):
    # A hosted tool is not offered to the model (no upstream runs it).
    r = client.responses.create(model=model, input="x", tools=[{"type": "web_search"}])
    expect_equal(r.output_text, "echo: x", "hosted tool: answered without it")
    # A file uploaded to OpenAI exists only there.
    try:
        client.responses.create(
            model=model,
            input=[{"role": "user", "content": [{"type": "input_file", "file_id": "file-abc123"}]}],
        )
    except openai.BadRequestError as e:
        expect_equal(e.body.get("code"), "unsupported_content", "uploaded file: code")
    else:
        raise CheckFailed("uploaded file: no error")
    print("ok: errors")


def check_completions(client, model):
    c = client.completions.create(model=model, prompt="Say this is a test", max_tokens=7)
    expect_equal(c.object, "text_completion", "completion: object")
    expect_equal(c.choices[0].text, "echo: Say this is a test", "completion: text")
    pieces = [
        chunk.choices[0].text
        for chunk in client.completions.create(
            model=model, prompt="hi", stream=True, extra_headers=BYPASS
        )
        if chunk.choices
    ]
    expect_equal("".join(pieces), "Hello world", "streamed completion: text")
    print("ok: legacy completions (plain and streamed)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("model")
    parser.add_argument("--api-key", default="hanzo-test-key")
    args = parser.parse_args()
    base = args.base_url.rstrip("/").removesuffix("/v1")
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=args.api_key, max_retries=0, timeout=60)
    print(f"openai {openai.__version__} against {base}/v1, model {args.model!r}")
    checks = [
        ("responses", lambda: check_plain(client, args.model)),
        ("streamed responses", lambda: check_stream(client, args.model)),
        ("tools", lambda: check_tools(client, args.model)),
        ("errors", lambda: check_errors(client, args.model)),
        ("completions", lambda: check_completions(client, args.model)),
    ]
    return run_checks(checks, openai.APIError, "all Responses and Completions checks passed")


if __name__ == "__main__":
    sys.exit(main())
