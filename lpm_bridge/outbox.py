"""The bounded outbox between the shared runner and one session's reader.

Policy (documented in docs/protocol.md, "Slow readers"):

* The outbox holds at most ``capacity`` frames. Events are small and rare and do not
  count, but drop notices are coalesced into one counter so nothing grows unbounded.
* The runner never produces more frames than the outbox has room for (``free``): a full
  outbox that nobody reads costs no compute. Speech frames are never dropped: the
  session's pending audio then fills, and the transport stops reading the client's stream
  (gRPC flow control pushes the backpressure to the sender). Idle sessions pause their
  timeline instead (session.py) and resume when the reader takes frames again.
* Should a frame ever be put into a full outbox, it evicts the oldest queued idle frame
  (speech is kept); the reader then gets one ``FRAMES_DROPPED`` event carrying the count
  before its next item. The runner's planning keeps this from happening.
* ``purge_after`` removes queued frames from a point on (interrupt drops queued speech).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from lpm_bridge.session_types import Event, EventType, Frame

Item = Frame | Event


class OutboxClosed(Exception):
    """Raised by ``get`` once the outbox is closed and drained."""


class Outbox:
    """A bounded FIFO of frames and events for one reader (single producer, single consumer)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"outbox capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: deque[Item] = deque()
        self._frames = 0
        self._dropped = 0
        self._dropped_pts = 0
        self._closed = False
        self._error: BaseException | None = None
        self._ready = asyncio.Event()
        self.on_take: Callable[[], None] | None = None  # lets the runner know room appeared

    @property
    def frames(self) -> int:
        """Frames queued now."""
        return self._frames

    @property
    def free(self) -> int:
        """Frames that fit before the outbox is full."""
        return max(0, self.capacity - self._frames)

    @property
    def closed(self) -> bool:
        return self._closed

    def put(self, item: Item) -> None:
        """Queue a frame or an event; a frame into a full outbox evicts the oldest idle frame."""
        if self._closed:
            return
        if isinstance(item, Frame):
            if self._frames >= self.capacity:
                self._evict_idle()
            self._frames += 1
        self._items.append(item)
        self._ready.set()

    def _evict_idle(self) -> None:
        for i, old in enumerate(self._items):
            if isinstance(old, Frame) and not old.speaking:
                del self._items[i]
                self._frames -= 1
                self._dropped += 1
                self._dropped_pts = old.pts_samples
                return
        # Only speech queued: the runner should not have produced this frame (see `free`);
        # accept the overflow rather than lose speech.

    def purge_after(self, pts_samples: int) -> int | None:
        """Remove every queued frame with pts >= ``pts_samples``; return the first removed pts."""
        first: int | None = None
        kept: deque[Item] = deque()
        for item in self._items:
            if isinstance(item, Frame) and item.pts_samples >= pts_samples:
                first = item.pts_samples if first is None else first
                self._frames -= 1
            else:
                kept.append(item)
        self._items = kept
        return first

    def first_speech_pts(self) -> int | None:
        """The pts of the oldest queued speech frame, if any."""
        for item in self._items:
            if isinstance(item, Frame) and item.speaking:
                return item.pts_samples
        return None

    def close(self, error: BaseException | None = None) -> None:
        """No more items; ``get`` raises ``error`` (if given) before anything still queued."""
        self._closed = True
        if error is not None and self._error is None:
            self._error = error
        self._ready.set()

    def get_nowait(self) -> Item | None:
        """The next item, or None when nothing is queued. Raises the close error or OutboxClosed."""
        if self._error is not None:
            raise self._error
        if self._dropped:
            n, self._dropped = self._dropped, 0
            return Event(EventType.FRAMES_DROPPED, self._dropped_pts, f"{n} idle frames dropped")
        if self._items:
            item = self._items.popleft()
            if isinstance(item, Frame):
                self._frames -= 1
                if self.on_take is not None:
                    self.on_take()
            return item
        if self._closed:
            raise OutboxClosed
        self._ready.clear()
        return None

    async def get(self) -> Item:
        """Wait for the next item. Raises the close error, or OutboxClosed at the end."""
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            await self._ready.wait()
