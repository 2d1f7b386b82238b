"""Test plugin in Python: one tool per way to fail, and a version to check
hot swap. Built twice by sdk/python/build.mk: with ``version.py`` from
this folder (v1) and from ``v2/`` (v2)."""

from hanzo_node.errors import ToolFailed
from hanzo_node.tool import Toolbox, tool  # noqa: F401  (Toolbox is the export)

from version import VERSION


@tool
def version() -> str:
    """The version this build answers."""
    return VERSION


@tool
def fail(message: str) -> None:
    """Fails the way a tool should: a typed ToolFailed."""
    raise ToolFailed(message)


def _divide(a: int, b: int) -> float:
    return a / b


@tool
def crash(numerator: int = 1) -> float:
    """A bug: an uncaught ZeroDivisionError two frames down."""
    return _divide(numerator, 0)


@tool
def spin() -> None:
    """Never returns."""
    n = 0
    while True:
        n += 1


@tool
def allocate() -> int:
    """Allocates 1 MiB blocks until something stops it."""
    blocks = []
    while True:
        blocks.append(bytearray(1 << 20))
