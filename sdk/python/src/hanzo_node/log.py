"""Logging into the node's tracing output (``hanzo:node/log``), tagged with
the tenant and the plugin. Every world imports it.

    from hanzo_node import log
    log.info("fetched %d items", n)

:func:`handler` returns a :class:`logging.Handler` so the standard
:mod:`logging` module can write there too.
"""

from __future__ import annotations

import logging as _logging

from wit_world.imports import log as _wit

Level = _wit.Level


def log(level: Level, message: str, *args: object) -> None:
    """Logs ``message % args`` at ``level``."""
    if args:
        message = message % args
    _wit.log(level, message)


def trace(message: str, *args: object) -> None:
    log(Level.TRACE, message, *args)


def debug(message: str, *args: object) -> None:
    log(Level.DEBUG, message, *args)


def info(message: str, *args: object) -> None:
    log(Level.INFO, message, *args)


def warn(message: str, *args: object) -> None:
    log(Level.WARN, message, *args)


warning = warn


def error(message: str, *args: object) -> None:
    log(Level.ERROR, message, *args)


class _Handler(_logging.Handler):
    def emit(self, record: _logging.LogRecord) -> None:
        if record.levelno >= _logging.ERROR:
            level = Level.ERROR
        elif record.levelno >= _logging.WARNING:
            level = Level.WARN
        elif record.levelno >= _logging.INFO:
            level = Level.INFO
        else:
            level = Level.DEBUG
        _wit.log(level, self.format(record))


def handler() -> _logging.Handler:
    """A :mod:`logging` handler writing to the node's log:
    ``logging.getLogger().addHandler(hanzo_node.log.handler())``."""
    return _Handler()
