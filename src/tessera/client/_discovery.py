"""What a service offers, learnt once per client and shared by every flow of that client.

Services differ: Parsec's Mbed Crypto provider has no PsaSignMessage and no MAC, Tessera's
providers have both. The idiomatic flows ask here (ListProviders, ListOpcodes) before they pick
an operation, so they can fall back where that is sound instead of failing. Sans-I/O: the
questions are yielded as calls; `Client` and `AsyncClient` drive them like any other flow.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any, TypeVar

from tessera.client import _calls
from tessera.client._choice import CORE_PROVIDER
from tessera.client._errors import UsageError
from tessera.client._protocol import Call
from tessera.wire.opcodes import Opcode

T = TypeVar("T")
# A flow of calls: yields each Call, receives its result (or its exception), returns a value.
KeyFlow = Generator[Call[Any], Any, T]


def run(call: Call[T]) -> KeyFlow[T]:
    """Yield one call and return its (typed) result."""
    result: T = yield call
    return result


class Capabilities:
    """The service's crypto providers and the opcodes each serves, asked once and kept.

    One per client: a client talks to one service. Concurrent first uses may both ask; the
    answers are the same, so the race is harmless.
    """

    def __init__(self) -> None:
        self._providers: list[int] | None = None
        self._opcodes: dict[int, frozenset[int]] = {}

    def providers(self) -> KeyFlow[list[int]]:
        """The crypto providers' ids in the service's order of preference (core excluded)."""
        if self._providers is None:
            listed: list[_calls.ProviderInfo] = yield from run(_calls.list_providers())
            self._providers = [p.id for p in listed if p.id != CORE_PROVIDER]
        return self._providers

    def provider(self, explicit: int | None) -> KeyFlow[int]:
        """`explicit` if given, else the service's preferred crypto provider."""
        if explicit is not None:
            return explicit
        providers = yield from self.providers()
        if not providers:
            raise UsageError("the service has no crypto provider")
        return providers[0]

    def opcodes(self, provider: int) -> KeyFlow[frozenset[int]]:
        """The opcodes `provider` serves (ListOpcodes)."""
        known = self._opcodes.get(provider)
        if known is None:
            listed: list[int] = yield from run(_calls.list_opcodes(provider))
            known = frozenset(listed)
            self._opcodes[provider] = known
        return known

    def serves(self, provider: int, opcode: Opcode) -> KeyFlow[bool]:
        """True if `provider` lists `opcode`."""
        return int(opcode) in (yield from self.opcodes(provider))
