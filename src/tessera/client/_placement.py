"""Where a new key goes, and creating it there (generate or import), as flows of calls.

A key goes to the provider given, else to the first provider that says (CanDoCrypto) it can
make it, else to the first that cannot say. CanDoCrypto can be wrong in the other direction:
Parsec 1.1.0's Mbed Crypto provider refuses ECDH and HMAC keys it makes without complaint. So
when every provider refused, the service's preferred provider is asked to make the key anyway,
and if it also refuses, the error says both.
"""

from __future__ import annotations

from dataclasses import dataclass

from tessera.client import _calls
from tessera.client._discovery import Capabilities, KeyFlow, run
from tessera.client._errors import (
    InvalidArgumentError,
    InvalidEncodingError,
    NotSupportedError,
    ServiceError,
    UsageError,
)
from tessera.client._keyref import KeyRef
from tessera.client._protocol import Call
from tessera.client.specs import KeySpec
from tessera.psa.key_names import key_name_problem
from tessera.psa.key_types import RSA_BITS
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import can_do_crypto_pb2
from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes

GENERATE = can_do_crypto_pb2.GENERATE
IMPORT = can_do_crypto_pb2.IMPORT

# Answers that mean "this provider cannot make such a key": INVALID_ENCODING comes from services
# that cannot even decode the attributes (Tessera's PSA 1.1 additions, such as Ed25519, in
# Parsec).
_CANNOT = (NotSupportedError, InvalidArgumentError, InvalidEncodingError)


@dataclass(frozen=True)
class Placement:
    """The provider chosen, and the providers whose CanDoCrypto refused (when none agreed)."""

    provider: int
    refused_by: tuple[int, ...] = ()


def choose_provider(
    attributes: KeyAttributes, check: int, capabilities: Capabilities
) -> KeyFlow[Placement]:
    """The first provider that says (CanDoCrypto) it can; else the first that cannot say;
    else the service's preferred provider, with the list of refusals."""
    undecided: int | None = None
    refused: list[int] = []
    providers = yield from capabilities.providers()
    for provider in providers:
        if not (yield from capabilities.serves(provider, Opcode.CAN_DO_CRYPTO)):
            if undecided is None:
                undecided = provider
            continue
        try:
            yield from run(_calls.can_do_crypto(provider, check, attributes))  # type: ignore[arg-type]
        except _CANNOT:
            refused.append(provider)
            continue
        return Placement(provider)
    if undecided is not None:
        return Placement(undecided)
    if not refused:
        raise NotSupportedError("the service has no crypto provider", operation="CanDoCrypto")
    return Placement(refused[0], tuple(refused))


def _place(
    attributes: KeyAttributes, check: int, provider: int | None, capabilities: Capabilities
) -> KeyFlow[Placement]:
    if provider is not None:
        return Placement(provider)
    return (yield from choose_provider(attributes, check, capabilities))


def _create(call: Call[None], placement: Placement, verb: str) -> KeyFlow[None]:
    """Run a PsaGenerateKey or PsaImportKey; a refusal after CanDoCrypto's says both."""
    try:
        yield from run(call)
    except _CANNOT as error:
        if not placement.refused_by:
            raise
        raise _refusal(call, placement, verb, error) from None


def _refusal(
    call: Call[None], placement: Placement, verb: str, error: ServiceError
) -> NotSupportedError:
    refused = ", ".join(str(p) for p in placement.refused_by)
    plural = "s" if len(placement.refused_by) > 1 else ""
    return NotSupportedError(
        f"no provider can {verb} key {call.key_name!r}: CanDoCrypto said no (provider{plural} "
        f"{refused}), and so did {call.operation} in provider {placement.provider}: "
        f"{error.status.description} ({error.status.name})",
        operation=call.operation,
        key_name=call.key_name,
    )


def generate(
    name: str, spec: KeySpec, provider: int | None, capabilities: Capabilities
) -> KeyFlow[KeyRef]:
    """Create a key in the service (in `provider`, or where it fits)."""
    _check_name(name)
    attributes = spec.attributes()
    placement = yield from _place(attributes, GENERATE, provider, capabilities)
    call = _calls.generate_key(placement.provider, name, attributes)
    try:
        yield from _create(call, placement, "generate")
    except ServiceError as error:
        raise _with_sizes_hint(error, attributes) from None
    return KeyRef(name, placement.provider, attributes)


def import_key(
    name: str,
    attributes: KeyAttributes,
    data: bytes,
    provider: int | None,
    capabilities: Capabilities,
) -> KeyFlow[KeyRef]:
    """Import key bytes (PSA format), in `provider` or where they fit."""
    _check_name(name)
    placement = yield from _place(attributes, IMPORT, provider, capabilities)
    call = _calls.import_key(placement.provider, name, attributes, data)
    yield from _create(call, placement, "import")
    return KeyRef(name, placement.provider, attributes)


def _check_name(name: str) -> None:
    """UsageError, before anything is sent, for a name the service would refuse unexplained."""
    problem = key_name_problem(name)
    if problem is not None:
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise UsageError(f"{problem} (key {shown!r})")


# The RSA sizes Tessera's providers hold (psa/key_types.py RSA_BITS; 1024 is deprecated).
_RSA_SIZES = "2048, 3072 or 4096 bits (1024 where deprecated primitives are allowed)"


def _with_sizes_hint(error: ServiceError, attributes: KeyAttributes) -> ServiceError:
    """`error`, saying which sizes exist when an RSA key of an unusual size was refused (the
    wire carries no reason)."""
    is_rsa = attributes.key_type.WhichOneof("variant") == "rsa_key_pair"
    if not is_rsa or attributes.key_bits in RSA_BITS:
        return error
    hinted = type(error)(
        f"{error} (RSA keys are {_RSA_SIZES}; {attributes.key_bits} was asked for)",
        operation=error.operation,
        key_name=error.key_name,
        status=error.status,
    )
    return hinted
