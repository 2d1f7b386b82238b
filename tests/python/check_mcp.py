#!/usr/bin/env python3
"""Checks a Hanzo Node's MCP server (the `api-mcp` plugin at /mcp) with the
official, unmodified `mcp` Python package over its streamable HTTP
transport: initialize, ping, the tool list with its JSON Schemas, a tool
call with structured content, a call with bad arguments (an error result),
an unknown tool, and a call that reports progress.

    python check_mcp.py BASE_URL [--api-key KEY]

BASE_URL is the node's address (`http://127.0.0.1:3690`; a trailing `/mcp`
is accepted). The node must serve the `calculator` tool of `tools-basic`.
KEY, when given, is sent as `Authorization: Bearer KEY` (a tenant's key,
when the node has tenants).

Exits 0 when every check passes, 1 with a message naming the failed check
otherwise, 2 when the `mcp` package is missing.
"""

import argparse
import asyncio
import json
import sys
from importlib.metadata import version

try:
    import httpx2
    from mcp import ClientSession, MCPError
    from mcp.client.streamable_http import streamable_http_client
except ImportError as e:
    print(f"FAIL: the `mcp` package is not installed (pip install mcp): {e}", file=sys.stderr)
    sys.exit(2)

from checks import CheckFailed, check, expect_equal  # noqa: E402

# The revision the node speaks; the client offers a newer one and accepts it.
PROTOCOL_VERSION = "2025-06-18"
# JSON-RPC's invalid params: what MCP answers for an unknown tool.
INVALID_PARAMS = -32602


async def check_initialize(session):
    result = await session.initialize()
    expect_equal(result.protocol_version, PROTOCOL_VERSION, "initialize: protocol version")
    expect_equal(result.server_info.name, "hanzo-node", "initialize: server name")
    check(result.capabilities.tools is not None, "initialize: no tools capability")
    await session.send_ping()
    print(f"ok: initialize ({result.server_info.name} {result.server_info.version}, {result.protocol_version}), ping")


async def check_list(session):
    listed = await session.list_tools()
    tools = {tool.name: tool for tool in listed.tools}
    check("calculator" in tools, f"tools/list: no calculator among {sorted(tools)}")
    calculator = tools["calculator"]
    check(calculator.description, "tools/list: the calculator has no description")
    schema = calculator.input_schema
    expect_equal(schema.get("type"), "object", "tools/list: inputSchema type")
    check("expression" in schema.get("properties", {}), f"tools/list: inputSchema {schema}")
    expect_equal(schema.get("required"), ["expression"], "tools/list: inputSchema required")
    output = calculator.output_schema
    check(output is not None and output.get("type") == "object", f"tools/list: outputSchema {output}")
    print(f"ok: tools/list ({len(tools)} tools: {', '.join(sorted(tools))})")


async def check_call(session):
    result = await session.call_tool("calculator", {"expression": "2+2"})
    check(not result.is_error, f"tools/call: an error result {result.content}")
    expect_equal(result.structured_content, {"value": 4}, "tools/call: structuredContent")
    expect_equal(len(result.content), 1, "tools/call: content blocks")
    block = result.content[0]
    expect_equal(block.type, "text", "tools/call: content type")
    expect_equal(json.loads(block.text), {"value": 4}, "tools/call: content text")
    print("ok: tools/call (2+2 = 4, as text and structured content)")


async def check_errors(session):
    bad = await session.call_tool("calculator", {"formula": "2+2"})
    check(bad.is_error, f"bad arguments: not an error result: {bad}")
    text = bad.content[0].text if bad.content else ""
    check("argument" in text, f"bad arguments: the message does not say so: {text!r}")
    failed = await session.call_tool("calculator", {"expression": "1/0"})
    check(failed.is_error, f"a failing tool: not an error result: {failed}")
    try:
        unknown = await session.call_tool("no_such_tool", {})
    except MCPError as e:
        expect_equal(e.code, INVALID_PARAMS, "unknown tool: error code")
    else:
        check(unknown.is_error, f"unknown tool: neither an error nor an error result: {unknown}")
    print("ok: errors (bad arguments and a failing tool as error results, an unknown tool)")


async def check_progress(session):
    reports = []

    async def on_progress(progress, total, message):
        reports.append((progress, total, message))

    result = await session.call_tool("calculator", {"expression": "6*7"}, progress_callback=on_progress)
    expect_equal(result.structured_content, {"value": 42}, "progress: the result")
    # Notifications are handed to the callback in tasks of their own: give
    # them a moment after the answer.
    for _ in range(50):
        if len(reports) >= 2:
            break
        await asyncio.sleep(0.02)
    check(reports, "progress: no progress notification arrived")
    progress = [p for p, _, _ in reports]
    expect_equal(progress, sorted(progress), "progress: increasing")
    check(reports[-1][0] == reports[-1][1], f"progress: the last report is not complete: {reports}")
    print(f"ok: progress ({len(reports)} notifications: {reports})")


CHECKS = [
    ("initialize", check_initialize),
    ("tools/list", check_list),
    ("tools/call", check_call),
    ("errors", check_errors),
    ("progress", check_progress),
]


async def run(url, headers):
    """Runs the checks in order on one session (the first failure ends the run)."""
    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=120)) as http:
        async with streamable_http_client(url, http_client=http) as (read, write):
            async with ClientSession(read, write) as session:
                for name, run_check in CHECKS:
                    try:
                        await run_check(session)
                    except CheckFailed as e:
                        print(f"FAIL: {name}: {e}", file=sys.stderr)
                        return 1
                    except MCPError as e:
                        print(f"FAIL: {name}: the node answered with an error ({e.code}): {e.message}", file=sys.stderr)
                        return 1
                    except Exception as e:  # noqa: BLE001 - any surprise is a failed check
                        print(f"FAIL: {name}: {type(e).__name__}: {e}", file=sys.stderr)
                        return 1
    print("all MCP checks passed")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="the node's address, e.g. http://127.0.0.1:3690")
    parser.add_argument("--api-key", help="sent as a bearer token (a tenant's key)")
    args = parser.parse_args()

    base = args.base_url.rstrip("/").removesuffix("/mcp")
    headers = {"authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    print(f"mcp {version('mcp')} against {base}/mcp")
    return asyncio.run(run(f"{base}/mcp", headers))


if __name__ == "__main__":
    sys.exit(main())
