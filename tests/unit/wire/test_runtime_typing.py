"""The run-time stand-ins for `typing` (tessera.wire._runtime_typing) do what the client needs."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from tessera.client._protocol import Call, Flow, Verdict
from tessera.client._token import Token
from tessera.client._twin import Plan
from tessera.wire._runtime_typing import Generic, TypeVar, overload
from tessera.wire.contracts import OPERATIONS, OperationSpec
from tessera.wire.opcodes import Opcode


def test_generic_classes_and_aliases_subscript_as_with_typing() -> None:
    t: Any = TypeVar("T")
    base: Any = Generic

    class Box(base[t]):  # type: ignore[misc]
        __slots__ = ("value",)

    assert Box.__mro__[1] is Generic
    subscripted: Any = Box
    assert subscripted[int].__origin__ is Box
    flow: Any = Generator[int, None, t]
    assert flow[str] == Generator[int, None, str]
    assert repr(t) == "~T"
    # the client's own aliases subscript again, as typing's did
    aliases: list[Any] = [Flow, Plan, Verdict]
    assert aliases[0][int].__args__[-1] is int
    assert aliases[1][bytes] is not None and aliases[2] is not None
    assert isinstance(OPERATIONS[Opcode.PING], OperationSpec)
    spec: Any = OperationSpec
    call: Any = Call
    assert spec[int, int].__origin__ is OperationSpec
    assert call[bool].__origin__ is Call


def test_overload_keeps_the_function() -> None:
    def f() -> int:
        return 1

    assert overload(f) is f


def test_a_token_is_a_named_tuple() -> None:
    token = Token("t", 5, "spiffe://x/y")
    assert token == ("t", 5, "spiffe://x/y")
    assert (token.token, token.expires_at, token.spiffe_id) == ("t", 5, "spiffe://x/y")
    assert repr(token) == "Token(token='t', expires_at=5, spiffe_id='spiffe://x/y')"
