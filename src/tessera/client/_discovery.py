"""What a service offers, learnt once per client and shared by every flow of that client.

Services differ: Parsec's Mbed Crypto provider has no PsaSignMessage and no MAC, Tessera's
providers have both. The idiomatic flows ask here (ListProviders, ListOpcodes) before they pick
an operation, so they can fall back where that is sound instead of failing. Sans-I/O: the
questions are yielded as calls; `Client` and `AsyncClient` drive them like any other flow.
"""

from __future__ import annotations

from collections.abc import Generator

from tessera.client import _calls
from tessera.client._choice import CORE_PROVIDER
from tessera.client._errors import BodySizeExceedsLimitError, UsageError
from tessera.client._protocol import Call
from tessera.wire.opcodes import Opcode

TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up
if TYPE_CHECKING:
    from typing import Any, TypeVar
else:
    from tessera.wire._runtime_typing import Any, TypeVar

T = TypeVar("T")
# The service's default limit on a request body (`body_len_limit`, Parsec's and Tessera's). No
# operation tells a client the configured value: a client is told it (`max_request_size=`).
DEFAULT_REQUEST_LIMIT = 1 << 20
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

    def __init__(self, request_limit: int = DEFAULT_REQUEST_LIMIT) -> None:
        self.request_limit = request_limit  # the largest request body the service accepts
        self._providers: list[int] | None = None
        self._opcodes: dict[int, frozenset[int]] = {}

    def fits(self, call: Call[Any]) -> bool:
        """True if the service accepts a request this size (as far as this client knows)."""
        return call.body.ByteSize() <= self.request_limit

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


def too_large(
    call: Call[Any], size: int, limit: int | None, why: str = ""
) -> BodySizeExceedsLimitError:
    """The error for input the service will not take in one request (`limit` None: the
    service said so, its limit is lower than the one this client was told)."""
    what = call.operation + (f" on key {call.key_name!r}" if call.key_name is not None else "")
    accepts = (
        f"the service accepts requests of at most {limit} bytes"
        if limit is not None
        else "over the service's request size limit"
    )
    return BodySizeExceedsLimitError(
        f"{what}: input is {size} bytes, {accepts}{why} (BODY_SIZE_EXCEEDS_LIMIT)",
        operation=call.operation,
        key_name=call.key_name,
    )


def run_sized(call: Call[T], size: int, capabilities: Capabilities) -> KeyFlow[T]:
    """Run a call whose input has no sound fallback (MAC, cipher, AEAD): input too big for
    one request is refused before it is sent, and the service's own refusal says the size."""
    if not capabilities.fits(call):
        raise too_large(call, size, capabilities.request_limit)
    try:
        return (yield from run(call))
    except BodySizeExceedsLimitError:
        raise too_large(call, size, None) from None
