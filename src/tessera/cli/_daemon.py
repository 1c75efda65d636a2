"""What the daemon sub-commands share: load, configure logging, run, report one line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar


class StartupError(Exception):
    """A daemon cannot start; the message is one line for the user."""


class _Configured(Protocol):
    @property
    def log_level(self) -> str: ...

    @property
    def log_format(self) -> str: ...


C = TypeVar("C", bound=_Configured)


def run_daemon(what: str, load: Callable[[], C], run: Callable[[C], None]) -> int:
    """Load a daemon's configuration, set up logging and run it until a signal.

    Configuration mistakes, a socket in use and OS errors become one-line StartupErrors.
    """
    from tessera.config import ConfigError
    from tessera.daemon.log_output import configure_logging
    from tessera.daemon.socket_file import SocketInUseError

    try:
        config = load()
        configure_logging(config.log_level, config.log_format)
        run(config)
    except (ConfigError, SocketInUseError) as error:
        raise StartupError(str(error)) from None
    except OSError as error:
        raise StartupError(f"cannot start the {what}: {error}") from None
    return 0
