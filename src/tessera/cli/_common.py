"""What every client-side command shares: global options, the client, input, output, errors.

A command is a function `(Context, argparse.Namespace) -> None` wrapped by `command()`, which
builds the context, turns every failure into one line on stderr and an exit code (`_errors`),
and never lets a traceback through. Commands talk to the service only through
`tessera.client`: the idiomatic `Client`, or, for the commands on one key that scripts run in a
loop (sign, verify...), the same flows `Key`'s methods run (`tessera.client._keyflows`), driven
by the operation client alone so that neither `Client`'s imports nor protobuf load.
"""

from __future__ import annotations

import binascii
import os
import sys
from collections.abc import Callable

from tessera.cli._commands import add_output_options
from tessera.cli._errors import CliError, ExitCode, exit_code, message
from tessera.client._limits import MAX_TIMEOUT

# Start-up time: typing, pathlib, json, base64 and contextlib are not imported by every command
# (json and base64 where they are used).
TYPE_CHECKING = False
if TYPE_CHECKING:  # imported when a command first needs it: start-up time
    import argparse
    from typing import Any, TypeVar

    import tessera.client as tessera
    from tessera.client import OperationClient
    from tessera.client._discovery import Capabilities, KeyFlow
    from tessera.client._keyref import KeyRef

    T = TypeVar("T")

# parsec-tool names itself this way when the service only accepts direct authentication.
DEFAULT_APP_NAME = "parsec-tool"
NO_TIMEOUT = MAX_TIMEOUT  # `--timeout 0`: the longest wait a client accepts

CommandFunction = Callable[["Context", "argparse.Namespace"], None]


def invalid(message: str) -> Exception:
    """A bad argument value, as argparse reports it (the quick reader declines a line whose
    value a type refuses, and argparse, reading it again, calls the type again)."""
    import argparse

    return argparse.ArgumentTypeError(message)


def provider_id(text: str) -> int:
    """A provider id argument, 0-255 (decimal or 0x..)."""
    try:
        value = int(text, 0)
    except ValueError:
        raise invalid(f"not a provider id: {text!r}") from None
    if not 0 <= value <= 255:
        raise invalid(f"provider ids are 0-255, not {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise invalid(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or value > NO_TIMEOUT:
        raise invalid(f"timeout must be 0 (none) or positive, not {text}")
    return value


def _byte_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise invalid(f"not a number of bytes: {text!r}") from None
    if value <= 0:
        raise invalid(f"must be a positive number of bytes, not {value}")
    return value


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """The options given before the sub-command (as parsec-tool's `-p` and `-t`)."""
    group = parser.add_argument_group("client options (before the command)")
    group.add_argument(
        "--endpoint",
        metavar="URI",
        help="the service socket, unix:/path or a path "
        "(default: $PARSEC_SERVICE_ENDPOINT, then Tessera's and Parsec's default sockets)",
    )
    group.add_argument(
        "-p",
        "--provider",
        type=provider_id,
        metavar="ID",
        help="the provider to use (default: the service's first that can do the job)",
    )
    group.add_argument(
        "-t",
        "--timeout",
        type=_seconds,
        metavar="SECONDS",
        help="timeout of each operation; 0 waits forever (default: the client's, 60)",
    )
    group.add_argument(
        "--app-name",
        metavar="NAME",
        help="authenticate directly as this application name "
        "(default: the strongest authentication the service offers)",
    )
    group.add_argument(
        "--max-request-size",
        type=_byte_count,
        metavar="BYTES",
        help="the service's body_len_limit, where it is not the default 1048576: bigger "
        "messages are signed, verified and hashed through a digest made here",
    )
    add_output_options(group, top=True)


class Context:
    """One command's view of the world: its options, a lazily made client, its output."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.json: bool = bool(getattr(args, "json", False))
        self.verbose: bool = bool(getattr(args, "verbose", False))
        self.provider: int | None = getattr(args, "provider", None)
        self._client: tessera.Client | None = None
        self._operations: OperationClient | None = None
        self._capabilities: Capabilities | None = None

    def _options(self) -> dict[str, Any]:
        app_name: str | None = getattr(self.args, "app_name", None)
        options: dict[str, Any] = {"provider": self.provider}
        if app_name is not None:
            from tessera.client._auth import DirectAuth

            options["auth"] = DirectAuth(app_name)
        options["app_name"] = app_name or DEFAULT_APP_NAME
        timeout: float | None = getattr(self.args, "timeout", None)
        if timeout is not None:
            options["timeout"] = timeout or NO_TIMEOUT
        return options

    @property
    def client(self) -> tessera.Client:
        """The idiomatic client (keys, signatures...), connected on first use."""
        if self._client is None:
            from tessera.client._client import Client

            options = self._options()
            size: int | None = getattr(self.args, "max_request_size", None)
            if size is not None:
                options["max_request_size"] = size
            self._client = Client(getattr(self.args, "endpoint", None), **options)
            if self._operations is not None:
                self._operations.close()  # made first (a key's lookup): the client has its own
            self._operations = self._client.operations
        return self._client

    @property
    def operations(self) -> OperationClient:
        """The operation client alone: what `ping` and `list-*` need, quicker to import."""
        if self._operations is None:
            from tessera.client._operations import OperationClient

            endpoint = getattr(self.args, "endpoint", None)
            self._operations = OperationClient(endpoint, **self._options())
        return self._operations

    def report_choices(self, *, succeeded: bool) -> None:
        """With -v: which endpoint and which authentication the client chose, on stderr (after
        a success, the authentication is chosen if the command needed none, as `ping`)."""
        if not self.verbose or self._operations is None:
            return
        from tessera.cli._verbose import describe_choices

        endpoint = getattr(self.args, "endpoint", None)
        given = getattr(self.args, "app_name", None) is not None
        lines = describe_choices(self._operations, endpoint, app_name_given=given, choose=succeeded)
        for line in lines:
            try:  # noqa: SIM105 (contextlib is not imported by every command)
                print(f"tessera: {line}", file=sys.stderr)
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        """Close the client's connections."""
        if self._operations is not None:
            self._operations.close()

    @property
    def capabilities(self) -> Capabilities:
        """What the service offers, asked once (the client's own, once there is a client)."""
        if self._client is not None:
            return self._client._capabilities
        if self._capabilities is None:
            from tessera.client._discovery import DEFAULT_REQUEST_LIMIT, Capabilities

            size: int | None = getattr(self.args, "max_request_size", None)
            self._capabilities = Capabilities(DEFAULT_REQUEST_LIMIT if size is None else size)
        return self._capabilities

    def run(self, flow: KeyFlow[T]) -> T:
        """Run one of the client library's flows (`_keyflows`) as `Key`'s methods run them."""
        from tessera.client._twin import drive

        return drive(flow, self.operations._execute)

    def key_ref(self, name: str) -> KeyRef:
        """One of our keys by name (in the `--provider` given, if any), as the flows take it:
        its attributes as the service sent them (`Client.key` and `Client.keys` find it so)."""
        from tessera.client import _calls, _keyflows
        from tessera.client._errors import DoesNotExistError
        from tessera.client._keyref import KeyRef

        if self.provider is None:
            try:
                return self.run(_keyflows.lookup(name, self.capabilities))
            except DoesNotExistError:
                raise CliError(f"no key named {name!r}", ExitCode.NOT_FOUND) from None
        for info in self.operations._execute(_calls.list_keys()):
            if info.name == name and info.provider_id == self.provider:
                return KeyRef.of(info)
        raise CliError(f"no key named {name!r} in provider {self.provider}", ExitCode.NOT_FOUND)

    def key(self, name: str) -> tessera.Key:
        """One of our keys by name (in the `--provider` given, if any), as a `tessera.Key`."""
        from tessera.client._client import Key

        client = self.client
        return Key(client, self.key_ref(name))

    def emit(self, text: str | None, data: dict[str, Any]) -> None:
        """Print the result: `data` as one JSON line with --json, else `text` (if any)."""
        if self.json:
            import json

            print(json.dumps(data))
        elif text is not None:
            print(text)


def command(function: CommandFunction) -> Callable[[argparse.Namespace], int]:
    """Wrap a command: exit code 0, or one line on stderr and the failure's exit code."""

    def run(args: argparse.Namespace) -> int:
        context = Context(args)
        try:
            function(context, args)
            if sys.stdout is not None:
                sys.stdout.flush()
            context.report_choices(succeeded=True)
        except BrokenPipeError:
            silence_stdout()
            return ExitCode.BROKEN_PIPE
        except KeyboardInterrupt:
            return ExitCode.INTERRUPTED
        except Exception as error:
            context.report_choices(succeeded=False)
            return fail(error)
        finally:
            context.close()
        return ExitCode.OK

    run.__doc__ = function.__doc__
    return run


def fail(error: BaseException) -> int:
    """Report a failure on one stderr line; returns its exit code."""
    try:  # noqa: SIM105 (contextlib is not imported by every command)
        print(f"tessera: {message(error)}", file=sys.stderr)
    except (OSError, ValueError):  # stderr gone too: the exit code tells
        pass
    return int(exit_code(error))


def silence_stdout() -> None:
    """After EPIPE, point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        stdout = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (tests): nothing will flush it at exit
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, stdout)
    finally:
        os.close(devnull)


# input


def add_data_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """The input of a command: a positional string (as parsec-tool) or `--input-file`."""
    parser.add_argument("input_data", nargs="?", metavar="DATA", help=what)
    parser.add_argument(
        "-f",
        "--input-file",
        metavar="PATH",
        help="read the input's raw bytes from this file instead ('-' for stdin)",
    )


def read_data(args: argparse.Namespace, *, base64_text: bool = False) -> bytes:
    """The command's input: DATA (UTF-8 text, or base64 if `base64_text`) or the file's bytes."""
    text: str | None = args.input_data
    path: str | None = args.input_file
    if (text is None) == (path is None):
        raise CliError("give the input either as DATA or with --input-file, not both or neither")
    if path is not None:
        return read_file(path)
    assert text is not None
    if base64_text:
        return decode_base64(text, "DATA")
    return text.encode("utf-8", errors="surrogateescape")


def read_file(path: str) -> bytes:
    """A file's bytes ('-' for stdin); CliError if it cannot be read."""
    try:
        if path == "-":
            return sys.stdin.buffer.read()
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise CliError(f"cannot read {path}: {error.strerror or error}") from None


def decode_base64(text: str, what: str) -> bytes:
    """Standard base64 (whitespace ignored); CliError naming `what` if it is not."""
    try:
        # base64.b64decode(..., validate=True) is this (the module base64 imports `re`)
        return binascii.a2b_base64("".join(text.split()).encode("ascii"), strict_mode=True)
    except (binascii.Error, ValueError):  # (UnicodeEncodeError is a ValueError)
        raise CliError(f"{what} is not valid base64") from None


def b64(data: bytes) -> str:
    """Standard base64 text of bytes (how binary values appear in output and JSON)."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")  # base64.b64encode's
