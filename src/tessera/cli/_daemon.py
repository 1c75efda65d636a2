"""What the daemon sub-commands share: load, configure logging, run, report one line."""

from __future__ import annotations

from collections.abc import Callable

TYPE_CHECKING = False  # typing is not imported at run time (the client commands' start-up)
if TYPE_CHECKING:
    import argparse
    from typing import Protocol, TypeVar

    class _Configured(Protocol):
        @property
        def log_level(self) -> str: ...

        @property
        def log_format(self) -> str: ...

    C = TypeVar("C", bound=_Configured)


class StartupError(Exception):
    """A daemon cannot start; the message is one line for the user."""


def add_daemon_options(parser: argparse.ArgumentParser) -> None:
    """The options every daemon command takes alike: logging, and whether uid 0 may run it.

    They default to None (not given), so the configuration file's value stands.
    """
    from tessera.daemon.log_output import LOG_FORMATS, LOG_LEVELS  # not on the client path

    parser.add_argument("--log-level", choices=LOG_LEVELS, help="logging verbosity")
    parser.add_argument(
        "--log-format", choices=LOG_FORMATS, help="text lines, or one JSON object per line"
    )
    parser.add_argument(
        "--allow-root", action="store_true", default=None, help="allow running as uid 0"
    )


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
