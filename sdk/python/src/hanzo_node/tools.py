"""The node's tool catalog (``hanzo:node/tools``), for api plugins: every
tool of every loaded tool plugin, each run in its own sandbox. Needs
``permissions.tools`` in the manifest. Failures raise
:class:`~hanzo_node.errors.ToolError` subclasses (``ToolNotFound``,
``InvalidArguments``, ``ToolFailed``, ``PluginFailed``, ``ToolDenied``), the
same classes a tool plugin raises.

    from hanzo_node import tools
    result = tools.invoke("calculator", {"expression": "2+2"})
"""

from __future__ import annotations

import json
from typing import Any, List, Optional, Union

from wit_world.imports import tools as _wit

from .errors import ToolError, host_caller

ToolInfo = _wit.ToolInfo


_call = host_caller(ToolError)


def list() -> List[ToolInfo]:  # noqa: A001  (the WIT name)
    """Every tool of the catalog (``.plugin`` and ``.spec``)."""
    return _call(_wit.list)


def get(name: str) -> Optional[ToolInfo]:
    return _call(_wit.get, name)


def invoke(name: str, arguments: Union[dict, str, None] = None) -> Any:
    """Runs tool ``name`` with ``arguments`` (a dict or JSON text); returns
    its result decoded from JSON."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments or {})
    return json.loads(_call(_wit.invoke, name, text))
