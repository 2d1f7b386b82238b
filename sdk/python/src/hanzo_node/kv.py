"""The plugin's key-value store (``hanzo:node/kv``), one namespace per
plugin and tenant, on the node's redb file. Needs ``permissions.kv = true``
in the manifest; every call then raises
:class:`~hanzo_node.errors.KvError` (``denied``, ``too_large``,
``quota_exceeded``, ``store``) on failure.

Values are bytes; :func:`get_json`/:func:`set_json` store JSON.
"""

from __future__ import annotations

import json
from typing import Any, List, Optional, Union

from wit_world.imports import kv as _wit

from .errors import KvError, host_caller


_call = host_caller(KvError)


def get(key: str) -> Optional[bytes]:
    """The value of ``key``, or ``None``."""
    return _call(_wit.get, key)


def set(key: str, value: Union[bytes, str]) -> None:
    """Stores ``value`` (``str`` is encoded as UTF-8) under ``key``."""
    if isinstance(value, str):
        value = value.encode()
    _call(_wit.set, key, bytes(value))


def delete(key: str) -> bool:
    """Deletes ``key``; True when it existed."""
    return _call(_wit.delete, key)


def list_keys(prefix: str = "", limit: int = 1000) -> List[str]:
    """Keys starting with ``prefix``, in order, at most ``limit``."""
    return _call(_wit.list_keys, prefix, limit)


def get_json(key: str, default: Any = None) -> Any:
    """The JSON value stored under ``key``, or ``default``."""
    raw = get(key)
    return default if raw is None else json.loads(raw)


def set_json(key: str, value: Any) -> None:
    """Stores ``value`` as JSON under ``key``."""
    set(key, json.dumps(value, separators=(",", ":")))
