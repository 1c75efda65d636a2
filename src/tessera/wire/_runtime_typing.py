"""Run-time stand-ins for the parts of `typing` the client's modules use.

Every `tessera` command imports the client; `typing` costs it milliseconds at each start. Type
checkers read the real `typing` (each module imports it under `TYPE_CHECKING`); at run time the
modules import these instead. They do what `typing`'s objects do at run time and nothing more:
a generic class can be subscripted (`Call[bool]`, `class Call(Generic[T])`), a type alias built
from a type variable can be subscripted again (`Flow[int]`), `overload` keeps the last
definition.
"""

from __future__ import annotations

from collections.abc import Callable
from types import GenericAlias

Any = object  # only ever an argument of an alias (`Generator[Call[Any], Any, T]`)


class TypeVar:
    """A type variable: a name that aliases built from it can be subscripted with."""

    __slots__ = ("__name__",)

    def __init__(self, name: str, *constraints: object, **options: object) -> None:
        self.__name__ = name

    def __typing_subst__(self, argument: object) -> object:
        return argument

    def __repr__(self) -> str:
        return f"~{self.__name__}"


ParamSpec = TypeVar


class Generic:
    """A base for generic classes (and protocols): subscripting gives an alias of the class."""

    __slots__ = ()

    def __class_getitem__(cls, parameters: object) -> GenericAlias:
        return GenericAlias(cls, parameters)


Protocol = Generic


def overload(function: Callable[..., object]) -> Callable[..., object]:
    """The overloads are for type checkers: the last definition (the real one) replaces them."""
    return function
