"""Turning a fuzzer's bytes into structured choices, without depending on atheris.

Targets read their input through `Input` so that the same code runs under atheris (long runs),
in pytest (corpus replay) and in the seed builder. Reading past the end yields zeros and empty
bytes: every byte string is a valid input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

_T = TypeVar("_T")


class Input:
    """A cursor over the fuzzer's bytes."""

    __slots__ = ("_data", "_pos")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def u8(self) -> int:
        """One byte (0 past the end)."""
        if self._pos >= len(self._data):
            return 0
        self._pos += 1
        return self._data[self._pos - 1]

    def u16(self) -> int:
        """Two bytes, little-endian."""
        return self.u8() | self.u8() << 8

    def pick(self, choices: Sequence[_T]) -> _T:
        """One of `choices`, by one byte."""
        return choices[self.u8() % len(choices)]

    def take(self, size: int) -> bytes:
        """Up to `size` bytes."""
        chunk = self._data[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk

    def sized(self) -> bytes:
        """A length-prefixed chunk: a u16 length, then that many bytes (fewer at the end)."""
        return self.take(self.u16())

    def rest(self) -> bytes:
        """Everything not read yet."""
        chunk = self._data[self._pos :]
        self._pos = len(self._data)
        return chunk


def sized(data: bytes) -> bytes:
    """`data` as `Input.sized` reads it (for seed builders)."""
    return len(data).to_bytes(2, "little") + data
