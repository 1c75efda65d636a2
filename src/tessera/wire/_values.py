"""Value classes without `dataclasses`: what every `tessera` command imports must load fast.

`dataclasses` brings `inspect`, `ast`, `dis` and `tokenize`, and runs `exec` for each method it
generates, a cost every run of the command paid at start. A class here lists its fields once;
this base gives it a frozen dataclass's equality, hash, repr, immutability and pickling.
"""

from __future__ import annotations

_set = object.__setattr__


class Frozen:
    """Slots classes whose fields are set once, by `__init__` (with `_set`).

    `_fields`: the constructor's fields in order (repr, pickling); `_compared` and `_shown`: the
    fields equality and hash use and the fields repr shows (each `_fields` when not given).
    """

    __slots__ = ()
    _fields: tuple[str, ...] = ()
    _compared: tuple[str, ...] = ()
    _shown: tuple[str, ...] = ()

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        if "_compared" not in cls.__dict__:
            cls._compared = cls._fields
        if "_shown" not in cls.__dict__:
            cls._shown = cls._fields

    def _key(self) -> tuple[object, ...]:
        return tuple([getattr(self, name) for name in self._compared])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"cannot delete field {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._shown)
        return f"{self.__class__.__qualname__}({shown})"

    def __reduce__(self) -> tuple[type[Frozen], tuple[object, ...]]:
        return (self.__class__, tuple([getattr(self, name) for name in self._fields]))
