"""A Python object that owns a WIT resource handle (``_handle``): ``close``
drops it once, and ``with`` closes it."""

from __future__ import annotations

from typing import Any


class OwnedHandle:
    _handle: Any = None

    def close(self) -> None:
        """Drops the handle (a second close does nothing)."""
        h, self._handle = self._handle, None
        if h is not None:
            h.__exit__(None, None, None)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
