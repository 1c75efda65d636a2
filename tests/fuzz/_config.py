"""What the configuration targets share: a file to load, and the properties of any answer.

A loader given any bytes as its TOML file returns a configuration or raises ConfigError with a
one-line message (it is printed as the daemon's last word); nothing else escapes. A returned
configuration holds what its annotations say (an `int` where `str | None` is declared fails only
later, in the running daemon), every number in it is finite (an infinite timeout, likewise), and
its log level is one the CLI can set.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import math
import re
import sys
import types
import typing
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from tessera.config import ConfigError
from tests.fuzz._scratch import process_dir

_T = TypeVar("_T")

# TOML's own tokens, and values that sit on the edges of what loaders check.
TOML_TOKENS = (
    b"[[",
    b"]]",
    b" = ",
    b'"',
    b"'''",
    b"true",
    b"false",
    b"inf",
    b"nan",
    b"-0",
    b"1e999",
    b"18446744073709551616",
    b"{ }",
    b"[ ]",
    b"~",
    b"\\u0000",
    b"\\n",
)


@cache
def _scratch() -> Path:
    return process_dir("config") / "config.toml"


def load(data: bytes, loader: Callable[[Path], _T]) -> _T | None:
    """`loader` on a file holding `data`: its result, or None when it raised ConfigError."""
    path = _scratch()
    path.write_bytes(data)
    try:
        result = loader(path)
    except ConfigError as error:
        message = str(error)
        assert message and "\n" not in message and "\r" not in message, repr(message)
        return None
    check_values(result)
    # The CLI hands it to logging: a name logging does not know fails only at start-up.
    level = getattr(result, "log_level", "info")
    assert level in ("debug", "info", "warning", "error"), level
    return result


def check_values(value: object, hint: Any = object, where: str = "config") -> None:
    """A (nested) dataclass holds what its annotations say, and every float in it is finite."""
    assert _fits(value, hint), f"{where} = {value!r} is not {hint}"
    if isinstance(value, float):
        assert math.isfinite(value), f"{where} = {value}"
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        hints = typing.get_type_hints(type(value))
        for field in dataclasses.fields(value):
            name = field.name
            check_values(getattr(value, name), hints.get(name, object), f"{where}.{name}")
    elif isinstance(value, tuple):
        args = typing.get_args(hint)
        for index, item in enumerate(value):
            item_hint = args[0] if len(args) == 2 and args[1] is Ellipsis else object
            if args and args[-1] is not Ellipsis and index < len(args):
                item_hint = args[index]
            check_values(item, item_hint, f"{where}[{index}]")


def _fits(value: object, hint: Any) -> bool:
    """isinstance for the annotations configurations use (classes, unions, generics)."""
    if hint is object or hint is Any:
        return True
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_fits(value, arg) for arg in typing.get_args(hint))
    origin = typing.get_origin(hint) or hint
    if not isinstance(origin, type):
        return True  # a form this check does not know
    if origin is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if origin is int and isinstance(value, bool):
        return False
    return isinstance(value, origin)


def key_tokens(*names: str) -> tuple[bytes, ...]:
    """Dictionary entries for the keys and tables a loader reads."""
    return tuple(f"{name} = ".encode() for name in names)


_WORD = re.compile(r"[a-z][a-z0-9_]{1,40}|[A-Z][A-Za-z0-9]{2,30}")


def schema_words(*modules: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(keys, values): the lower-case and the CamelCase string literals of the named modules
    and of every Tessera config module they import, so the mutator follows the schemas as they
    grow (a few stray words among them do no harm)."""
    for name in modules:
        importlib.import_module(name)
    names = {*modules, *(m for m in sys.modules if m.startswith("tessera.") and "config" in m)}
    keys: set[str] = set()
    values: set[str] = set()
    for name in sorted(names):
        source = inspect.getsource(sys.modules[name])
        for node in ast.walk(ast.parse(source)):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and _WORD.fullmatch(text):
                (keys if text[0].islower() else values).add(text)
    return tuple(sorted(keys)), tuple(sorted(values))
