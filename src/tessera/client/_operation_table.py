"""The operation layer's method table: one method per Parsec opcode, written once for both clients.

Each method is a flow (`_twin`): it picks the provider (the one given, else the service's
preferred one, asked once) and runs the call `_calls` builds. `OperationClient` binds the table
blocking and `AsyncOperationClient` as coroutines (`_operations`); this module holds no I/O and
no encoding.
"""

from __future__ import annotations

from collections.abc import Callable

from tessera.client import _calls
from tessera.client._calls import AuthenticatorInfo, KeyInfo, ProviderInfo
from tessera.client._connections import IDENTITY_PROVIDER, SERVICE, Connections, Role
from tessera.client._discovery import KeyFlow, run
from tessera.client._errors import UsageError
from tessera.client._protocol import Authentication, Call, Flow
from tessera.client._session import DEFAULT_TIMEOUT, Endpoint, Session
from tessera.client._twin import Plan, twin, twin_steps

TYPE_CHECKING = False  # typing is not imported at run time: the `tessera` command's start-up
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, Concatenate, Generic, ParamSpec, TypeVar
else:
    from tessera.wire._runtime_typing import Any, Generic, ParamSpec, TypeVar

if TYPE_CHECKING:  # protobuf loads with the operations that carry PSA structures
    from tessera.wire.proto.attest_key_pb2 import AttestationMechanismParams, AttestationOutput
    from tessera.wire.proto.can_do_crypto_pb2 import CheckType
    from tessera.wire.proto.prepare_key_attestation_pb2 import (
        PrepareKeyAttestationOutput,
        PrepareKeyAttestationParams,
    )
    from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
    from tessera.wire.proto.psa_key_attributes_pb2 import KeyAttributes

P = ParamSpec("P")
T = TypeVar("T")
TransportT = TypeVar("TransportT", bound=Connections[Any])


class OperationLayer(Generic[TransportT]):
    """What both operation clients share: their settings (`Session`), their transports, and
    the method table. The arguments are documented on `OperationClient`."""

    def __init__(
        self,
        endpoint: Endpoint = None,
        *,
        auth: Authentication | None = None,
        app_name: str | None = None,
        provider: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        identity_endpoint: Endpoint = None,
        restart_wait: float | None = None,
    ) -> None:
        self._session = Session(
            endpoint,
            auth,
            app_name,
            provider,
            timeout,
            identity_endpoint=identity_endpoint,
            restart_wait=restart_wait,
        )
        self._transport = self._open(self._session.socket_path, SERVICE)
        self._identity: TransportT | None = None

    @property
    def socket_path(self) -> Path:
        """The service socket this client talks to."""
        from pathlib import Path  # (made when asked: pathlib is not imported at start)

        return Path(self._session.socket_path)

    def _open(self, path: str, role: Role) -> TransportT:
        """A transport to `path` (each client its own kind)."""
        raise NotImplementedError

    def _identity_transport(self) -> TransportT:
        """The transport to the identity provider, opened on first need."""
        if self._identity is None:
            path = self._session.identity_path
            if path is None:
                raise UsageError("no identity provider endpoint (TESSERA_IDENTITY_ENDPOINT)")
            self._identity = self._open(path, IDENTITY_PROVIDER)
        return self._identity

    def _on(
        self,
        provider: int | None,
        build: Callable[Concatenate[int, P], Call[T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Plan[T]:
        """The call `build` makes for `provider` (None: the service's preferred one)."""
        if provider is None:
            provider = self._session.provider
        if provider is None:
            return self._on_default(build, *args, **kwargs)
        return build(provider, *args, **kwargs)

    def _on_default(
        self, build: Callable[Concatenate[int, P], Call[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> KeyFlow[T]:
        provider = yield from self._session.preferred_provider()
        return (yield from run(build(provider, *args, **kwargs)))

    @twin_steps
    def get_auth(self) -> Flow[Authentication]:
        """The authentication in use (chosen on first need)."""
        return self._session.authentication()

    @twin
    def ping(self) -> Plan[tuple[int, int]]:
        """The wire protocol version (major, minor) the service speaks."""
        return _calls.ping()

    @twin
    def list_providers(self) -> Plan[list[ProviderInfo]]:
        """Every provider, in priority order (the core provider last)."""
        return _calls.list_providers()

    @twin
    def list_opcodes(self, provider_id: int) -> Plan[list[int]]:
        """The opcodes one provider serves."""
        return _calls.list_opcodes(provider_id)

    @twin
    def list_authenticators(self) -> Plan[list[AuthenticatorInfo]]:
        """The service's active authenticators."""
        return _calls.list_authenticators()

    @twin
    def list_keys(self) -> Plan[list[KeyInfo]]:
        """This application's keys in every provider."""
        return _calls.list_keys()

    @twin
    def list_clients(self) -> Plan[list[str]]:
        """Every application that owns keys (administrators only)."""
        return _calls.list_clients()

    @twin
    def delete_client(self, client: str) -> Plan[None]:
        """Delete every key of an application (administrators only)."""
        return _calls.delete_client(client)

    @twin
    def psa_generate_key(
        self, name: str, attributes: KeyAttributes, *, provider: int | None = None
    ) -> Plan[None]:
        """PsaGenerateKey."""
        return self._on(provider, _calls.generate_key, name, attributes)

    @twin
    def psa_import_key(
        self, name: str, attributes: KeyAttributes, data: bytes, *, provider: int | None = None
    ) -> Plan[None]:
        """PsaImportKey (`data` in the PSA format of the key type)."""
        return self._on(provider, _calls.import_key, name, attributes, data)

    @twin
    def psa_export_key(self, name: str, *, provider: int | None = None) -> Plan[bytes]:
        """PsaExportKey."""
        return self._on(provider, _calls.export_key, name)

    @twin
    def psa_export_public_key(self, name: str, *, provider: int | None = None) -> Plan[bytes]:
        """PsaExportPublicKey."""
        return self._on(provider, _calls.export_public_key, name)

    @twin
    def psa_destroy_key(self, name: str, *, provider: int | None = None) -> Plan[None]:
        """PsaDestroyKey."""
        return self._on(provider, _calls.destroy_key, name)

    @twin
    def psa_sign_hash(
        self,
        name: str,
        alg: Algorithm.AsymmetricSignature,
        digest: bytes,
        *,
        provider: int | None = None,
    ) -> Plan[bytes]:
        """PsaSignHash."""
        return self._on(provider, _calls.sign_hash, name, alg, digest)

    @twin
    def psa_verify_hash(
        self,
        name: str,
        alg: Algorithm.AsymmetricSignature,
        digest: bytes,
        signature: bytes,
        *,
        provider: int | None = None,
    ) -> Plan[None]:
        """PsaVerifyHash; raises InvalidSignatureError if it does not verify."""
        return self._on(provider, _calls.verify_hash, name, alg, digest, signature)

    @twin
    def psa_sign_message(
        self,
        name: str,
        alg: Algorithm.AsymmetricSignature,
        message: bytes,
        *,
        provider: int | None = None,
    ) -> Plan[bytes]:
        """PsaSignMessage."""
        return self._on(provider, _calls.sign_message, name, alg, message)

    @twin
    def psa_verify_message(
        self,
        name: str,
        alg: Algorithm.AsymmetricSignature,
        message: bytes,
        signature: bytes,
        *,
        provider: int | None = None,
    ) -> Plan[None]:
        """PsaVerifyMessage; raises InvalidSignatureError if it does not verify."""
        return self._on(provider, _calls.verify_message, name, alg, message, signature)

    @twin
    def psa_asymmetric_encrypt(
        self,
        name: str,
        alg: Algorithm.AsymmetricEncryption,
        plaintext: bytes,
        salt: bytes = b"",
        *,
        provider: int | None = None,
    ) -> Plan[bytes]:
        """PsaAsymmetricEncrypt (`salt` is the OAEP label)."""
        return self._on(provider, _calls.asymmetric_encrypt, name, alg, plaintext, salt)

    @twin
    def psa_asymmetric_decrypt(
        self,
        name: str,
        alg: Algorithm.AsymmetricEncryption,
        ciphertext: bytes,
        salt: bytes = b"",
        *,
        provider: int | None = None,
    ) -> Plan[bytes]:
        """PsaAsymmetricDecrypt."""
        return self._on(provider, _calls.asymmetric_decrypt, name, alg, ciphertext, salt)

    @twin
    def psa_aead_encrypt(
        self,
        name: str,
        alg: Algorithm.Aead,
        nonce: bytes,
        plaintext: bytes,
        aad: bytes = b"",
        *,
        provider: int | None = None,
    ) -> Plan[bytes]:
        """PsaAeadEncrypt: ciphertext with the tag appended."""
        return self._on(
            provider, _calls.aead_encrypt, name, alg, nonce=nonce, aad=aad, plaintext=plaintext
        )

    @twin
    def psa_aead_decrypt(
        self,
        name: str,
        alg: Algorithm.Aead,
        nonce: bytes,
        ciphertext: bytes,
        aad: bytes = b"",
        *,
        provider: int | None = None,
    ) -> Plan[bytes]:
        """PsaAeadDecrypt; raises InvalidSignatureError if the tag does not verify."""
        return self._on(
            provider, _calls.aead_decrypt, name, alg, nonce=nonce, aad=aad, ciphertext=ciphertext
        )

    @twin
    def psa_cipher_encrypt(
        self, name: str, alg: Algorithm.Cipher, plaintext: bytes, *, provider: int | None = None
    ) -> Plan[bytes]:
        """PsaCipherEncrypt: the IV (chosen by the service) comes first in the result."""
        return self._on(provider, _calls.cipher_encrypt, name, alg, plaintext)

    @twin
    def psa_cipher_decrypt(
        self, name: str, alg: Algorithm.Cipher, ciphertext: bytes, *, provider: int | None = None
    ) -> Plan[bytes]:
        """PsaCipherDecrypt: `ciphertext` starts with the IV."""
        return self._on(provider, _calls.cipher_decrypt, name, alg, ciphertext)

    @twin
    def psa_mac_compute(
        self, name: str, alg: Algorithm.Mac, data: bytes, *, provider: int | None = None
    ) -> Plan[bytes]:
        """PsaMacCompute."""
        return self._on(provider, _calls.mac_compute, name, alg, data)

    @twin
    def psa_mac_verify(
        self, name: str, alg: Algorithm.Mac, data: bytes, mac: bytes, *, provider: int | None = None
    ) -> Plan[None]:
        """PsaMacVerify; raises InvalidSignatureError if the MAC does not verify."""
        return self._on(provider, _calls.mac_verify, name, alg, data, mac)

    @twin
    def psa_hash_compute(
        self, alg: Algorithm.Hash, data: bytes, *, provider: int | None = None
    ) -> Plan[bytes]:
        """PsaHashCompute."""
        return self._on(provider, _calls.hash_compute, alg, data)

    @twin
    def psa_hash_compare(
        self, alg: Algorithm.Hash, data: bytes, digest: bytes, *, provider: int | None = None
    ) -> Plan[None]:
        """PsaHashCompare; raises InvalidSignatureError if the digest differs."""
        return self._on(provider, _calls.hash_compare, alg, data, digest)

    @twin
    def psa_generate_random(self, size: int, *, provider: int | None = None) -> Plan[bytes]:
        """PsaGenerateRandom."""
        return self._on(provider, _calls.generate_random, size)

    @twin
    def psa_raw_key_agreement(
        self,
        alg: Algorithm.KeyAgreement.Raw,
        name: str,
        peer_key: bytes,
        *,
        provider: int | None = None,
    ) -> Plan[bytes]:
        """PsaRawKeyAgreement: the shared secret with a peer public key."""
        return self._on(provider, _calls.raw_key_agreement, alg, name, peer_key)

    @twin
    def can_do_crypto(
        self, check_type: CheckType, attributes: KeyAttributes, *, provider: int | None = None
    ) -> Plan[None]:
        """CanDoCrypto; raises NotSupportedError when the provider cannot."""
        return self._on(provider, _calls.can_do_crypto, check_type, attributes)

    @twin
    def prepare_key_attestation(
        self, params: PrepareKeyAttestationParams, *, provider: int | None = None
    ) -> Plan[PrepareKeyAttestationOutput]:
        """PrepareKeyAttestation."""
        return self._on(provider, _calls.prepare_key_attestation, params)

    @twin
    def attest_key(
        self,
        attested_key: str,
        params: AttestationMechanismParams,
        attesting_key: str = "",
        *,
        provider: int | None = None,
    ) -> Plan[AttestationOutput]:
        """AttestKey."""
        return self._on(provider, _calls.attest_key, attested_key, params, attesting_key)
