#!/usr/bin/env python3
"""A real MCP server, written with the official `mcp` package (2.x,
`MCPServer`), for the `tools-mcp` plugin's end-to-end test: streamable HTTP
at http://127.0.0.1:PORT/mcp, protocol revisions up to 2025-11-25 through
the initialize handshake.

    python mcp_server.py PORT [--json-response]

Answers are event streams unless `--json-response` is given. Tools:

- `add(a, b)`: the sum, as structured content (`{"result": a + b}`).
- `echo(text)`: the text back, as text content only.
- `fail(reason)`: raises, so the call is an error result (`isError`).
- `calculator(expression)`: + - * / on numbers, `{"value", "served_by"}`;
  named as the mock LLM upstream's tool, so that an agent calls it.
- `whoami()`: the `authorization` and `x-team` headers the call came with.
- `grow(name)`: adds a tool `name` (answering `grown`) and says so with
  `notifications/tools/list_changed` on the call's own stream.
- `shrink(name)`: removes tool `name` without a word.
"""

import argparse
import ast
import operator
import sys
from typing import TypedDict

try:
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError
    from mcp_types import ToolListChangedNotification
except ImportError as e:
    print(f"the `mcp` package is not installed (pip install mcp): {e}", file=sys.stderr)
    sys.exit(2)

server = MCPServer("hanzo-e2e", version="1.0")


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@server.tool(structured_output=False)
def echo(text: str) -> str:
    """Returns the text it is given."""
    return text


@server.tool()
def fail(reason: str = "it failed on purpose") -> str:
    """Always fails, with the reason given."""
    # ToolError: an anticipated failure, whose message reaches the client.
    raise ToolError(reason)


class Calculation(TypedDict):
    value: float
    served_by: str


OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


def evaluate(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in OPERATORS:
        return OPERATORS[type(node.op)](evaluate(node.left), evaluate(node.right))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -evaluate(node.operand)
    raise ValueError("only numbers and + - * / are supported")


@server.tool()
def calculator(expression: str) -> Calculation:
    """Evaluates an arithmetic expression with + - * /."""
    return {"value": evaluate(ast.parse(expression, mode="eval").body), "served_by": "python-mcp"}


@server.tool()
def whoami(ctx: Context) -> dict[str, str]:
    """The authorization and x-team headers of this call."""
    headers = ctx.headers or {}
    return {name: headers.get(name, "") for name in ("authorization", "x-team")}


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Adds a tool named `name` and tells the client that the tool list changed."""

    def grown() -> str:
        return "grown"

    server.add_tool(grown, name=name, description="Added while the server ran.")
    # With the request's id the notification rides this call's own stream.
    await ctx.session.send_notification(ToolListChangedNotification(), related_request_id=ctx.request_id)
    return f"added {name}"


@server.tool()
def shrink(name: str) -> str:
    """Removes the tool named `name`, saying nothing: the client finds out when it calls it."""
    server.remove_tool(name)
    return f"removed {name}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("--json-response", action="store_true")
    args = parser.parse_args()
    server.run(
        "streamable-http",
        host="127.0.0.1",
        port=args.port,
        json_response=args.json_response,
    )


if __name__ == "__main__":
    main()
