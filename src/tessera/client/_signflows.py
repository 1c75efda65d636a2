"""Signing and verifying messages and digests, as flows of calls.

A message goes to the provider's PsaSignMessage / PsaVerifyMessage when it offers them. A
provider that does not (Parsec's Mbed Crypto provider) gets a digest instead: the message is
hashed here with the key's own hash and sent with PsaSignHash / PsaVerifyHash, as parsec-tool
does. That fallback needs the key's policy to permit the hash operation: PSA makes SIGN_HASH
imply SIGN_MESSAGE, never the reverse, and services enforce it (Mbed Crypto refuses
psa_sign_hash to a key without SIGN_HASH). A key made for messages only is therefore never
signed through a digest; the caller gets a NotSupportedError that says why.

The same digest path carries messages too big for one request (the service's body limit, 1 MiB
by default): hashing here gives the signature the service would have made over the message.

The flows read the key's algorithm and usage as `protowire` decodes them (`KeyRef.fields`) and
send the algorithm back encoded the same way: the bytes protobuf would send, without loading it.
"""

from __future__ import annotations

from tessera.client import _calls
from tessera.client._discovery import Capabilities, KeyFlow, run, too_large
from tessera.client._errors import BodySizeExceedsLimitError, NotSupportedError
from tessera.client._keyref import KeyRef, usage_error
from tessera.client._messages import ALGORITHM, ASYMMETRIC_SIGNATURE, HASH, SIGN_HASH
from tessera.client._protocol import Call, Encoded, operation_name
from tessera.wire._values import Frozen, _set
from tessera.wire.opcodes import Opcode
from tessera.wire.protowire import encode, part, which
from tessera.wire.status import StatusError

TYPE_CHECKING = False  # typing and protobuf are not imported at run time: the command's start-up
if TYPE_CHECKING:
    from typing import Any

    from tessera.wire.proto.psa_algorithm_pb2 import Algorithm

_HASHES = {name: value for value, name in HASH.names.items()}  # Algorithm.Hash, by name
_CURVE_HASHES = {256: _HASHES["SHA_256"], 384: _HASHES["SHA_384"], 521: _HASHES["SHA_512"]}
_HASH_AND_SIGN = ("rsa_pkcs1v15_sign", "rsa_pss", "ecdsa", "deterministic_ecdsa")


class _Direction(Frozen):
    """Signing or verifying: the two operations and the usage flag each needs."""

    __slots__ = ("hash_flag", "hash_op", "message_flag", "message_op", "verb")
    _fields = ("verb", "message_op", "hash_op", "message_flag", "hash_flag")
    verb: str
    message_op: Opcode
    hash_op: Opcode
    message_flag: str
    hash_flag: str

    def __init__(
        self, verb: str, message_op: Opcode, hash_op: Opcode, message_flag: str, hash_flag: str
    ) -> None:
        _set(self, "verb", verb)
        _set(self, "message_op", message_op)
        _set(self, "hash_op", hash_op)
        _set(self, "message_flag", message_flag)
        _set(self, "hash_flag", hash_flag)

    @property
    def message_name(self) -> str:
        return operation_name(self.message_op)

    @property
    def hash_name(self) -> str:
        return operation_name(self.hash_op)

    def require(self, ref: KeyRef) -> None:
        """UsageError, before anything is sent, if the key may do neither."""
        usage = ref.usage_fields
        if not (usage[self.message_flag] or usage[self.hash_flag]):
            raise usage_error(ref, f"{self.verb} messages")


SIGN = _Direction(
    "sign", Opcode.PSA_SIGN_MESSAGE, Opcode.PSA_SIGN_HASH, "sign_message", "sign_hash"
)
VERIFY = _Direction(
    "verify", Opcode.PSA_VERIFY_MESSAGE, Opcode.PSA_VERIFY_HASH, "verify_message", "verify_hash"
)


def signature_fields(ref: KeyRef) -> dict[str, Any]:
    """The key's signature algorithm as decoded fields (`_messages.ASYMMETRIC_SIGNATURE`), with
    a wildcard hash replaced by a concrete one. The key's own fields are left as they are."""
    algorithm = ref.algorithm_fields
    if which(ALGORITHM, algorithm, "variant") != "asymmetric_signature":
        raise usage_error(ref, "sign")
    signature: dict[str, Any] = algorithm["asymmetric_signature"]
    variant = which(ASYMMETRIC_SIGNATURE, signature, "variant")
    if variant in _HASH_AND_SIGN:
        scheme: dict[str, Any] = signature[variant]
        sign_hash = scheme["hash_alg"]
        if sign_hash is not None and which(SIGN_HASH, sign_hash, "variant") == "any":
            specific = _CURVE_HASHES.get(ref.key_bits, _HASHES["SHA_256"])
            chosen = {**sign_hash, "any": None, "specific": specific}
            signature = {**signature, variant: {**scheme, "hash_alg": chosen}}
    return signature


def signature_algorithm(ref: KeyRef) -> Algorithm.AsymmetricSignature:
    """`signature_fields` as a protobuf message (for the flows that hand it to `cryptography`
    helpers, and callers of the operation layer)."""
    from tessera.wire.proto.psa_algorithm_pb2 import Algorithm

    return Algorithm.AsymmetricSignature.FromString(_encoded(signature_fields(ref)).data)


def _encoded(signature: dict[str, Any]) -> Encoded:
    """The algorithm as the calls send it: the bytes protobuf writes for these fields."""
    return Encoded(encode(ASYMMETRIC_SIGNATURE, signature))


def hash_of(signature: dict[str, Any]) -> int | None:
    """The hash (an Algorithm.Hash value) a hash-and-sign algorithm applies to messages; None
    for the others. An unset hash reads as HASH_NONE (0), as protobuf reads it."""
    variant = which(ASYMMETRIC_SIGNATURE, signature, "variant")
    if variant in _HASH_AND_SIGN:
        sign_hash = signature[variant]["hash_alg"]
        specific = None if sign_hash is None else sign_hash["specific"]
        return 0 if specific is None else int(specific)
    return None


def local_digest(alg: int, data: bytes) -> bytes:
    """The digest of `data`, computed here; NotSupportedError if this library cannot."""
    # Here: `cryptography`'s hashes and hashlib load only for a message signed as a digest.
    from tessera.psa.hashes import digest as compute_digest

    try:
        return compute_digest(alg, data)
    except StatusError as error:
        raise NotSupportedError(str(error)) from None


def _can_hash(
    ref: KeyRef, direction: _Direction, served: frozenset[int], hash_alg: int | None
) -> bool:
    """True if a digest made here may go to the hash operation (offered, permitted, a hash)."""
    hash_allowed: bool = ref.usage_fields[direction.hash_flag]
    return int(direction.hash_op) in served and hash_allowed and hash_alg is not None


def _by_message(
    ref: KeyRef,
    direction: _Direction,
    served: frozenset[int],
    hash_alg: int | None,
    *,
    message: Call[Any],
    size: int,
    capabilities: Capabilities,
) -> bool:
    """True: send the message; False: send a digest computed here. Raises if neither works.

    The service's own message operation is preferred for keys that name it; a key that only
    names the hash usage signs digests (as before), or messages where only those are offered,
    since PSA makes the hash usage imply the message usage. A message too big for one request
    goes by digest where that is allowed.
    """
    message_allowed: bool = ref.usage_fields[direction.message_flag]
    offers_message = int(direction.message_op) in served
    can_hash = _can_hash(ref, direction, served, hash_alg)
    if offers_message and (message_allowed or not can_hash):
        if capabilities.fits(message):
            return True
        if can_hash:
            return False  # too big for one request: by digest
        raise _too_large(
            ref,
            direction,
            message=message,
            size=size,
            limit=capabilities.request_limit,
            hash_alg=hash_alg,
        )
    if can_hash:
        return False
    raise _no_route(ref, direction, int(direction.hash_op) in served, hash_alg)


def _too_large(
    ref: KeyRef,
    direction: _Direction,
    *,
    message: Call[Any],
    size: int,
    limit: int | None,
    hash_alg: int | None,
) -> BodySizeExceedsLimitError:
    """A message too big for one request, and no digest path for this key."""
    if hash_alg is None:
        why = f", and the key's algorithm ({_scheme(ref)}) names no hash to apply here"
    elif ref.usage_fields[direction.hash_flag]:
        why = f", and provider {ref.provider} has no {direction.hash_name} for a digest made here"
    else:
        why = (
            f", and the key's policy does not permit {direction.hash_flag}, which "
            f"{direction.hash_name} on a digest made here would need"
        )
    return too_large(message, size, limit, why)


def _scheme(ref: KeyRef) -> str | None:
    """The key's signature scheme (`ecdsa`, `pure_eddsa`...), for error messages."""
    signature = part(ALGORITHM, ref.algorithm_fields, "asymmetric_signature")
    return which(ASYMMETRIC_SIGNATURE, signature, "variant")


def _no_route(
    ref: KeyRef, direction: _Direction, offers_hash: bool, hash_alg: int | None
) -> NotSupportedError:
    where = f"provider {ref.provider} has no {direction.message_name}"
    if not offers_hash:
        why = f"{where} and no {direction.hash_name}"
    elif hash_alg is None:
        why = f"{where}, and its algorithm ({_scheme(ref)}) names no hash to apply here"
    else:
        why = (
            f"{where}, and its policy permits {direction.message_flag} but not "
            f"{direction.hash_flag}, which {direction.hash_name} on a digest made here would need"
        )
    return NotSupportedError(
        f"key {ref.name!r} cannot {direction.verb} messages: {why}",
        operation=direction.message_name,
        key_name=ref.name,
    )


def sign(ref: KeyRef, data: bytes, capabilities: Capabilities) -> KeyFlow[bytes]:
    """Sign a message: by the provider's PsaSignMessage, or hashed here and PsaSignHash."""
    fields = signature_fields(ref)
    SIGN.require(ref)
    hash_alg, alg = hash_of(fields), _encoded(fields)
    served = yield from capabilities.opcodes(ref.provider)
    message = _calls.sign_message(ref.provider, ref.name, alg, data)
    if _by_message(
        ref, SIGN, served, hash_alg, message=message, size=len(data), capabilities=capabilities
    ):
        try:
            return (yield from run(message))
        except BodySizeExceedsLimitError:
            # The service's limit is below the one this client was told: digest it if allowed.
            if not _can_hash(ref, SIGN, served, hash_alg):
                raise _too_large(
                    ref, SIGN, message=message, size=len(data), limit=None, hash_alg=hash_alg
                ) from None
    assert hash_alg is not None
    digest = local_digest(hash_alg, data)
    return (yield from run(_calls.sign_hash(ref.provider, ref.name, alg, digest)))


def verify(ref: KeyRef, signature: bytes, data: bytes, capabilities: Capabilities) -> KeyFlow[None]:
    """Verify a message signature (as `sign` chooses); raises InvalidSignatureError."""
    fields = signature_fields(ref)
    VERIFY.require(ref)
    hash_alg, alg = hash_of(fields), _encoded(fields)
    served = yield from capabilities.opcodes(ref.provider)
    message = _calls.verify_message(ref.provider, ref.name, alg, data, signature)
    if _by_message(
        ref, VERIFY, served, hash_alg, message=message, size=len(data), capabilities=capabilities
    ):
        try:
            yield from run(message)
            return
        except BodySizeExceedsLimitError:
            if not _can_hash(ref, VERIFY, served, hash_alg):
                raise _too_large(
                    ref, VERIFY, message=message, size=len(data), limit=None, hash_alg=hash_alg
                ) from None
    assert hash_alg is not None
    digest = local_digest(hash_alg, data)
    yield from run(_calls.verify_hash(ref.provider, ref.name, alg, digest, signature))


def sign_digest(ref: KeyRef, digest: bytes) -> KeyFlow[bytes]:
    """Sign a digest computed by the caller with the key's hash."""
    alg = _encoded(signature_fields(ref))
    return (yield from run(_calls.sign_hash(ref.provider, ref.name, alg, digest)))


def verify_digest(ref: KeyRef, signature: bytes, digest: bytes) -> KeyFlow[None]:
    """Verify a signature over a digest; raises InvalidSignatureError."""
    alg = _encoded(signature_fields(ref))
    yield from run(_calls.verify_hash(ref.provider, ref.name, alg, digest, signature))
