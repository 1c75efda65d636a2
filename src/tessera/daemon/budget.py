"""How many bytes of answers may wait in memory for clients that do not read them.

An answer the client has not read yet stays in our write buffer. Without a bound, a thousand
connections that each ask for a megabyte of random data and never read pin a gigabyte. Each
connection holds at most one unread answer (it produces the next only when the previous one has
gone out); this budget bounds their sum per user and in total. A connection over the budget
waits, its request unread, until another connection's answer drains or goes away; one user's
unread answers cannot hold up the others', because each user has a share of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

DEFAULT_TOTAL = 64 << 20
DEFAULT_PER_UID = 8 << 20


class AnswerBudget:
    """Unread answer bytes per connection, summed per uid and in total."""

    def __init__(self, total: int = DEFAULT_TOTAL, per_uid: int = DEFAULT_PER_UID) -> None:
        self._total_limit = total
        self._uid_limit = per_uid
        self._total = 0
        self._by_uid: dict[int | None, int] = {}
        self._held: dict[Hashable, tuple[int | None, int]] = {}
        # Connections waiting for room, in arrival order, with their uid.
        self._waiters: dict[Hashable, tuple[int | None, Callable[[], None]]] = {}

    @property
    def held(self) -> int:
        """Unread answer bytes in all."""
        return self._total

    def allows(self, uid: int | None) -> bool:
        """True if a connection of `uid` may produce another answer now."""
        return self._total < self._total_limit and self._by_uid.get(uid, 0) < self._uid_limit

    def hold(self, holder: Hashable, uid: int | None, size: int) -> None:
        """`holder` has `size` unread bytes (replacing what it held before)."""
        self._drop(holder)
        if size > 0:
            self._held[holder] = (uid, size)
            self._total += size
            self._by_uid[uid] = self._by_uid.get(uid, 0) + size

    def release(self, holder: Hashable) -> None:
        """`holder`'s answers were read (or it went away): wake, in order, those who now fit."""
        if not self._drop(holder):
            return
        for waiter, (uid, wake) in list(self._waiters.items()):
            if self._total >= self._total_limit:
                break  # the rest keep waiting, in order, without being woken for nothing
            if self.allows(uid):
                del self._waiters[waiter]
                wake()

    def wait(self, holder: Hashable, uid: int | None, wake: Callable[[], None]) -> None:
        """Call `wake` once there is room for an answer of `uid`."""
        self._waiters.setdefault(holder, (uid, wake))

    def forget(self, holder: Hashable) -> None:
        """`holder` is gone: release what it held and stop waiting for it."""
        self._waiters.pop(holder, None)
        self.release(holder)

    def _drop(self, holder: Hashable) -> bool:
        entry = self._held.pop(holder, None)
        if entry is None:
            return False
        uid, size = entry
        self._total -= size
        remaining = self._by_uid[uid] - size
        if remaining:
            self._by_uid[uid] = remaining
        else:
            del self._by_uid[uid]
        return True
