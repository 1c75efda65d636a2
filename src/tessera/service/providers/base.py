"""The interface every crypto provider implements: a table of handlers, one per opcode it serves.

A provider hands the base its handlers: the key operations its family modules declare with
`@serves(contracts.X)` or list in a `KEY_OPERATIONS` table (`key_operations`), and the few that
need no key. Everything it is asked for and has no handler for is PsaErrorNotSupported, and
ListOpcodes is the table's keys, so what a provider says it supports is what it serves.
CanDoCrypto is answered here for every provider, by the shared driver (`capabilities.answer`)
over the provider's own checks, as Parsec's provider trait does with its check hooks.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message

from tessera._version import VERSION_TUPLE
from tessera.psa.hashes import digest
from tessera.service.authenticators.base import Application
from tessera.service.keystore import KeyRecord, KeyStore, Owner
from tessera.service.providers import capabilities
from tessera.trust.peer import PeerCredentials
from tessera.wire.contracts import OPERATIONS, Daemon, OperationSpec
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import psa_generate_random_pb2, psa_hash_compare_pb2, psa_hash_compute_pb2
from tessera.wire.status import Status, StatusError

S = TypeVar("S")
Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """How a provider describes itself in ListProviders (Tessera's own, by default)."""

    uuid: str
    description: str
    vendor: str = "Tessera"
    version: tuple[int, int, int] = VERSION_TUPLE


@dataclass(frozen=True, slots=True)
class RequestContext:
    """Who is asking: the authenticated application (None for unauthenticated operations) and
    the connecting process as the kernel reports it."""

    app: Application | None
    peer: PeerCredentials | None = None
    # The request set the extensions flag: answers may name what Parsec's clients do not know.
    extensions: bool = False
    #: `app`'s key owner, when the caller made it already (the dispatcher keeps one per app).
    app_owner: Owner | None = None

    @property
    def owner(self) -> Owner:
        """The key owner for this request; key operations always run authenticated."""
        if self.app is None:
            raise StatusError(Status.NOT_AUTHENTICATED, "key operations need authentication")
        if self.app_owner is not None:
            return self.app_owner
        return Owner(self.app.name, int(self.app.auth_type))


#: Serves one decoded operation (of the type its opcode's contract names).
Handler = Callable[[RequestContext, Any], Message]


class KeyOperation(Generic[S, Req, Res]):
    """A family module's function that serves one operation on the caller's keys, given the
    provider's state (`@serves` makes one; it is still called as the function)."""

    __slots__ = ("run", "spec")

    def __init__(self, spec: OperationSpec[Req, Res], run: Callable[[S, Owner, Req], Res]) -> None:
        self.spec = spec
        self.run = run

    def __call__(self, state: S, owner: Owner, op: Req) -> Res:
        return self.run(state, owner, op)


def serves(
    spec: OperationSpec[Req, Res],
) -> Callable[[Callable[[S, Owner, Req], Res]], KeyOperation[S, Req, Res]]:
    """Declare that the decorated function serves `spec` (its types must be the contract's)."""

    def declare(run: Callable[[S, Owner, Req], Res]) -> KeyOperation[S, Req, Res]:
        return KeyOperation(spec, run)

    return declare


def key_operations(state: object, *families: ModuleType) -> dict[Opcode, Handler]:
    """The operations the `families` modules declare, bound to `state`: their own `@serves`
    functions, and the operations they list in a `KEY_OPERATIONS` table (built elsewhere, as the
    shared signature operations are)."""
    table: dict[Opcode, Handler] = {}
    for family in families:
        declared = [
            value
            for value in vars(family).values()
            # An imported handler is skipped: it belongs to the module that declares it.
            if isinstance(value, KeyOperation) and value.run.__module__ == family.__name__
        ]
        for operation in (*declared, *getattr(family, "KEY_OPERATIONS", ())):
            opcode = operation.spec.opcode
            if opcode in table:
                raise ValueError(f"two handlers serve {opcode.name}")
            table[opcode] = _bind(state, operation.run)
    return table


def _bind(state: object, run: Callable[[Any, Owner, Any], Message]) -> Handler:
    def handler(ctx: RequestContext, op: Message) -> Message:
        return run(state, ctx.owner, op)

    return handler


def random_bytes(limit: int, source: Callable[[int], bytes]) -> Handler:
    """PsaGenerateRandom from `source`, refusing buffers over the configured limit."""

    def generate(
        ctx: RequestContext, op: psa_generate_random_pb2.Operation
    ) -> psa_generate_random_pb2.Result:
        if op.size > limit:
            # As Parsec: a buffer over the configured limit is ResponseTooLarge, checked first.
            raise StatusError(Status.RESPONSE_TOO_LARGE, "random buffer over the limit")
        return psa_generate_random_pb2.Result(random_bytes=source(op.size))

    return generate


def hash_compute(
    ctx: RequestContext, op: psa_hash_compute_pb2.Operation
) -> psa_hash_compute_pb2.Result:
    """PsaHashCompute in this process (hashes need no key)."""
    return psa_hash_compute_pb2.Result(hash=digest(op.alg, op.input))


def hash_compare(
    ctx: RequestContext, op: psa_hash_compare_pb2.Operation
) -> psa_hash_compare_pb2.Result:
    """PsaHashCompare in this process, in constant time."""
    if not hmac.compare_digest(digest(op.alg, op.input), op.hash):
        raise StatusError(Status.PSA_ERROR_INVALID_SIGNATURE, "hash does not match")
    return psa_hash_compare_pb2.Result()


#: The handlers of the providers that hash in this process.
HASH_HANDLERS: Mapping[Opcode, Handler] = {
    Opcode.PSA_HASH_COMPUTE: hash_compute,
    Opcode.PSA_HASH_COMPARE: hash_compare,
}


def _not_supported(opcode: Opcode) -> StatusError:
    return StatusError(Status.PSA_ERROR_NOT_SUPPORTED, f"{opcode.name} is not supported")


class Provider:
    """Base of the software, PKCS#11 and TPM providers."""

    info: ProviderInfo
    #: True when every operation is a round trip to a device (a token, a TPM): all of them run
    #: on the worker pool. Otherwise only those the registry says may block do; the rest runs
    #: inline, several times faster than a thread hop for sub-millisecond work.
    device_bound = False

    def __init__(
        self,
        provider_id: int,
        name: str,
        keystore: KeyStore,
        handlers: Mapping[Opcode, Handler],
        *,
        checks: capabilities.ProviderChecks | None = None,
        parsec_compatible: bool = False,
    ) -> None:
        """`handlers` serve what the provider does; with `checks`, it answers CanDoCrypto too
        (as Parsec's service does if `parsec_compatible`)."""
        self.provider_id = provider_id
        self.name = name
        self.keystore = keystore
        table = dict(handlers)
        if checks is not None:
            table[Opcode.CAN_DO_CRYPTO] = _can_do_crypto(checks, parsec_compatible)
        for opcode in table:
            spec = OPERATIONS[opcode]
            if Daemon.SERVICE not in spec.served_by or spec.core or spec.tessera:
                raise ValueError(f"a crypto provider cannot serve {opcode.name}")
        self._handlers: Mapping[Opcode, Handler] = table
        #: What ListOpcodes names for this provider.
        self.opcodes = frozenset(table)

    def handle(self, opcode: Opcode, ctx: RequestContext, operation: Message) -> Message:
        """Run one decoded operation; StatusError for failures PSA defines."""
        handler = self._handlers.get(opcode)
        if handler is None:
            raise _not_supported(opcode)
        return handler(ctx, operation)

    def call(self, spec: OperationSpec[Req, Res], ctx: RequestContext, operation: Req) -> Res:
        """`handle`, typed by the operation's contract (for callers in this process)."""
        result = self.handle(spec.opcode, ctx, operation)
        assert isinstance(result, spec.response)
        return result

    def blocking(self, opcode: Opcode) -> bool:
        """True when serving `opcode` may block the event loop for long."""
        return self.device_bound or OPERATIONS[opcode].may_block

    def release_key(self, record: KeyRecord) -> None:
        """Free provider-side resources of a key whose row is being deleted (DeleteClient).

        The software provider keeps everything in the row, so the default does nothing.
        """

    def close(self) -> None:
        """Release sessions and handles at shutdown."""


def _can_do_crypto(checks: capabilities.ProviderChecks, parsec_compatible: bool) -> Handler:
    def answer(ctx: RequestContext, op: Any) -> Message:
        return capabilities.answer(op, checks, parsec_compatible=parsec_compatible)

    return answer
