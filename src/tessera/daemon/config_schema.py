"""The one strict reader under every daemon's TOML config (DESIGN.md section 6).

A daemon's parser reads each setting through a `Table` getter, which checks its type exactly (a
boolean is not an integer, an integer is not a float, a string stays a string), its range or
choices, and records that the key was asked for. `Table.finish` then refuses whatever no getter
asked for: a typo, a section of another daemon. tomllib keeps no positions, so `Source` finds the
line by scanning the file's text for the key within its table; difflib names the nearest key.
"""

from __future__ import annotations

import difflib
import grp
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.config import ConfigError, config_path
from tessera.wire.framing import Limits

__all__ = [
    "ConnectionSettings",
    "Source",
    "Table",
    "given_overrides",
    "read_connections",
    "read_limits",
    "read_socket_group",
    "read_toml",
]

Where = tuple[str | int, ...]  # keys from the document's root; ints index arrays of tables
_BARE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_INT64 = 1 << 63


class Source:
    """A config file's name and text, to say on which line a key was written."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self._lines: dict[Where, int] = {}
        self._index(text)

    def line(self, where: Where) -> int | None:
        """The line of `where` (a key or table), else of the nearest enclosing one written."""
        for end in range(len(where), 0, -1):
            found = self._lines.get(where[:end])
            if found is None and end == len(where):  # a section only written as [a.b]
                found = min((n for w, n in self._lines.items() if w[:end] == where), default=None)
            if found is not None:
                return found
        return None

    def _index(self, text: str) -> None:
        table: Where = ()
        counts: dict[tuple[str, ...], int] = {}  # [[array]] headers seen so far
        fence: str | None = None  # inside a multi-line string opened by this quote
        for number, line in enumerate(text.splitlines(), 1):
            if fence is not None:
                if line.count(fence) % 2:
                    fence = None
                continue
            stripped = line.strip()
            if stripped.startswith("["):
                array = stripped.startswith("[[")
                keys = _keys(stripped[2 if array else 1 :], "]")
                if keys is not None:
                    if array:
                        counts[tuple(keys)] = counts.get(tuple(keys), -1) + 1
                    table = _resolve(keys, counts)
                    self._lines.setdefault(table, number)
                continue
            keys = _keys(stripped, "=")
            if keys is not None:
                self._lines.setdefault(table + tuple(keys), number)
                for quote in ('"""', "'''"):
                    if line.count(quote) % 2:
                        fence = quote


def _resolve(keys: list[str], counts: dict[tuple[str, ...], int]) -> Where:
    """A header's keys with the current index after each array of tables."""
    where: list[str | int] = []
    for end, key in enumerate(keys, 1):
        where.append(key)
        if tuple(keys[:end]) in counts:
            where.append(counts[tuple(keys[:end])])
    return tuple(where)


def _keys(text: str, terminator: str) -> list[str] | None:
    """The dotted key at the start of `text`, ended by `terminator`; None if there is none."""
    keys: list[str] = []
    rest = text
    while True:
        rest = rest.lstrip()
        if rest[:1] in ('"', "'"):
            quote = rest[0]
            end = 1
            while end < len(rest) and rest[end] != quote:
                end += 2 if quote == '"' and rest[end] == "\\" else 1
            try:
                keys.append(tomllib.loads(f"k = {rest[: end + 1]}")["k"])
            except tomllib.TOMLDecodeError:
                return None
            rest = rest[end + 1 :]
        else:
            end = 0
            while end < len(rest) and rest[end] in _BARE:
                end += 1
            if end == 0:
                return None
            keys.append(rest[:end])
            rest = rest[end:]
        rest = rest.lstrip()
        if rest.startswith("."):
            rest = rest[1:]
        elif rest.startswith(terminator):
            return keys
        else:
            return None


def read_toml(path: Path) -> tuple[dict[str, Any], Source]:
    """A config file parsed, with its source for line numbers (ConfigError, one line)."""
    try:
        text = path.read_bytes().decode("utf-8")  # TOML is UTF-8
        return tomllib.loads(text), Source(path, text)
    except OSError as error:
        raise ConfigError(f"cannot read config file {path}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"config file {path} is not valid TOML: {error}") from None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Table:
    """One TOML table, read through checking getters that remember what was asked for."""

    def __init__(self, data: Mapping[str, Any], where: Where = (), source: Source | None = None):
        self._data = data
        self._where = where
        self._source = source
        self._asked: set[str] = set()
        self._children: list[Table] = []

    @property
    def name(self) -> str:
        """The table's dotted name, as messages show it (`core_settings`, `identity.rule`)."""
        return ".".join(str(k) for k in self._where if isinstance(k, str))

    def __contains__(self, key: str) -> bool:
        return key in self._data

    def error(self, message: str, key: str | None = None) -> ConfigError:
        """A refusal naming the file and line of `key` (or of this table) when known."""
        if self._source is None:
            return ConfigError(message)
        line = self._source.line(self._where + ((key,) if key is not None else ()))
        place = f"{self._source.path}:{line}" if line is not None else str(self._source.path)
        return ConfigError(f"{place}: {message}".replace("\n", "\\n"))

    def missing(self, key: str, message: str) -> ConfigError:
        """The refusal of a required `key` that is absent: a key written instead that is close to
        it (a typo) is named, at its line."""
        written = [k for k in self._data if isinstance(k, str) and k not in self._asked]
        near = difflib.get_close_matches(key, written, n=1, cutoff=0.6)
        if not near:
            return self.error(message)
        return self.error(f"{message}: {near[0]!r} is written (did you mean {key!r}?)", near[0])

    def setting(self, key: str) -> str:
        """How messages name a key of this table."""
        return f"{self.name}.{key}" if self.name else key

    def value(self, key: str, default: Any = None) -> Any:
        """The raw value (for a parser's own checks); the key counts as read."""
        self._asked.add(key)
        return self._data.get(key, default)

    def _typed(self, key: str, default: Any, kinds: tuple[type, ...], what: str) -> Any:
        value = self.value(key, default)
        # bool is an int subclass, int is not float: each must be what the setting says.
        if type(value) not in kinds:
            raise self.error(f"{self.setting(key)} must be {what}, not {_shown(value)}", key)
        # TOML integers are 64-bit (tomllib reads longer ones); nan and inf are no setting.
        if type(value) in (int, float) and not abs(value) < _INT64:
            raise self.error(f"{self.setting(key)} is out of range", key)
        return value

    def boolean(self, key: str, default: bool) -> bool:
        """`true` or `false`, nothing that merely looks like one."""
        value: bool = self._typed(key, default, (bool,), "true or false")
        return value

    def integer(
        self, key: str, default: int, *, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        """An integer (not a float, not a boolean) within the bounds."""
        value: int = self._typed(key, default, (int,), "an integer")
        self._bounds(key, value, minimum, maximum)
        return value

    def optional_integer(
        self, key: str, *, minimum: int | None = None, maximum: int | None = None
    ) -> int | None:
        """An integer within the bounds, or None when the key is absent."""
        self._asked.add(key)
        if key not in self._data:
            return None
        return self.integer(key, 0, minimum=minimum, maximum=maximum)

    def number(
        self, key: str, default: float, *, minimum: float, maximum: float | None = None
    ) -> float:
        """An integer or a float, finite, within the bounds."""
        value = float(self._typed(key, default, (int, float), "a number"))
        self._bounds(key, value, minimum, maximum)
        return value

    def _bounds(self, key: str, value: float, minimum: float | None, maximum: float | None) -> None:
        if minimum is not None and value < minimum:
            raise self.error(f"{self.setting(key)} must be at least {minimum}", key)
        if maximum is not None and value > maximum:
            raise self.error(f"{self.setting(key)} must be at most {maximum}", key)

    def string(self, key: str, default: str, *, empty: bool = False) -> str:
        """A string (non-empty unless `empty`)."""
        value: str = self._typed(key, default, (str,), "a string")
        if not value and not empty:
            raise self.error(f"{self.setting(key)} must not be empty", key)
        return value

    def optional_string(self, key: str, *, empty: bool = False) -> str | None:
        """A string (non-empty unless `empty`), or None when the key is absent."""
        self._asked.add(key)
        return None if key not in self._data else self.string(key, "", empty=empty)

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        """One of `choices`."""
        value = self.string(key, default, empty=True)
        if value not in choices:
            allowed = ", ".join(choices)
            raise self.error(f"{self.setting(key)} must be one of {allowed}, not {value!r}", key)
        return value

    def path(self, key: str, default: str) -> Path:
        """A path (`~` expanded)."""
        return config_path(self.string(key, default), self.setting(key))

    def optional_path(self, key: str) -> Path | None:
        """A path, or None when the key is absent."""
        self._asked.add(key)
        return None if key not in self._data else self.path(key, "")

    def strings(self, key: str, default: list[str]) -> list[str]:
        """A list of strings."""
        value = self._typed(key, default, (list,), "a list of strings")
        if not all(type(item) is str for item in value):
            raise self.error(f"{self.setting(key)} must be a list of strings", key)
        return list(value)

    def table(self, key: str, *, array_of_one: bool = False) -> Table:
        """A sub-table (empty when absent). `array_of_one`: `[[key]]` written once is taken too,
        as Parsec's files write `[[key_manager]]`."""
        value = self.value(key, {})
        where = (*self._where, key)
        if array_of_one and type(value) is list and len(value) == 1 and type(value[0]) is dict:
            value, where = value[0], (*where, 0)
        if type(value) is not dict:
            raise self.error(f"[{self.setting(key)}] must be a table", key)
        return self._child(value, where)

    def optional_table(self, key: str) -> Table | None:
        """A sub-table, or None when absent."""
        self._asked.add(key)
        return self.table(key) if key in self._data else None

    def tables(self, key: str) -> list[Table]:
        """An array of tables (`[[key]]`; empty when absent)."""
        value = self.value(key, [])
        if type(value) is not list or not all(type(item) is dict for item in value):
            raise self.error(f"[[{self.setting(key)}]] must be an array of tables", key)
        return [self._child(item, (*self._where, key, i)) for i, item in enumerate(value)]

    def _child(self, data: Mapping[str, Any], where: Where) -> Table:
        child = Table(data, where, self._source)
        self._children.append(child)
        return child

    def written(self) -> list[str]:
        """The keys written in this table."""
        return list(self._data)

    def unread(self) -> Iterator[tuple[Table, str]]:
        """Keys no getter asked for, here and in the sub-tables read."""
        for key in self._data:
            if key not in self._asked:
                yield self, key
        for child in self._children:
            yield from child.unread()

    def finish(self) -> None:
        """Refuse the first key or section (in file order) that nothing read."""
        unknown = list(self.unread())
        if not unknown:
            return
        table, key = min(unknown, key=lambda item: item[0]._line_of(item[1]))
        raise table.error(table._unknown_message(key), key)

    def _line_of(self, key: str) -> int:
        line = self._source.line((*self._where, key)) if self._source else None
        return line if line is not None else 1 << 31

    def _unknown_message(self, key: str) -> str:
        known = sorted(self._asked)  # every key a parser asks for, written or not
        near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        if not self._where and type(self._data.get(key)) in (dict, list):
            message = f"unknown section [{key}]"
            named = [f"[{name}]" for name in (near or known)]
        else:
            table = f"[{self.name}]" if self.name else "the top level"
            if self._where and isinstance(self._where[-1], int):
                table = f"[[{self.name}]]"
            message = f"unknown key {key!r} in {table}"
            named = [repr(name) for name in (near or known)]
        if near:
            return f"{message} (did you mean {named[0]}?)"
        return f"{message} (known: {', '.join(named)})" if known else message


def read_limits(table: Table) -> Limits:
    """A listener's frame size limits, named as in the service's `[core_settings]`."""
    return Limits(
        max_header_size=table.integer("header_size_limit", 64, minimum=30, maximum=65535),
        max_body_size=table.integer("body_len_limit", 1 << 20, minimum=0),
        max_auth_size=table.integer("auth_len_limit", 65535, minimum=0, maximum=65535),
    )


@dataclass(frozen=True)
class ConnectionSettings:
    """A listener's timeouts (seconds) and connection shares, as the service's `[listener]` and
    the identity provider's `[identity]` set them."""

    request_timeout: float = 1.0
    idle_timeout: float = 60.0
    drain_timeout: float = 5.0
    max_connections: int = 1024
    max_connections_per_uid: int = 256  # one user's share, so it cannot lock the others out
    first_byte_timeout: float = 5.0  # a new connection that says nothing is closed after this


def read_connections(table: Table) -> ConnectionSettings:
    """A listener's timeouts (milliseconds in the file) and connection shares."""
    return ConnectionSettings(
        request_timeout=table.integer("timeout", 1000, minimum=1) / 1000,
        idle_timeout=table.integer("idle_timeout", 60000, minimum=1) / 1000,
        drain_timeout=table.integer("drain_timeout", 5000, minimum=0) / 1000,
        max_connections=table.integer("max_connections", 1024, minimum=1),
        max_connections_per_uid=table.integer("max_connections_per_uid", 256, minimum=1),
        first_byte_timeout=table.integer("first_byte_timeout", 5000, minimum=1) / 1000,
    )


def read_socket_group(table: Table) -> str | None:
    """The group whose members may connect to a daemon's socket besides its owner (applications
    running as other users); None when unset. A group that does not exist is refused."""
    group = table.string("socket_group", "", empty=True) or None
    if group is not None:
        try:
            grp.getgrnam(group)
        except (KeyError, ValueError):  # ValueError: a NUL in the name
            message = f"{table.setting('socket_group')}: no group named {group!r}"
            raise table.error(message) from None
    return group


def given_overrides(
    changes: Mapping[str, Any], under_state_dir: Mapping[str, Callable[[Path], Path]]
) -> dict[str, Any]:
    """The command-line overrides given (None: not given). A new state_dir moves each socket
    of `under_state_dir` (setting: its default path below a state directory) along with it,
    unless that socket is given too."""
    given = {k: v for k, v in changes.items() if v is not None}
    if "state_dir" in given:
        for setting, default in under_state_dir.items():
            given.setdefault(setting, default(given["state_dir"]))
    return given
