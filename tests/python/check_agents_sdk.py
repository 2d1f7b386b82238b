#!/usr/bin/env python3
"""Checks a Hanzo Node with the official OpenAI Agents SDK (`openai-agents`),
unmodified: an agent on the SDK's default model (over the Responses API, the
SDK's default) calls a function tool the SDK runs, and answers after it.

    python check_agents_sdk.py --default-model
    python check_agents_sdk.py BASE_URL

The first form prints the SDK's default model name (the node needs an alias
of that name). MODEL behind it is the mock upstream of the end-to-end tests,
which calls `calculator` with {"expression": "2+2"} when tools are offered
and the last message is the user's, then answers "echo: <last user text>".

Exits 0 when the check passes, 1 with a message otherwise.
"""

import asyncio
import sys

try:
    from agents import Agent, Runner, function_tool, set_default_openai_client, set_tracing_disabled
    from agents.models import get_default_model
    from openai import AsyncOpenAI
except ImportError as e:
    print(f"FAIL: the `openai-agents` package is not installed: {e}", file=sys.stderr)
    sys.exit(2)


def main():
    if sys.argv[1:] == ["--default-model"]:
        print(get_default_model())
        return 0
    base = sys.argv[1].rstrip("/").removesuffix("/v1")
    set_tracing_disabled(True)
    set_default_openai_client(
        AsyncOpenAI(base_url=f"{base}/v1", api_key="hanzo-test-key", max_retries=0, timeout=60),
        use_for_tracing=False,
    )
    ran = []

    @function_tool
    def calculator(expression: str) -> str:
        """Evaluates an arithmetic expression."""
        ran.append(expression)
        return "4" if expression == "2+2" else "?"

    agent = Agent(name="calc", instructions="Use the calculator.", tools=[calculator])
    result = asyncio.run(Runner.run(agent, "What is 2+2?"))
    if ran != ["2+2"]:
        print(f"FAIL: the tool ran with {ran!r}", file=sys.stderr)
        return 1
    if result.final_output != "echo: What is 2+2?":
        print(f"FAIL: final output {result.final_output!r}", file=sys.stderr)
        return 1
    print(f"ok: an agent on {get_default_model()} called its tool and answered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
