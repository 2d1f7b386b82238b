"""Containers (``hanzo:node/containers``), for tool plugins: run an image the
operator granted, once, with a command, limits and no network unless granted
(:func:`run`), or keep one running between calls and talk to it over its
standard input and output (:class:`Process`, since hanzo:node 0.3.1).

    from hanzo_node import containers
    result = containers.run("hanzo-tools:1", ["sh", "-c", "wc -c"], stdin=b"hello")
    print(result.exit_code, result.stdout)

    with containers.Process.open("repl", containers.spec("python-tools:1")) as p:
        if p.fresh:
            ...                      # it is new: set it up
        p.write(b"1 + 1\\n")
        answer = p.read(4096, wait_ms=1000)

Needs ``permissions.containers`` (the images) in the manifest and the
operator's grant of those images in ``[plugins.<name>] containers``;
otherwise every call raises :class:`~hanzo_node.errors.ContainersError` of
kind ``denied``, naming it. Other kinds: ``unavailable`` (no engine),
``image_not_found``, ``invalid``, ``failed``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

from wit_world.imports import containers as _wit

from ._resource import OwnedHandle
from .errors import ContainersError, host_caller

RunSpec = _wit.RunSpec
RunResult = _wit.RunResult

_call = host_caller(ContainersError)


def spec(image: str, command: Optional[Sequence[str]] = None, *, env: Optional[Dict[str, str]] = None,
         stdin: bytes = b"", workdir: Optional[str] = None, memory_mb: Optional[int] = None,
         cpu_millis: Optional[int] = None, pids: Optional[int] = None, timeout_ms: Optional[int] = None,
         network: bool = False) -> RunSpec:
    """A run of ``image`` (its own command when ``command`` is none), with
    ``stdin`` as its input; unset limits are the node's, and there is no
    network unless ``network`` (and the operator grants it)."""
    return RunSpec(image, list(command or []), list((env or {}).items()), bytes(stdin), workdir,
                   memory_mb, cpu_millis, pids, timeout_ms, network)


def run(image: str, command: Optional[Sequence[str]] = None, **options: Any) -> RunResult:
    """Runs ``image`` to its end (or its timeout): ``exit_code`` (none when it
    was killed), ``stdout``, ``stderr``, ``truncated``, ``timed_out``,
    ``duration_ms``. ``options`` are those of :func:`spec`."""
    return _call(_wit.run, spec(image, command, **options))


class Process(OwnedHandle):
    """A container kept running between calls, talked to over stdio (a stdio
    MCP server, a REPL). The node keeps it per plugin and tenant under the
    key given to :meth:`open`; closing this (or the end of its ``with``)
    gives it back, still running, to the next ``open`` of the same key and
    spec; :meth:`stop` removes it."""

    def __init__(self, handle: Any):
        self._handle = handle

    @classmethod
    def open(cls, key: str, spec: RunSpec, idle_ms: Optional[int] = None) -> "Process":
        """The idle process of this key and spec, else a new one (``spec.stdin``
        written first). ``idle_ms``: how long it may wait unused (none: the
        node's ceiling)."""
        return cls(_call(_wit.Process.open, key, spec, idle_ms))

    @property
    def fresh(self) -> bool:
        """Whether this ``open`` started it."""
        return self._handle.fresh()

    def write(self, data: bytes) -> None:
        """Writes to its standard input."""
        _call(self._handle.write, bytes(data))

    def read(self, max_bytes: int = 65536, wait_ms: int = 1000) -> Optional[bytes]:
        """Its standard output: what is there, else what comes within
        ``wait_ms``, at most ``max_bytes``. ``b""``: nothing in time; ``None``:
        it ended and everything was read."""
        return _call(self._handle.read, max_bytes, wait_ms)

    def stderr_tail(self) -> bytes:
        """The last of its standard error."""
        return self._handle.stderr_tail()

    def exit_code(self) -> Optional[int]:
        """Its exit code, once it ended."""
        return self._handle.exit_code()

    def stop(self) -> None:
        """Stops and removes it now, instead of giving it back."""
        self._handle.stop()
        self.close()

    def close(self) -> None:
        """Gives it back to the node, still running."""
        super().close()
