"""A structure-aware mutator for the configuration targets: TOML in, TOML out.

Byte mutations of a TOML file mostly break its syntax, so a guided run spends its time in the
TOML parser. This mutator parses the input, changes the document (a known key set to a value
from a palette of edge cases, a key deleted, a section added, a value moved elsewhere) and
writes it back, so the loaders see well-formed documents with hostile values. Half the time,
and whenever the input is not TOML, it leaves the work to libFuzzer's byte mutations.
"""

from __future__ import annotations

import copy
import datetime
import json
import math
import random
import tomllib
from collections.abc import Callable, Sequence
from typing import Any

Document = dict[str, Any]

# Values that sit on the edges of what loaders check: types, ranges, paths, names, templates.
PALETTE: tuple[Any, ...] = (
    "",
    "x",
    "info",
    "debug",
    "foo",
    "/tmp/tessera-fuzz",
    "~",
    "~nosuchuser/x",
    "a\x00b",
    "a\nb",
    "/" + "x" * 200,
    "web-*",
    "/{name}",
    "/{name.x}",
    "/{name[x]}",
    "/{0}",
    "{",
    "spiffe://tessera.local/x",
    "hex:zz",
    "str:x",
    "root",
    "nobody",
    "MbedCrypto",
    "Pkcs11",
    "Tpm",
    "DomainSocket",
    "SQLite",
    "Direct",
    "JwtSvid",
    "direct",
    "unix-peer",
    0,
    -1,
    1,
    255,
    256,
    65536,
    (1 << 63) - 1,
    1 << 64,
    10**30,
    0.5,
    -0.0,
    1e300,
    math.inf,
    -math.inf,
    math.nan,
    True,
    False,
    datetime.date(2030, 1, 1),
    [],
    ["x"],
    [1],
    ["direct", "jwt"],
    [{}],
    [{"name": "x"}],
    {},
    {"name": "x"},
)


def _key(text: str) -> str:
    bare = text and all(c.isalnum() or c in "-_" for c in text) and text.isascii()
    return text if bare else json.dumps(text)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are TOML's basic-string escapes
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def dumps(document: Document) -> str:
    """TOML for a document as tomllib returns one (tables as sections, the rest inline)."""
    lines: list[str] = []

    def table(path: list[str], body: Document) -> None:
        for key, value in body.items():
            if not isinstance(value, dict) and not _is_table_array(value):
                lines.append(f"{_key(key)} = {_value(value)}")
        for key, value in body.items():
            name = ".".join(_key(part) for part in [*path, key])
            if isinstance(value, dict):
                lines.append(f"[{name}]")
                table([*path, key], value)
            elif _is_table_array(value):
                for item in value:
                    lines.append(f"[[{name}]]")
                    table([*path, key], item)

    table([], document)
    return "\n".join(lines) + "\n"


def _tables(value: Any, found: list[Document]) -> list[Document]:
    """Every table in a document, nested ones and array entries included."""
    if isinstance(value, dict):
        found.append(value)
        for item in value.values():
            _tables(item, found)
    elif isinstance(value, list):
        for item in value:
            _tables(item, found)
    return found


def _values(value: Any, found: list[Any]) -> list[Any]:
    if isinstance(value, dict):
        for item in value.values():
            found.append(item)
            _values(item, found)
    elif isinstance(value, list):
        for item in value:
            _values(item, found)
    return found


def mutate_document(
    document: Document, rng: random.Random, keys: Sequence[str], palette: Sequence[Any] = PALETTE
) -> None:
    """One structural change, in place. `keys`: names the loader reads (and sections)."""
    tables = _tables(document, [])
    where = rng.choice(tables)
    choice = rng.randrange(5)
    if choice == 0 and where:
        del where[rng.choice(list(where))]
    elif choice == 1:
        where[rng.choice(keys)] = rng.choice([{}, [{}]])
    elif choice == 2 and (moved := _values(document, [])):
        where[rng.choice(keys)] = copy.deepcopy(rng.choice(moved))  # a copy: no cycles
    else:
        where[rng.choice([*keys, *where])] = copy.deepcopy(rng.choice(palette))


Fallback = Callable[[bytes, int], bytes]  # libFuzzer's own mutation (atheris.Mutate)
Mutator = Callable[[bytes, int, int, Fallback], bytes]


def mutator(keys: Sequence[str], values: Sequence[str] = ()) -> Mutator:
    """A libFuzzer custom mutator over TOML documents; `fallback` mutates bytes. `keys` are the
    names the loader reads, `values` words it knows (added to the palette)."""
    palette = (*PALETTE, *values)

    def mutate(data: bytes, max_size: int, seed: int, fallback: Fallback) -> bytes:
        rng = random.Random(seed)
        if rng.random() < 0.5:
            return fallback(data, max_size)
        try:
            document = tomllib.loads(data.decode())
        except (UnicodeDecodeError, tomllib.TOMLDecodeError):
            return fallback(data, max_size)
        for _ in range(rng.randrange(1, 4)):
            mutate_document(document, rng, keys, palette)
        try:
            text = dumps(document).encode()
        except (TypeError, RecursionError):
            return fallback(data, max_size)
        return text if len(text) <= max_size else fallback(data, max_size)

    return mutate
