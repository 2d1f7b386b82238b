#!/usr/bin/env python3
"""A real stdio MCP server, written with the official `mcp` package (2.x,
`MCPServer`), for the end-to-end tests that run MCP servers in containers.
It is the command of the image `hanzo-test-mcp:1` (built by
`build-mcp-image.sh`): JSON-RPC on stdin and stdout, logs on stderr.

Tools:

- `add(a, b)`: the sum, as structured content (`{"result": a + b}`).
- `echo(text)`: the text back, as text content only.
- `count()`: a counter kept in the process, one more each call.
- `slow(ms)`: sleeps `ms` milliseconds, then answers `slept`.
- `env(name)`: the value of environment variable `name`, or "".
- `pid()`: the server's process id.
"""

import os
import sys

try:
    import anyio
    from mcp.server.mcpserver import MCPServer
except ImportError as e:
    print(f"the `mcp` package is not installed (pip install mcp): {e}", file=sys.stderr)
    sys.exit(2)

server = MCPServer("hanzo-e2e-stdio", version="1.0")

calls = 0


@server.tool()
def add(a: int, b: int) -> int:
    """Adds two integers."""
    return a + b


@server.tool(structured_output=False)
def echo(text: str) -> str:
    """Returns the text it is given."""
    return text


@server.tool()
def count() -> int:
    """How many times this tool has been called in this process, this call included."""
    global calls
    calls += 1
    return calls


@server.tool()
async def slow(ms: int) -> str:
    """Sleeps for `ms` milliseconds, then answers "slept"."""
    await anyio.sleep(ms / 1000)
    return "slept"


@server.tool()
def env(name: str) -> str:
    """The value of the environment variable `name`, or "" when it is not set."""
    return os.environ.get(name, "")


@server.tool()
def pid() -> int:
    """The process id of the server."""
    return os.getpid()


if __name__ == "__main__":
    server.run("stdio")
