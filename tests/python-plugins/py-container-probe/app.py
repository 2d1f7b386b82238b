"""Test plugin (tool world, Python): tools that run containers through the
SDK's ``hanzo_node.containers`` -- a run to its end, a process kept between
calls, an image the operator did not grant -- for tests/e2e/python_plugins.rs."""

from typing import Optional

from hanzo_node import config, containers
from hanzo_node.errors import ContainersError
from hanzo_node.tool import Toolbox, tool  # noqa: F401  (Toolbox is the export)


@tool
def run_script(script: str, stdin: str = "", timeout_ms: Optional[int] = None) -> dict:
    """Runs ``sh -c script`` in the configured image with ``stdin`` as its input."""
    r = containers.run(config.get("image"), ["sh", "-c", script], stdin=stdin.encode(),
                       timeout_ms=timeout_ms)
    return {"exit_code": r.exit_code, "stdout": r.stdout.decode(), "stderr": r.stderr.decode(),
            "timed_out": r.timed_out}


@tool
def echo_session(line: str) -> dict:
    """Sends ``line`` to a `cat` kept running between calls and reads it back."""
    spec = containers.spec(config.get("image"), ["cat"])
    with containers.Process.open("echo", spec, idle_ms=60000) as p:
        fresh = p.fresh
        p.write(line.encode() + b"\n")
        got = b""
        while not got.endswith(b"\n"):
            chunk = p.read(4096, wait_ms=5000)
            if not chunk:
                break
            got += chunk
    return {"fresh": fresh, "echo": got.decode().rstrip("\n")}


@tool
def other_image() -> dict:
    """Runs an image the operator did not grant: the error's kind and message."""
    try:
        containers.run("not-granted:1", ["true"])
    except ContainersError as e:
        return {"kind": e.kind, "message": e.message}
    return {"kind": None}
