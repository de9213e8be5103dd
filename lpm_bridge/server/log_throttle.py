"""Log throttling: a flood of failing connections must not become a flood of log lines.

A hostile or broken client can fail thousands of connections a second; each failure, logged
with its traceback, once wrote 630 MB of log in 161 s. ``LogThrottle`` is a logging filter:
each message (its template, before arguments) passes at most once per ``interval_s``, with
a count of the ones held back since, and connection errors (the peer went away, a socket
call failed, a timeout) lose their traceback and keep one line naming the exception.
Other errors keep their traceback: a bug in the daemon still shows where it is, once per
interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Final

from websockets.exceptions import WebSocketException

# Failures of the connection rather than of the daemon: a one-line log is enough.
CONNECTION_ERRORS: Final = (OSError, EOFError, asyncio.TimeoutError, WebSocketException)
_MAX_KEYS: Final[int] = 256  # distinct messages remembered; more (f-strings) start afresh


class LogThrottle(logging.Filter):
    """Pass each message at most once per ``interval_s``; see the module docstring."""

    def __init__(self, interval_s: float = 10.0) -> None:
        super().__init__()
        self.interval_s = interval_s
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = f"{record.name}:{record.msg}"
        now = time.monotonic()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        if len(self._last) >= _MAX_KEYS:
            self._last.clear()
            self._held.clear()
        self._last[key] = now
        held = self._held.pop(key, 0)
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, CONNECTION_ERRORS):
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
        if held:
            record.msg = f"{record.getMessage()} ({held} more like it not logged)"
            record.args = None
        return True


def throttled_logger(name: str, interval_s: float = 10.0) -> logging.Logger:
    """A logger of its own with a ``LogThrottle``, passing what it lets through on to
    ``logging.getLogger(name)``'s handlers (and its parents').

    Not registered under ``name``: each owner (a gateway) throttles its own records, and
    two owners in one process never silence each other.
    """
    logger = logging.Logger(name)
    logger.parent = logging.getLogger(name)
    logger.addFilter(LogThrottle(interval_s))
    return logger
