"""The event loop every daemon runs on, and the signals that stop or reload it.

Kept apart from the front end (runner.py) so that a process that serves no request itself (the
service's master of worker processes) runs on the same loop without loading it.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any

__all__ = ["handle_signals", "install_event_loop_policy", "run"]


def install_event_loop_policy() -> None:
    """Use uvloop when it is installed: same semantics, faster I/O."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run(main: Coroutine[Any, Any, None], *, fast_loop: bool = True) -> None:
    """Run a daemon's main coroutine, on uvloop when `fast_loop` and it is installed."""
    if fast_loop:
        install_event_loop_policy()
    asyncio.run(main)


def handle_signals(
    loop: asyncio.AbstractEventLoop, stop: asyncio.Event, reload: asyncio.Event | None
) -> list[signal.Signals]:
    """Handlers that only set a flag; the signals handled, to remove at the end."""
    signals = [signal.SIGTERM, signal.SIGINT]
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    if reload is not None:
        signals.append(signal.SIGHUP)
        loop.add_signal_handler(signal.SIGHUP, reload.set)
    return signals
