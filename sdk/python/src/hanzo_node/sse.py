"""Incremental Server-Sent Events decoder (the ``text/event-stream`` format of
the WHATWG HTML standard, section 9.2), the Python twin of the Rust SDK's
``sse::Decoder``.

Feed it the body as it arrives, in chunks of any size, and pop complete
events. Lines may end in ``\\n``, ``\\r\\n`` or ``\\r`` (also when the ``\\r``
and ``\\n`` arrive in different chunks); ``data:`` lines of one event are
joined with ``\\n``; comment lines (``:`` first) are skipped; an event is
dispatched at the blank line that ends it.

>>> d = Decoder()
>>> d.feed(b'event: update\\ndata: {"a"')
>>> d.next_event() is None
True
>>> d.feed(b':1}\\n\\n')
>>> e = d.next_event()
>>> (e.event, e.data)
('update', '{"a":1}')

Pure Python: it imports no binding, so it also runs (and is tested) outside
a component.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Deque, Iterable, Iterator, List, Optional

#: Default cap on the bytes of one pending line or event, so that an upstream
#: that never ends a line cannot exhaust the plugin's memory.
DEFAULT_MAX_EVENT_BYTES = 8 * 1024 * 1024


@dataclass
class Event:
    """One dispatched event."""

    #: The ``event:`` field; ``"message"`` when the event had none.
    event: str
    #: The ``data:`` lines joined with ``\\n``.
    data: str
    #: The last ``id:`` seen on the stream so far (it persists across events).
    id: Optional[str] = None
    #: A ``retry:`` reconnection time in milliseconds, when this event set one.
    retry: Optional[int] = None


class TooLarge(ValueError):
    """A line or an event exceeded the decoder's limit."""

    def __init__(self, limit: int):
        super().__init__(f"server-sent event larger than {limit} bytes")
        self.limit = limit


class Decoder:
    """Incremental decoder state."""

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES):
        self.max_event_bytes = max_event_bytes
        self._line = bytearray()
        self._after_cr = False
        self._event_type = ""
        self._data: List[str] = []
        self._data_bytes = 0
        self._retry: Optional[int] = None
        self._last_id: Optional[str] = None
        self._ready: Deque[Event] = deque()
        self._bom_checked = False

    def feed(self, chunk: bytes) -> None:
        """Adds bytes of the stream; complete events become available from
        :meth:`next_event`. Raises :class:`TooLarge` past the limit."""
        i = 0
        n = len(chunk)
        if self._after_cr and n and chunk[0] == 0x0A:
            i = 1
        self._after_cr = False
        while i < n:
            # Find the next line end.
            j = i
            while j < n and chunk[j] not in (0x0A, 0x0D):
                j += 1
            self._line += chunk[i:j]
            if len(self._line) + self._data_bytes > self.max_event_bytes:
                raise TooLarge(self.max_event_bytes)
            if j == n:
                break
            if chunk[j] == 0x0D:
                if j + 1 < n:
                    if chunk[j + 1] == 0x0A:
                        j += 1
                else:
                    self._after_cr = True
            self._end_line()
            i = j + 1

    def _end_line(self) -> None:
        raw = bytes(self._line)
        self._line.clear()
        if not self._bom_checked:
            self._bom_checked = True
            if raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
        line = raw.decode("utf-8", errors="replace")
        if not line:
            self._dispatch()
            return
        if line.startswith(":"):
            return
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "event":
            self._event_type = value
        elif name == "data":
            self._data.append(value)
            self._data_bytes += len(value) + 1
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry":
            if value.isdigit():
                self._retry = int(value)

    def _dispatch(self) -> None:
        if self._data:
            self._ready.append(
                Event(
                    event=self._event_type or "message",
                    data="\n".join(self._data),
                    id=self._last_id,
                    retry=self._retry,
                )
            )
        self._event_type = ""
        self._data = []
        self._data_bytes = 0
        self._retry = None

    def next_event(self) -> Optional[Event]:
        """The oldest complete event not yet taken, or ``None``."""
        return self._ready.popleft() if self._ready else None

    def has_partial(self) -> bool:
        """True when bytes of an unfinished line or event are pending (a
        stream that ends now was cut mid-event)."""
        return bool(self._line) or bool(self._data)

    def events(self) -> Iterator[Event]:
        """Pops every complete event."""
        while self._ready:
            yield self._ready.popleft()


def decode(chunks: Iterable[bytes], max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> Iterator[Event]:
    """The events of a whole stream given as chunks."""
    d = Decoder(max_event_bytes)
    for chunk in chunks:
        d.feed(chunk)
        yield from d.events()
