"""A log line that repeats at most once per interval, so a flood cannot fill the disk."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RateLimitedLog:
    """Logs the first event at once, then at most one line per `interval` seconds, counting
    the events it held back in between."""

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._next = float("-inf")
        self._held_back = 0

    def warning(self, message: str, *args: object) -> None:
        """Log `message` now if the interval has passed, else count it."""
        now = self._clock()
        if now < self._next:
            self._held_back += 1
            return
        if self._held_back:
            message += " (and %d more like it since the last such line)"
            args = (*args, self._held_back)
        self._logger.warning(message, *args)
        self._held_back = 0
        self._next = now + self._interval
