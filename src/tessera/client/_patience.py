"""How long one call waits for a daemon that is restarting: a budget of pauses, no clock.

A kill -9 of the service, the identity provider or the orchestrator must not reach the
application: the daemon is restarted by its supervisor and trust is re-established within
seconds. Each call therefore pauses and tries again, with backoff, until `budget` seconds of
pauses have been spent (the call's `timeout` still bounds it as a whole). Counting pauses rather
than reading a clock keeps the flows sans-I/O and their tests deterministic.
"""

from __future__ import annotations

import os

from tessera.client._errors import UsageError

RESTART_WAIT_ENV = "TESSERA_RESTART_WAIT"
DEFAULT_RESTART_WAIT = 10.0
FIRST_PAUSE = 0.05
MAX_PAUSE = 0.25  # a restarted daemon is noticed within a quarter of a second


def restart_wait(explicit: float | None) -> float:
    """The argument, else `TESSERA_RESTART_WAIT`, else 10 s; 0 means "never wait"."""
    if explicit is None:
        text = os.environ.get(RESTART_WAIT_ENV, "").strip()
        if not text:
            return DEFAULT_RESTART_WAIT
        try:
            explicit = float(text)
        except ValueError:
            raise UsageError(f"{RESTART_WAIT_ENV}={text!r} is not a number of seconds") from None
        where = RESTART_WAIT_ENV
    else:
        where = "restart_wait"
    if not explicit >= 0 or explicit == float("inf"):
        raise UsageError(f"{where} must be a finite number of seconds, 0 or more")
    return float(explicit)


class Patience:
    """The pauses one call may still take: `budget` seconds in all, with backoff.

    (A plain class, not a dataclass: the `tessera` command's start-up.)
    """

    __slots__ = ("_next", "budget", "waited")

    def __init__(
        self, budget: float = DEFAULT_RESTART_WAIT, waited: float = 0.0, _next: float = FIRST_PAUSE
    ) -> None:
        self.budget = budget
        self.waited = waited
        self._next = _next

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Patience)
        return (self.budget, self.waited, self._next) == (other.budget, other.waited, other._next)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Patience(budget={self.budget!r}, waited={self.waited!r})"

    def next_pause(self) -> float | None:
        """Seconds to pause before trying again, or None once the budget is spent."""
        seconds = min(self._next, self.budget - self.waited)
        if seconds <= 0:
            return None
        self.waited += seconds
        self._next = min(self._next * 2, MAX_PAUSE)
        return seconds
