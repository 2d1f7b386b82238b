#!/usr/bin/env python3
"""Checks, with the official, unmodified `anthropic` Python package, what a
Hanzo Node passes between a client and an Anthropic upstream that a neutral
chat type used to lose: extended thinking (asked for, returned with its
signature, handed back with a tool result) and a stop sequence reported as
`stop_reason: "stop_sequence"` with the sequence.

    python check_anthropic_thinking.py BASE_URL MODEL

MODEL must be an alias served by the Anthropic mock upstream of the
end-to-end tests (tests/mock-upstream/src/anthropic.rs), which thinks when
asked, signs its thinking, refuses a tool result whose assistant turn lacks
its thinking or carries another signature, calls `calculator` when given
tools, and otherwise answers "echo: <last user text>".
"""

import argparse
import sys

try:
    import anthropic
except ImportError:
    print("FAIL: the `anthropic` package is not installed (pip install anthropic)", file=sys.stderr)
    sys.exit(2)

from checks import BYPASS, CheckFailed, check, expect_equal, run_checks  # noqa: E402

CALCULATOR = {
    "name": "calculator",
    "description": "Evaluates an arithmetic expression",
    "input_schema": {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
}
THINKING = {"type": "enabled", "budget_tokens": 1024}


def check_thinking(client, model):
    question = {"role": "user", "content": "What is 2+2?"}
    first = client.messages.create(
        model=model, max_tokens=2048, thinking=THINKING, tools=[CALCULATOR],
        messages=[question], extra_headers=BYPASS,
    )
    kinds = [b.type for b in first.content]
    expect_equal(kinds[0], "thinking", "the answer starts with its thinking")
    check(first.content[0].signature, "the thinking is signed")
    expect_equal(first.stop_reason, "tool_use", "stop reason")
    call = next(b for b in first.content if b.type == "tool_use")
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "4"}]}
    # The assistant turn handed back whole, thinking first: accepted.
    second = client.messages.create(
        model=model, max_tokens=2048, thinking=THINKING, tools=[CALCULATOR],
        messages=[question, {"role": "assistant", "content": first.content}, result], extra_headers=BYPASS,
    )
    check(any(b.type == "text" for b in second.content), f"an answer after the tool result: {second.content}")
    # Without its thinking the upstream refuses the turn: proof it reached it.
    bare = [b for b in first.content if b.type != "thinking"]
    try:
        client.messages.create(
            model=model, max_tokens=2048, thinking=THINKING, tools=[CALCULATOR],
            messages=[question, {"role": "assistant", "content": bare}, result], extra_headers=BYPASS,
        )
    except anthropic.BadRequestError as e:
        check("thinking" in str(e), f"the refusal is about thinking: {e}")
    else:
        raise CheckFailed("a tool result without the turn's thinking was accepted")


def check_stop_sequence(client, model):
    r = client.messages.create(
        model=model, max_tokens=64, stop_sequences=[", 3"],
        messages=[{"role": "user", "content": "1, 2, 3, 4"}], extra_headers=BYPASS,
    )
    expect_equal(r.stop_reason, "stop_sequence", "stop reason")
    expect_equal(r.stop_sequence, ", 3", "the stop sequence")
    expect_equal(r.content[0].text, "echo: 1, 2", "the answer up to it")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("model")
    parser.add_argument("--api-key", default="hanzo-test-key")
    args = parser.parse_args()
    client = anthropic.Anthropic(base_url=args.base_url.rstrip("/"), api_key=args.api_key, max_retries=0, timeout=60)
    checks = [
        ("thinking", lambda: check_thinking(client, args.model)),
        ("stop sequence", lambda: check_stop_sequence(client, args.model)),
    ]
    return run_checks(checks, anthropic.APIError, "all Anthropic passthrough checks passed")


if __name__ == "__main__":
    sys.exit(main())
