"""Plugin settings and secrets (``hanzo:node/config``). Every world imports it.

Settings are the manifest's ``[config]`` table, which the operator may
override in ``node.toml`` (``[plugins.NAME] config = {...}``); secrets are the
names the manifest lists in ``permissions.secrets``, their values set by the
operator (``[plugins.NAME] secrets = {...}`` or the environment).
"""

from __future__ import annotations

from typing import Callable, Optional, TypeVar

from componentize_py_types import Err
from wit_world.imports import config as _wit

from .errors import ConfigError

T = TypeVar("T")


def get(key: str, default: Optional[str] = None) -> Optional[str]:
    """The setting ``key``, or ``default`` when unset."""
    value = _wit.get(key)
    return default if value is None else value


def get_as(key: str, parse: Callable[[str], T], default: T) -> T:
    """The setting ``key`` parsed by ``parse`` (``int``, ``float``, ...);
    ``default`` when unset or blank. A value that does not parse raises
    ``ValueError`` naming the key."""
    value = _wit.get(key)
    if value is None or not value.strip():
        return default
    try:
        return parse(value.strip())
    except ValueError as e:
        raise ValueError(f"setting `{key}` = {value!r}: {e}") from None


def get_bool(key: str, default: bool = False) -> bool:
    """The setting ``key`` as a boolean (``true``/``false``, ``1``/``0``, ``yes``/``no``)."""
    value = _wit.get(key)
    if value is None or not value.strip():
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def secret(name: str) -> str:
    """The secret ``name``; raises :class:`~hanzo_node.errors.ConfigError`
    (kind ``not_declared`` or ``not_set``)."""
    try:
        return _wit.secret(name)
    except Err as e:
        raise ConfigError.from_wit(e.value) from None


def optional_secret(name: str) -> Optional[str]:
    """The secret ``name``, or ``None`` when the operator has not set it."""
    try:
        return _wit.secret(name)
    except Err:
        return None
