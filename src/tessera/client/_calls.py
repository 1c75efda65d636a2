"""One `Call` builder per Parsec opcode: the operation layer's single source of encoding.

Each takes the operation's fields (PSA structures as protobuf messages, for callers that need
every knob) and returns a Call whose parser extracts the useful part of the result.

The operations without PSA structures (Ping, the List* operations, DeleteClient, random bytes,
exporting and destroying a key) are encoded and decoded without the protobuf runtime
(`tessera.wire.protowire`, schemas in `_messages`): the `tessera` command's start-up. So are the
signature, AEAD, asymmetric encryption and MAC operations when their algorithm comes `Encoded`
(the idiomatic flows send back the algorithm they decoded from the key's attributes); given a
protobuf message, as the operation layer's callers give it, they use protobuf as before (the
operation's message from the registry, `tessera.wire.contracts`): one builder does both
(`_with_algorithm`). The others import their own operation's protobuf module: a program pays for
the opcodes it sends.
"""

from __future__ import annotations

from collections.abc import Callable

from tessera.client import _messages
from tessera.client._errors import TransportError
from tessera.client._held_attributes import HeldAttributes
from tessera.client._protocol import Call, Encoded, Settle, Verdict
from tessera.wire._values import Frozen, _set
from tessera.wire.contracts import OPERATIONS
from tessera.wire.opcodes import Opcode
from tessera.wire.protowire import encode
from tessera.wire.status import Status

TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up
if TYPE_CHECKING:
    from typing import Any, TypeVar
else:
    from tessera.wire._runtime_typing import Any, TypeVar

if TYPE_CHECKING:
    from google.protobuf.message import Message

    from tessera.wire.proto import attest_key_pb2, can_do_crypto_pb2, prepare_key_attestation_pb2
    from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
    from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes

U = TypeVar("U")
V = TypeVar("V")


class ProviderInfo(Frozen):
    """A provider as ListProviders describes it."""

    __slots__ = ("description", "id", "uuid", "vendor", "version")
    _fields = ("id", "uuid", "description", "vendor", "version")
    __match_args__ = ("id", "uuid", "description", "vendor", "version")
    id: int
    uuid: str
    description: str
    vendor: str
    version: tuple[int, int, int]

    def __init__(
        self, id: int, uuid: str, description: str, vendor: str, version: tuple[int, int, int]
    ) -> None:
        _set(self, "id", id)
        _set(self, "uuid", uuid)
        _set(self, "description", description)
        _set(self, "vendor", vendor)
        _set(self, "version", version)


class AuthenticatorInfo(Frozen):
    """An active authenticator as ListAuthenticators describes it."""

    __slots__ = ("description", "id", "version")
    _fields = ("id", "description", "version")
    __match_args__ = ("id", "description", "version")
    id: int
    description: str
    version: tuple[int, int, int]

    def __init__(self, id: int, description: str, version: tuple[int, int, int]) -> None:
        _set(self, "id", id)
        _set(self, "description", description)
        _set(self, "version", version)


class KeyInfo(HeldAttributes):
    """One of the caller's keys as ListKeys describes it.

    `attributes` is read with protobuf on first use; `encoded_attributes` is what the service
    sent (the `tessera` command describes keys from it, without loading protobuf).
    """

    __slots__ = ("name", "provider_id")
    provider_id: int
    name: str

    def __init__(
        self,
        provider_id: int,
        name: str,
        attributes: KeyAttributes | None = None,
        *,
        encoded_attributes: bytes | None = None,
    ) -> None:
        self._hold(attributes, encoded_attributes, "encoded_attributes")
        set_slot = object.__setattr__  # frozen, as the dataclass it replaces
        set_slot(self, "provider_id", provider_id)
        set_slot(self, "name", name)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyInfo):
            return NotImplemented
        return (self.provider_id, self.name, self.attributes) == (
            other.provider_id,
            other.name,
            other.attributes,
        )

    __hash__ = None  # type: ignore[assignment]  # as the dataclass it replaces (its attributes are mutable)

    def __repr__(self) -> str:
        return (
            f"KeyInfo(provider_id={self.provider_id!r}, name={self.name!r}, "
            f"attributes={self.attributes!r})"
        )


def _nothing(_: object) -> None:
    return None


def _data(result: dict[str, Any]) -> bytes:
    """The `data` field of a result decoded with `protowire`."""
    value = result["data"]
    assert isinstance(value, bytes)
    return value


def _decoded_field(name: str) -> Callable[[dict[str, Any]], bytes]:
    """A parser returning one bytes field of a result decoded with `protowire`."""

    def parse(result: dict[str, Any]) -> bytes:
        value = result[name]
        assert isinstance(value, bytes)
        return value

    return parse


def _with_algorithm(opcode: Opcode, fields: dict[str, Any], provider: int) -> Call[Any]:
    """An operation on a key with an algorithm (`fields["alg"]`), its result read from the
    result schema's first field (none: nothing to read).

    An `Encoded` algorithm is encoded and decoded with `protowire`: the bytes protobuf would
    send for the same algorithm. A protobuf one is sent in the operation's protobuf message,
    from the registry (`tessera.wire.contracts`), and its answer is read with protobuf."""
    operation, result = _messages.WITH_ALGORITHM[opcode]
    name = result.fields[0].name if result.fields else None
    if isinstance(fields["alg"], Encoded):
        parse: Callable[[Any], bytes | None] = _decoded_field(name) if name else _nothing
        body = Encoded(encode(operation, fields))
        return Call(opcode, body, parse, provider, fields["key_name"], result=result)
    parse = _bytes_field(name) if name else _nothing
    message = OPERATIONS[opcode].request(**fields)
    return Call(opcode, message, parse, provider, fields["key_name"])


def _bytes_field(name: str) -> Callable[[Message], bytes]:
    """A parser returning one bytes field of the result."""

    def parse(result: Message) -> bytes:
        value = getattr(result, name)
        assert isinstance(value, bytes)
        return value

    return parse


_NO_FIELDS = Encoded(b"")


def ping() -> Call[tuple[int, int]]:
    """Ping: the wire protocol version the service speaks."""

    def parse(result: dict[str, Any]) -> tuple[int, int]:
        return (result["wire_protocol_version_maj"], result["wire_protocol_version_min"])

    return Call(Opcode.PING, _NO_FIELDS, parse, result=_messages.PING_RESULT)


def _version(info: dict[str, Any]) -> tuple[int, int, int]:
    return (info["version_maj"], info["version_min"], info["version_rev"])


def list_providers() -> Call[list[ProviderInfo]]:
    """ListProviders: every provider, in priority order (the core provider last)."""

    def parse(result: dict[str, Any]) -> list[ProviderInfo]:
        return [
            ProviderInfo(p["id"], p["uuid"], p["description"], p["vendor"], _version(p))
            for p in result["providers"]
        ]

    return Call(Opcode.LIST_PROVIDERS, _NO_FIELDS, parse, result=_messages.LIST_PROVIDERS_RESULT)


def list_opcodes(provider_id: int) -> Call[list[int]]:
    """ListOpcodes: what one provider serves."""

    def parse(result: dict[str, Any]) -> list[int]:
        return list(result["opcodes"])

    body = Encoded(encode(_messages.LIST_OPCODES_OPERATION, {"provider_id": provider_id}))
    return Call(Opcode.LIST_OPCODES, body, parse, result=_messages.LIST_OPCODES_RESULT)


def list_authenticators() -> Call[list[AuthenticatorInfo]]:
    """ListAuthenticators: the active authenticators, in the service's order."""

    def parse(result: dict[str, Any]) -> list[AuthenticatorInfo]:
        return [
            AuthenticatorInfo(a["id"], a["description"], _version(a))
            for a in result["authenticators"]
        ]

    schema = _messages.LIST_AUTHENTICATORS_RESULT
    return Call(Opcode.LIST_AUTHENTICATORS, _NO_FIELDS, parse, result=schema)


def list_keys() -> Call[list[KeyInfo]]:
    """ListKeys: the caller's keys in every provider (their attributes read when asked for)."""

    def parse(result: dict[str, Any]) -> list[KeyInfo]:
        return [
            KeyInfo(k["provider_id"], k["name"], encoded_attributes=k["attributes"] or b"")
            for k in result["keys"]
        ]

    return Call(Opcode.LIST_KEYS, _NO_FIELDS, parse, result=_messages.LIST_KEYS_RESULT)


def list_clients() -> Call[list[str]]:
    """ListClients (administrators): every application that owns keys."""

    def parse(result: dict[str, Any]) -> list[str]:
        return list(result["clients"])

    return Call(Opcode.LIST_CLIENTS, _NO_FIELDS, parse, result=_messages.LIST_CLIENTS_RESULT)


def delete_client(client: str) -> Call[None]:
    """DeleteClient (administrators): remove every key of an application."""
    body = Encoded(encode(_messages.DELETE_CLIENT_OPERATION, {"client": client}))
    return Call(Opcode.DELETE_CLIENT, body, _nothing, settle=_GONE, result=_messages.EMPTY)


# key management


def generate_key(provider: int, name: str, attributes: KeyAttributes) -> Call[None]:
    """PsaGenerateKey."""
    from tessera.wire.proto import psa_generate_key_pb2

    body = psa_generate_key_pb2.Operation(key_name=name, attributes=attributes)
    settle = _created(provider, name, attributes)
    return Call(Opcode.PSA_GENERATE_KEY, body, _nothing, provider, name, settle)


def import_key(provider: int, name: str, attributes: KeyAttributes, data: bytes) -> Call[None]:
    """PsaImportKey: `data` in the PSA format of the key type."""
    from tessera.wire.proto import psa_import_key_pb2

    body = psa_import_key_pb2.Operation(key_name=name, attributes=attributes, data=data)
    settle = _created(provider, name, attributes, data)
    return Call(Opcode.PSA_IMPORT_KEY, body, _nothing, provider, name, settle)


def _named(name: str) -> Encoded:
    return Encoded(encode(_messages.KEY_NAME_OPERATION, {"key_name": name}))


def export_key(provider: int, name: str) -> Call[bytes]:
    """PsaExportKey (needs the export usage flag)."""
    opcode = Opcode.PSA_EXPORT_KEY
    return Call(opcode, _named(name), _data, provider, name, result=_messages.DATA_RESULT)


def export_public_key(provider: int, name: str) -> Call[bytes]:
    """PsaExportPublicKey."""
    opcode = Opcode.PSA_EXPORT_PUBLIC_KEY
    return Call(opcode, _named(name), _data, provider, name, result=_messages.DATA_RESULT)


def destroy_key(provider: int, name: str) -> Call[None]:
    """PsaDestroyKey."""
    opcode = Opcode.PSA_DESTROY_KEY
    return Call(opcode, _named(name), _nothing, provider, name, _GONE, _messages.EMPTY)


# After a lost answer (docs/client.md, "Restarts"): a destruction sent again that finds nothing
# to destroy has its effect either way; a creation sent again that finds the key is ours only if
# the key is what it would have made.
_GONE = Settle(Status.PSA_ERROR_DOES_NOT_EXIST)


def _created(
    provider: int, name: str, attributes: KeyAttributes, data: bytes | None = None
) -> Settle:
    """AlreadyExists is ours if ListKeys shows the key with the attributes asked for and, for
    an import, the service shows the material sent (public key, or the key if exportable); an
    import whose material cannot be shown has an unknown outcome (TransportError)."""

    from tessera.client._keymatch import expected_public_key, exportable, same_attributes

    def verdict(keys: list[KeyInfo]) -> Verdict:
        found = [k for k in keys if k.name == name and k.provider_id == provider]
        if not found or not same_attributes(attributes, found[0].attributes):
            return False
        if data is None:
            return True
        public = expected_public_key(attributes, data)
        if public is not None:
            return _then(export_public_key(provider, name), _equals(public))
        if exportable(attributes):
            return _then(export_key(provider, name), _equals(data))
        # A secret that cannot be read back: a key of that name made before this import would
        # look the same, and the caller would believe its material stored.
        raise TransportError(
            f"the answer to importing key {name!r} was lost and a key of that name exists that "
            "cannot be read back to check it is the one sent: whether this import stored it is "
            "unknown (destroy it and import again, or use another name)"
        )

    return Settle(Status.PSA_ERROR_ALREADY_EXISTS, _then(list_keys(), verdict))


def _then(call: Call[U], then: Callable[[U], V]) -> Call[V]:
    """The same request, its value passed through `then`."""

    def parse(result: Any) -> V:
        return then(call.parse(result))

    return Call(call.opcode, call.body, parse, call.provider, call.key_name, result=call.result)


def _equals(expected: bytes) -> Callable[[bytes], bool]:
    import hmac

    return lambda found: hmac.compare_digest(found, expected)


# signatures


def sign_hash(
    provider: int, name: str, alg: Algorithm.AsymmetricSignature | Encoded, digest: bytes
) -> Call[bytes]:
    """PsaSignHash."""
    fields: dict[str, Any] = {"key_name": name, "alg": alg, "hash": digest}
    return _with_algorithm(Opcode.PSA_SIGN_HASH, fields, provider)


def verify_hash(
    provider: int,
    name: str,
    alg: Algorithm.AsymmetricSignature | Encoded,
    digest: bytes,
    signature: bytes,
) -> Call[None]:
    """PsaVerifyHash (InvalidSignatureError if it does not verify)."""
    fields: dict[str, Any] = {"key_name": name, "alg": alg, "hash": digest, "signature": signature}
    return _with_algorithm(Opcode.PSA_VERIFY_HASH, fields, provider)


def sign_message(
    provider: int, name: str, alg: Algorithm.AsymmetricSignature | Encoded, message: bytes
) -> Call[bytes]:
    """PsaSignMessage."""
    fields: dict[str, Any] = {"key_name": name, "alg": alg, "message": message}
    return _with_algorithm(Opcode.PSA_SIGN_MESSAGE, fields, provider)


def verify_message(
    provider: int,
    name: str,
    alg: Algorithm.AsymmetricSignature | Encoded,
    message: bytes,
    signature: bytes,
) -> Call[None]:
    """PsaVerifyMessage (InvalidSignatureError if it does not verify)."""
    fields: dict[str, Any] = {
        "key_name": name,
        "alg": alg,
        "message": message,
        "signature": signature,
    }
    return _with_algorithm(Opcode.PSA_VERIFY_MESSAGE, fields, provider)


# encryption


def asymmetric_encrypt(
    provider: int,
    name: str,
    alg: Algorithm.AsymmetricEncryption | Encoded,
    plaintext: bytes,
    salt: bytes = b"",
) -> Call[bytes]:
    """PsaAsymmetricEncrypt (`salt` is the OAEP label)."""
    fields: dict[str, Any] = {"key_name": name, "alg": alg, "plaintext": plaintext, "salt": salt}
    return _with_algorithm(Opcode.PSA_ASYMMETRIC_ENCRYPT, fields, provider)


def asymmetric_decrypt(
    provider: int,
    name: str,
    alg: Algorithm.AsymmetricEncryption | Encoded,
    ciphertext: bytes,
    salt: bytes = b"",
) -> Call[bytes]:
    """PsaAsymmetricDecrypt."""
    fields: dict[str, Any] = {"key_name": name, "alg": alg, "ciphertext": ciphertext, "salt": salt}
    return _with_algorithm(Opcode.PSA_ASYMMETRIC_DECRYPT, fields, provider)


def aead_encrypt(
    provider: int,
    name: str,
    alg: Algorithm.Aead | Encoded,
    *,
    nonce: bytes,
    aad: bytes,
    plaintext: bytes,
) -> Call[bytes]:
    """PsaAeadEncrypt: ciphertext with the tag appended."""
    fields: dict[str, Any] = {
        "key_name": name,
        "alg": alg,
        "nonce": nonce,
        "additional_data": aad,
        "plaintext": plaintext,
    }
    return _with_algorithm(Opcode.PSA_AEAD_ENCRYPT, fields, provider)


def aead_decrypt(
    provider: int,
    name: str,
    alg: Algorithm.Aead | Encoded,
    *,
    nonce: bytes,
    aad: bytes,
    ciphertext: bytes,
) -> Call[bytes]:
    """PsaAeadDecrypt (InvalidSignatureError if the tag does not verify)."""
    fields: dict[str, Any] = {
        "key_name": name,
        "alg": alg,
        "nonce": nonce,
        "additional_data": aad,
        "ciphertext": ciphertext,
    }
    return _with_algorithm(Opcode.PSA_AEAD_DECRYPT, fields, provider)


def cipher_encrypt(
    provider: int, name: str, alg: Algorithm.Cipher, plaintext: bytes
) -> Call[bytes]:
    """PsaCipherEncrypt: the service picks the IV and prepends it."""
    from tessera.wire.proto import psa_cipher_encrypt_pb2

    body = psa_cipher_encrypt_pb2.Operation(key_name=name, alg=alg, plaintext=plaintext)
    return Call(Opcode.PSA_CIPHER_ENCRYPT, body, _bytes_field("ciphertext"), provider, name)


def cipher_decrypt(
    provider: int, name: str, alg: Algorithm.Cipher, ciphertext: bytes
) -> Call[bytes]:
    """PsaCipherDecrypt: `ciphertext` starts with the IV."""
    from tessera.wire.proto import psa_cipher_decrypt_pb2

    body = psa_cipher_decrypt_pb2.Operation(key_name=name, alg=alg, ciphertext=ciphertext)
    return Call(Opcode.PSA_CIPHER_DECRYPT, body, _bytes_field("plaintext"), provider, name)


# MAC, hash, random, key agreement


def mac_compute(provider: int, name: str, alg: Algorithm.Mac | Encoded, data: bytes) -> Call[bytes]:
    """PsaMacCompute."""
    fields: dict[str, Any] = {"key_name": name, "alg": alg, "input": data}
    return _with_algorithm(Opcode.PSA_MAC_COMPUTE, fields, provider)


def mac_verify(
    provider: int, name: str, alg: Algorithm.Mac | Encoded, data: bytes, mac: bytes
) -> Call[None]:
    """PsaMacVerify (InvalidSignatureError if the MAC does not verify)."""
    fields: dict[str, Any] = {"key_name": name, "alg": alg, "input": data, "mac": mac}
    return _with_algorithm(Opcode.PSA_MAC_VERIFY, fields, provider)


def hash_compute(provider: int, alg: Algorithm.Hash, data: bytes) -> Call[bytes]:
    """PsaHashCompute."""
    from tessera.wire.proto import psa_hash_compute_pb2

    body = psa_hash_compute_pb2.Operation(alg=alg, input=data)
    return Call(Opcode.PSA_HASH_COMPUTE, body, _bytes_field("hash"), provider)


def hash_compare(provider: int, alg: Algorithm.Hash, data: bytes, digest: bytes) -> Call[None]:
    """PsaHashCompare (InvalidSignatureError if the digest differs)."""
    from tessera.wire.proto import psa_hash_compare_pb2

    body = psa_hash_compare_pb2.Operation(alg=alg, input=data, hash=digest)
    return Call(Opcode.PSA_HASH_COMPARE, body, _nothing, provider)


def generate_random(provider: int, size: int) -> Call[bytes]:
    """PsaGenerateRandom."""

    def parse(result: dict[str, Any]) -> bytes:
        value = result["random_bytes"]
        assert isinstance(value, bytes)
        return value

    body = Encoded(encode(_messages.GENERATE_RANDOM_OPERATION, {"size": size}))
    schema = _messages.GENERATE_RANDOM_RESULT
    return Call(Opcode.PSA_GENERATE_RANDOM, body, parse, provider, result=schema)


def raw_key_agreement(
    provider: int, alg: Algorithm.KeyAgreement.Raw, name: str, peer_key: bytes
) -> Call[bytes]:
    """PsaRawKeyAgreement: the shared secret with a peer's public key (PSA format)."""
    from tessera.wire.proto import psa_raw_key_agreement_pb2

    body = psa_raw_key_agreement_pb2.Operation(alg=alg, private_key_name=name, peer_key=peer_key)
    return Call(Opcode.PSA_RAW_KEY_AGREEMENT, body, _bytes_field("shared_secret"), provider, name)


def can_do_crypto(
    provider: int, check_type: can_do_crypto_pb2.CheckType, attributes: KeyAttributes
) -> Call[None]:
    """CanDoCrypto: succeeds when the provider can; NotSupportedError when it cannot."""
    from tessera.wire.proto import can_do_crypto_pb2

    body = can_do_crypto_pb2.Operation(check_type=check_type, attributes=attributes)
    return Call(Opcode.CAN_DO_CRYPTO, body, _nothing, provider)


# key attestation


def prepare_key_attestation(
    provider: int, params: prepare_key_attestation_pb2.PrepareKeyAttestationParams
) -> Call[prepare_key_attestation_pb2.PrepareKeyAttestationOutput]:
    """PrepareKeyAttestation."""
    from tessera.wire.proto import prepare_key_attestation_pb2

    def parse(result: Message) -> prepare_key_attestation_pb2.PrepareKeyAttestationOutput:
        assert isinstance(result, prepare_key_attestation_pb2.Result)
        return result.output

    body = prepare_key_attestation_pb2.Operation(parameters=params)
    return Call(Opcode.PREPARE_KEY_ATTESTATION, body, parse, provider)


def attest_key(
    provider: int,
    attested_key: str,
    params: attest_key_pb2.AttestationMechanismParams,
    attesting_key: str = "",
) -> Call[attest_key_pb2.AttestationOutput]:
    """AttestKey."""
    from tessera.wire.proto import attest_key_pb2

    def parse(result: Message) -> attest_key_pb2.AttestationOutput:
        assert isinstance(result, attest_key_pb2.Result)
        return result.output

    body = attest_key_pb2.Operation(
        attested_key_name=attested_key, parameters=params, attesting_key_name=attesting_key
    )
    return Call(Opcode.ATTEST_KEY, body, parse, provider, attested_key)
