"""The client library against the real daemon: every idiomatic call for every spec, the
operation layer for every opcode, errors, threads, reconnects, timeouts and Parsec-style servers."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import cryptography.exceptions
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.x509.oid import NameOID

import tessera
from tessera.client import specs
from tessera.client._protocol import Call, Credentials, Flow
from tessera.wire.framing import encode_response
from tessera.wire.header import Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import (
    attest_key_pb2,
    can_do_crypto_pb2,
    ping_pb2,
    prepare_key_attestation_pb2,
)
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.proto.psa_key_attributes_pb2 import (
    KeyAttributes,
    KeyPolicy,
    KeyType,
    UsageFlags,
)
from tessera.wire.status import Status
from tests.integration.client_support import (
    AEAD_SPECS,
    SIGNING_SPECS,
    FakeServer,
    OneShotProxy,
    answer_with,
    der_to_psa,
    hash_of,
    never_answer,
    psa_to_der,
    read_request,
    run_threads,
    short_dir,
    verify_locally,
)
from tests.support import RunningService, running_service, start_service, stop_service

pytestmark = pytest.mark.integration

T = TypeVar("T")
SERVICE_ARGS = ("--auth", "direct,unix-peer", "--admin", "direct:admin")
_names = itertools.count()
X962 = serialization.Encoding.X962
UNCOMPRESSED = serialization.PublicFormat.UncompressedPoint
PARSEC_OPCODES = {op for op in Opcode if op < 0x1_0000}  # Tessera's identity protocol is above


def unique(prefix: str) -> str:
    """A key name no other test in this module uses."""
    return f"{prefix}-{next(_names)}"


@pytest.fixture(scope="module")
def service() -> Iterator[RunningService]:
    """One daemon for the module (direct and Unix-peer authentication, admin "admin")."""
    with short_dir() as state, running_service(state, *SERVICE_ARGS) as running:
        yield running


@pytest.fixture(scope="module")
def endpoint(service: RunningService) -> str:
    """The module's service as a `unix:` URI."""
    return f"unix:{service.socket_path}"


@pytest.fixture(scope="module")
def client(endpoint: str) -> Iterator[tessera.Client]:
    """One idiomatic client for the module (Unix peer credentials, chosen automatically)."""
    with tessera.Client(endpoint) as shared:
        yield shared


# the idiomatic layer


def test_client_finds_the_service_through_the_environment(
    service: RunningService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PARSEC_SERVICE_ENDPOINT", f"unix:{service.socket_path}")
    with tessera.Client() as client:
        assert client.ping() == (1, 0)
        assert client.operations.socket_path == service.socket_path


def test_readme_example_runs(service: RunningService, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("## Use it from Python", 1)[1]
    example = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("PARSEC_SERVICE_ENDPOINT", f"unix:{service.socket_path}")
    names: dict[str, Any] = {}
    exec(compile(example, "README.md", "exec"), names)
    public = names["public"]
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(psa_to_der(names["signature"]), b"hello", ec.ECDSA(hashes.SHA256()))


def test_automatic_choices(client: tessera.Client) -> None:
    assert client.operations.auth == tessera.UnixPeerAuth(os.getuid())
    key = client.generate_key(unique("auto"))
    assert key.provider == 1  # the software provider: first listed, and it says it can


def test_direct_authentication_with_an_app_name(endpoint: str) -> None:
    with tessera.Client(endpoint, auth=tessera.DirectAuth("direct-app")) as client:
        name = unique("direct")
        client.generate_key(name)
        mine = client.keys()
        assert name in [k.name for k in mine]
    with tessera.Client(endpoint) as other:  # another identity: Unix peer credentials
        theirs = other.keys()
        assert name not in [k.name for k in theirs]
        with pytest.raises(tessera.DoesNotExistError):
            other.key(name)


@pytest.mark.parametrize("spec", SIGNING_SPECS, ids=lambda s: s.name)
def test_signing_specs(client: tessera.Client, spec: specs.KeySpec) -> None:
    name = unique(spec.name)
    key = client.generate_key(name, spec)
    data = b"message for " + spec.name.encode()

    signature = key.sign(data)
    key.verify(signature, data)
    with pytest.raises(tessera.InvalidSignatureError, match=f"on key '{name}'"):
        key.verify(signature, data + b"!")
    with pytest.raises(cryptography.exceptions.InvalidSignature):
        key.verify(bytes(len(signature)), data)

    public = key.public_key()
    verify_locally(public, spec, signature, data)  # cryptography agrees with the service
    with pytest.raises(cryptography.exceptions.InvalidSignature):
        verify_locally(public, spec, signature, data + b"!")

    if spec is not tessera.ED25519:  # hash-and-sign: digests too
        digest = hashes.Hash(hash_of(spec))
        digest.update(data)
        prehashed = digest.finalize()
        key.verify_digest(key.sign_digest(prehashed), prehashed)
        key.verify_digest(signature, prehashed)  # a message signature is over the digest

    csr = key.certificate_request("CN=app.example,O=Example")
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "app.example"
    assert csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example"
    assert csr.public_key() == public

    handle = client.key(name)
    assert (handle.name, handle.provider) == (name, key.provider)
    assert handle.attributes.key_policy == spec.attributes().key_policy
    handle.verify(signature, data)
    with pytest.raises(tessera.NotPermittedError, match=f"PsaExportKey on key '{name}'"):
        key.export()
    with pytest.raises(tessera.UsageError):
        key.encrypt(b"no")

    key.destroy()
    with pytest.raises(tessera.DoesNotExistError):
        key.sign(data)
    with pytest.raises(tessera.DoesNotExistError):
        client.key(name)


def test_certificate_request_with_a_name_object(client: tessera.Client) -> None:
    key = client.generate_key(unique("csr"), tessera.ECDSA_P384)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "svc")])
    csr = key.certificate_request(subject)
    assert csr.subject == subject
    assert csr.is_signature_valid
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA384)


def test_rsa_oaep(client: tessera.Client) -> None:
    key = client.generate_key(unique("oaep"), specs.rsa_oaep(2048))
    ciphertext = key.encrypt(b"secret", b"label")
    assert key.decrypt(ciphertext, b"label") == b"secret"
    with pytest.raises(tessera.ServiceError):
        key.decrypt(ciphertext, b"another label")
    public = key.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    # encrypted by cryptography with the public key, decrypted in the service
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), b"label")
    assert key.decrypt(public.encrypt(b"from outside", oaep), b"label") == b"from outside"
    with pytest.raises(tessera.UsageError):
        key.sign(b"no")
    with pytest.raises(tessera.UsageError):
        key.certificate_request("CN=x")


@pytest.mark.parametrize("spec", AEAD_SPECS, ids=lambda s: s.name)
def test_aead_specs(client: tessera.Client, spec: specs.KeySpec) -> None:
    key = client.generate_key(unique(spec.name), spec.exportable())
    sealed = key.encrypt(b"plaintext", b"header")
    assert len(sealed) == 12 + len(b"plaintext") + 16  # nonce || ciphertext || tag
    assert key.decrypt(sealed, b"header") == b"plaintext"
    again = key.encrypt(b"plaintext", b"header")
    assert again[:12] != sealed[:12]  # a fresh nonce each time
    with pytest.raises(tessera.InvalidSignatureError):
        key.decrypt(sealed, b"other header")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(cryptography.exceptions.InvalidSignature):
        key.decrypt(tampered, b"header")

    # the exported key opens it with cryptography's own AEAD
    secret = key.export()
    aead = AESGCM(secret) if spec is tessera.AES_256_GCM else ChaCha20Poly1305(secret)
    assert len(secret) == 32
    assert aead.decrypt(sealed[:12], sealed[12:], b"header") == b"plaintext"
    nonce = os.urandom(12)
    assert key.decrypt(nonce + aead.encrypt(nonce, b"outside", b""), b"") == b"outside"
    with pytest.raises(tessera.UsageError, match="symmetric"):
        key.public_key()


def test_hmac(client: tessera.Client) -> None:
    key = client.generate_key(unique("hmac"), tessera.HMAC_SHA256.exportable())
    tag = key.mac(b"data")
    key.verify_mac(b"data", tag)
    assert tag == hmac.new(key.export(), b"data", hashlib.sha256).digest()
    with pytest.raises(tessera.InvalidSignatureError):
        key.verify_mac(b"data!", tag)
    with pytest.raises(tessera.UsageError):
        key.sign(b"data")


def test_ecdh_p256(client: tessera.Client) -> None:
    key = client.generate_key(unique("ecdh"), tessera.ECDH_P256)
    peer = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    expected = peer.exchange(ec.ECDH(), public)
    assert key.agree(peer.public_key()) == expected
    assert key.agree(peer.public_key().public_bytes(X962, UNCOMPRESSED)) == expected


def test_x25519(client: tessera.Client) -> None:
    key = client.generate_key(unique("x25519"), tessera.X25519)
    peer = x25519.X25519PrivateKey.generate()
    public = key.public_key()
    assert isinstance(public, x25519.X25519PublicKey)
    assert key.agree(peer.public_key()) == peer.exchange(public)
    with pytest.raises(tessera.UsageError):
        key.certificate_request("CN=x")


def test_direct_only_service_uses_the_app_name() -> None:
    with short_dir() as state, running_service(state, "--auth", "direct") as running:
        endpoint = f"unix:{running.socket_path}"
        with tessera.Client(endpoint, app_name="named-app") as client:
            key = client.generate_key("mine")
            assert client.operations.auth == tessera.DirectAuth("named-app")
        with tessera.Client(endpoint, auth=tessera.DirectAuth("named-app")) as again:
            assert again.key("mine").name == key.name  # the same identity owns it
        with tessera.Client(endpoint) as nameless:
            assert nameless.ping() == (1, 0)  # needs no authentication
            with pytest.raises(tessera.UsageError, match="app_name"):
                nameless.keys()


def test_key_attributes_are_a_copy(client: tessera.Client) -> None:
    key = client.generate_key(unique("copy"))
    attributes = key.attributes
    attributes.key_policy.key_usage_flags.sign_message = False
    attributes.key_policy.key_usage_flags.sign_hash = False
    key.verify(key.sign(b"still signs"), b"still signs")


# import from cryptography


def test_import_ec_private_key(client: tessera.Client) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key = client.import_key(unique("imported-ec"), private)
    assert key.public_key() == private.public_key()
    signature = key.sign(b"data")
    private.public_key().verify(psa_to_der(signature), b"data", ec.ECDSA(hashes.SHA256()))
    outside = der_to_psa(private.sign(b"data", ec.ECDSA(hashes.SHA256())), 256)
    key.verify(outside, b"data")  # cryptography's signature checked by the service


def test_import_rsa_keys(client: tessera.Client) -> None:
    private = rsa.generate_private_key(65537, 2048)
    key = client.import_key(unique("imported-rsa"), private)
    verify_locally(private.public_key(), specs.rsa_pss(2048), key.sign(b"data"), b"data")
    public_only = client.import_key(unique("imported-rsa-public"), private.public_key())
    pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
    public_only.verify(private.sign(b"data", pss, hashes.SHA256()), b"data")
    with pytest.raises(tessera.UsageError, match="cannot sign"):
        public_only.sign(b"data")  # refused here: the policy of a public key has no sign flag
    oaep = client.import_key(unique("imported-oaep"), private, specs.rsa_oaep())
    assert oaep.attributes.key_bits == 2048
    label_oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
    assert oaep.decrypt(private.public_key().encrypt(b"x", label_oaep)) == b"x"


def test_import_ed25519_and_secrets(client: tessera.Client) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    key = client.import_key(unique("imported-ed"), private)
    private.public_key().verify(key.sign(b"data"), b"data")
    key.verify(private.sign(b"data"), b"data")

    secret = AESGCM.generate_key(256)
    aes = client.import_key(unique("imported-aes"), secret, tessera.AES_256_GCM.exportable())
    assert aes.export() == secret
    nonce = os.urandom(12)
    assert aes.decrypt(nonce + AESGCM(secret).encrypt(nonce, b"pt", b"ad"), b"ad") == b"pt"


def test_keys_random_and_digest(client: tessera.Client) -> None:
    name = unique("listed")
    client.generate_key(name, tessera.ED25519)
    keys = client.keys()
    listed = {k.name: k for k in keys}
    assert listed[name].attributes.key_type == tessera.ED25519.attributes().key_type
    first, second = client.random(32), client.random(32)
    assert len(first) == 32 and first != second
    assert client.digest(b"abc") == hashlib.sha256(b"abc").digest()
    assert client.digest(b"abc", Algorithm.SHA_512) == hashlib.sha512(b"abc").digest()


# errors


def test_service_errors(client: tessera.Client, endpoint: str) -> None:
    name = unique("dup")
    client.generate_key(name)
    with pytest.raises(tessera.AlreadyExistsError, match=f"PsaGenerateKey on key '{name}'"):
        client.generate_key(name)
    with pytest.raises(tessera.DoesNotExistError, match="'no-such-key'"):
        client.key("no-such-key")
    with tessera.OperationClient(endpoint, auth=tessera.DirectAuth("someone")) as ops:
        with pytest.raises(tessera.DoesNotExistError) as caught:
            ops.psa_export_public_key("no-such-key")
        assert caught.value.operation == "PsaExportPublicKey"
        assert caught.value.key_name == "no-such-key"
        with pytest.raises(tessera.AdminOperationError):
            ops.list_clients()
        with pytest.raises(tessera.ProviderDoesNotExistError):
            ops.psa_generate_key("k", tessera.ECDSA_P256.attributes(), provider=9)
        with pytest.raises(tessera.NotSupportedError):
            ops.prepare_key_attestation(prepare_key_attestation_pb2.PrepareKeyAttestationParams())


class _Payload:
    """Custom credentials (an `Authentication`), refreshed from a list on `invalidate()`."""

    def __init__(self, auth_type: AuthType, *payloads: bytes, retry: bool = False) -> None:
        self.auth_type = auth_type
        self.payloads = list(payloads)
        self.retry = retry
        self.fetched = 0

    def credentials(self) -> Flow[Credentials | None]:
        payload = self.payloads[min(self.fetched, len(self.payloads) - 1)]
        self.fetched += 1
        return Credentials(self.auth_type, payload)
        yield

    def invalidate(self) -> bool:
        return self.retry


def test_authentication_errors(endpoint: str) -> None:
    def list_keys_as(auth: tessera.Authentication) -> None:
        with tessera.OperationClient(endpoint, auth=auth) as ops:
            ops.list_keys()

    with pytest.raises(tessera.NotAuthenticatedError, match="ListKeys"):
        list_keys_as(tessera.NoAuth())
    with pytest.raises(tessera.AuthenticationError):
        list_keys_as(_Payload(AuthType.DIRECT, b""))  # an empty application name
    with pytest.raises(tessera.AuthenticationError):
        list_keys_as(tessera.UnixPeerAuth(os.getuid() + 1))  # not the kernel's uid
    with pytest.raises(tessera.AuthenticatorNotRegisteredError):
        list_keys_as(_Payload(AuthType.JWT, b"a.b.c"))  # not enabled on this service


def test_refused_credentials_are_refreshed_once(endpoint: str) -> None:
    stale_then_fresh = _Payload(AuthType.DIRECT, b"", b"refreshed-app", retry=True)
    with tessera.OperationClient(endpoint, auth=stale_then_fresh) as ops:
        assert isinstance(ops.list_keys(), list)
    assert stale_then_fresh.fetched == 2
    always_stale = _Payload(AuthType.DIRECT, b"", retry=True)
    with (
        tessera.OperationClient(endpoint, auth=always_stale) as ops,
        pytest.raises(tessera.AuthenticationError),
    ):
        ops.list_keys()
    assert always_stale.fetched == 2  # one retry, not a loop


def test_usage_errors(client: tessera.Client) -> None:
    with pytest.raises(tessera.UsageError):
        tessera.Client("tcp://localhost:1")
    with pytest.raises(tessera.UsageError):
        tessera.Client("unix:/x.sock", timeout=0)
    key = client.generate_key(unique("usage"))
    with pytest.raises(tessera.UsageError, match="cannot encrypt"):
        key.encrypt(b"x")
    with pytest.raises(ValueError):  # UsageError is a ValueError
        key.mac(b"x")


# the operation layer


class RecordingOperationClient(tessera.OperationClient):
    """An operation client that notes every opcode it sends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: set[Opcode] = set()

    def _execute(self, call: Call[T]) -> T:
        self.sent.add(call.opcode)
        return super()._execute(call)


def _attributes(key_type: KeyType, bits: int, algorithm: Algorithm, **usage: bool) -> KeyAttributes:
    return KeyAttributes(
        key_type=key_type,
        key_bits=bits,
        key_policy=KeyPolicy(key_usage_flags=UsageFlags(**usage), key_algorithm=algorithm),
    )


def test_operation_layer_covers_every_opcode(endpoint: str) -> None:
    with (
        RecordingOperationClient(endpoint, auth=tessera.DirectAuth("ops-app")) as ops,
        RecordingOperationClient(endpoint, auth=tessera.DirectAuth("admin")) as admin,
    ):
        _every_opcode(ops, admin)
    assert ops.sent | admin.sent == PARSEC_OPCODES


def _every_opcode(ops: RecordingOperationClient, admin: RecordingOperationClient) -> None:

    # core
    assert ops.ping() == (1, 0)
    providers = ops.list_providers()
    assert [p.id for p in providers] == [1, 0]
    assert Opcode.PSA_SIGN_HASH in ops.list_opcodes(1)
    assert [a.id for a in ops.list_authenticators()] == [AuthType.DIRECT, 3]

    # keys
    signing = tessera.ECDSA_P256.exportable().attributes()
    ops.psa_generate_key("sig", signing)
    assert [(k.name, k.provider_id) for k in ops.list_keys()] == [("sig", 1)]
    public = ops.psa_export_public_key("sig")
    assert public[0] == 0x04 and len(public) == 65
    private = ops.psa_export_key("sig")
    assert len(private) == 32
    ops.psa_import_key("sig-copy", signing, private)
    assert ops.psa_export_public_key("sig-copy") == public
    assert "ops-app" in admin.list_clients()

    # signatures
    alg = signing.key_policy.key_algorithm.asymmetric_signature
    digest = hashlib.sha256(b"data").digest()
    signature = ops.psa_sign_hash("sig", alg, digest)
    ops.psa_verify_hash("sig-copy", alg, digest, signature)
    message_signature = ops.psa_sign_message("sig", alg, b"data")
    ops.psa_verify_message("sig", alg, b"data", message_signature)
    with pytest.raises(tessera.InvalidSignatureError):
        ops.psa_verify_message("sig", alg, b"other", message_signature)

    # asymmetric encryption
    oaep = specs.rsa_oaep(2048).attributes()
    ops.psa_generate_key("rsa", oaep)
    enc = oaep.key_policy.key_algorithm.asymmetric_encryption
    ciphertext = ops.psa_asymmetric_encrypt("rsa", enc, b"pt", b"salt")
    assert ops.psa_asymmetric_decrypt("rsa", enc, ciphertext, b"salt") == b"pt"

    # AEAD, with a nonce of our choosing
    gcm = tessera.AES_256_GCM.attributes()
    ops.psa_generate_key("gcm", gcm)
    aead = gcm.key_policy.key_algorithm.aead
    nonce = ops.psa_generate_random(12)
    sealed = ops.psa_aead_encrypt("gcm", aead, nonce, b"pt", b"ad")
    assert ops.psa_aead_decrypt("gcm", aead, nonce, sealed, b"ad") == b"pt"

    # unauthenticated cipher, checked against cryptography
    ctr = _attributes(
        KeyType(aes=KeyType.Aes()),
        128,
        Algorithm(cipher=Algorithm.CTR),
        encrypt=True,
        decrypt=True,
        export=True,
    )
    ops.psa_generate_key("ctr", ctr)
    iv_and_ciphertext = ops.psa_cipher_encrypt("ctr", Algorithm.CTR, b"counter mode")
    assert ops.psa_cipher_decrypt("ctr", Algorithm.CTR, iv_and_ciphertext) == b"counter mode"
    iv, body = iv_and_ciphertext[:16], iv_and_ciphertext[16:]
    decryptor = Cipher(algorithms.AES(ops.psa_export_key("ctr")), modes.CTR(iv)).decryptor()
    assert decryptor.update(body) + decryptor.finalize() == b"counter mode"

    # MAC, hash
    hmac_attributes = tessera.HMAC_SHA256.attributes()
    ops.psa_generate_key("mac", hmac_attributes)
    mac_alg = hmac_attributes.key_policy.key_algorithm.mac
    tag = ops.psa_mac_compute("mac", mac_alg, b"data")
    ops.psa_mac_verify("mac", mac_alg, b"data", tag)
    assert ops.psa_hash_compute(Algorithm.SHA_256, b"data") == digest
    ops.psa_hash_compare(Algorithm.SHA_256, b"data", digest)
    with pytest.raises(tessera.InvalidSignatureError):
        ops.psa_hash_compare(Algorithm.SHA_256, b"other", digest)

    # key agreement
    ops.psa_generate_key("ecdh", tessera.ECDH_P256.attributes())
    peer = ec.generate_private_key(ec.SECP256R1())
    peer_public = peer.public_key().public_bytes(X962, UNCOMPRESSED)
    secret = ops.psa_raw_key_agreement(Algorithm.KeyAgreement.ECDH, "ecdh", peer_public)
    service_public = ec.EllipticCurvePublicKey.from_encoded_point(
        ec.SECP256R1(), ops.psa_export_public_key("ecdh")
    )
    assert secret == peer.exchange(ec.ECDH(), service_public)

    # capabilities and attestation (the software provider cannot attest)
    ops.can_do_crypto(can_do_crypto_pb2.GENERATE, signing)
    with pytest.raises(tessera.NotSupportedError):
        ops.can_do_crypto(
            can_do_crypto_pb2.GENERATE,
            specs.ecdsa(KeyType.SECP_R1, 200, Algorithm.SHA_256, "x").attributes(),
        )
    with pytest.raises(tessera.NotSupportedError):
        ops.prepare_key_attestation(prepare_key_attestation_pb2.PrepareKeyAttestationParams())
    with pytest.raises(tessera.NotSupportedError):
        ops.attest_key("sig", attest_key_pb2.AttestationMechanismParams())

    # destruction and administration
    ops.psa_destroy_key("sig-copy")
    assert "sig-copy" not in [k.name for k in ops.list_keys()]
    admin.delete_client("ops-app")
    assert ops.list_keys() == []
    with pytest.raises(tessera.DoesNotExistError):
        admin.delete_client("ops-app")


def test_operation_client_has_one_method_per_opcode() -> None:
    for opcode in PARSEC_OPCODES:
        assert callable(getattr(tessera.OperationClient, opcode.name.lower()))
        assert callable(getattr(tessera.AsyncOperationClient, opcode.name.lower()))


# transport: threads, reconnects, timeouts, servers that hang up


def test_many_threads_share_one_client(client: tessera.Client) -> None:
    key = client.generate_key(unique("threads"))
    public = key.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    signatures: list[list[tuple[bytes, bytes]]] = [[] for _ in range(16)]

    def work(index: int) -> None:
        for n in range(50):
            data = f"thread {index} message {n}".encode()
            signatures[index].append((data, key.sign(data)))

    run_threads(16, work)
    assert sum(len(s) for s in signatures) == 800
    for data, signature in itertools.chain.from_iterable(signatures):
        public.verify(psa_to_der(signature), data, ec.ECDSA(hashes.SHA256()))
    assert len(client.operations._transport._idle) <= 8  # the pool stays bounded


def test_a_forked_child_opens_its_own_connections(endpoint: str) -> None:
    with tessera.Client(endpoint) as client:
        assert client.ping() == (1, 0)
        [pooled] = client.operations._transport._idle
        child = os.fork()
        if child == 0:  # pragma: no cover (the child reports through its exit status)
            try:
                ok = client.ping() == (1, 0) and pooled.fileno() == -1
            except BaseException:
                ok = False
            os._exit(0 if ok else 1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert pooled.fileno() != -1  # the parent's connection is untouched, and still works
        assert client.ping() == (1, 0)
        assert client.operations._transport._idle == [pooled]


@pytest.fixture
def own_service() -> Iterator[RunningService]:
    """A daemon of the test's own, which the test may stop and start again."""
    with short_dir() as state:
        running = start_service(state, *SERVICE_ARGS)
        try:
            yield running
        finally:
            stop_service(running)


def _restart(service: RunningService) -> RunningService:
    return start_service(service.state_dir, *SERVICE_ARGS, socket_path=service.socket_path)


def test_reconnects_after_a_service_restart(own_service: RunningService) -> None:
    with tessera.Client(f"unix:{own_service.socket_path}", timeout=5) as client:
        key = client.generate_key("survivor")
        signature = key.sign(b"before")
        assert client.operations._transport._idle  # a persistent connection is pooled

        stop_service(own_service)
        restarted = _restart(own_service)
        own_service.process = restarted.process  # stopped by the fixture
        key.verify(signature, b"before")  # the same client, the same key, no error
        key.verify(key.sign(b"after"), b"after")


def test_a_call_during_a_restart_waits_for_the_service(own_service: RunningService) -> None:
    with tessera.Client(f"unix:{own_service.socket_path}", timeout=10) as client:
        assert client.ping() == (1, 0)
        stop_service(own_service)
        restarted: list[RunningService] = []
        later = threading.Timer(0.3, lambda: restarted.append(_restart(own_service)))
        later.start()
        try:
            assert client.ping() == (1, 0)  # retried until the service was back
        finally:
            later.join()
            for running in restarted:
                own_service.process = running.process  # stopped by the fixture


def test_service_down_raises_transport_error_within_the_timeout(
    own_service: RunningService,
) -> None:
    with tessera.Client(f"unix:{own_service.socket_path}", timeout=0.5) as client:
        key = client.generate_key("orphan")
        stop_service(own_service)
        started = time.monotonic()
        with pytest.raises(tessera.TransportError, match="cannot reach the service") as caught:
            key.sign(b"data")
        assert time.monotonic() - started < 1.0
        assert isinstance(caught.value, ConnectionError)  # TransportError is a ConnectionError
        assert not isinstance(caught.value, tessera.CallTimeoutError)  # refused, not silent


def test_idle_connection_dropped_by_the_service_is_replaced() -> None:
    with short_dir() as state:
        config = state / "config.toml"
        config.write_text("[listener]\nidle_timeout = 100\n")
        with (
            running_service(state, *SERVICE_ARGS, config=config) as running,
            tessera.Client(f"unix:{running.socket_path}") as client,
        ):
            assert client.ping() == (1, 0)
            [pooled] = client.operations._transport._idle
            time.sleep(0.3)  # the service closes the idle connection
            assert client.ping() == (1, 0)
            assert pooled.fileno() == -1  # the dead connection was found and closed
            assert len(client.operations._transport._idle) == 1


def test_parsec_style_service_closing_after_each_answer(service: RunningService) -> None:
    proxy = OneShotProxy(service.socket_path)
    with (
        short_dir() as directory,
        FakeServer(directory / "parsec.sock", proxy) as server,
        tessera.Client(server.endpoint) as client,
    ):
        key = client.generate_key(unique("one-shot"))
        for n in range(10):
            key.verify(key.sign(b"%d" % n), b"%d" % n)
        # ListProviders, ListOpcodes, ListAuthenticators, CanDoCrypto, generate, 20 uses
        assert proxy.forwarded == 25
        assert server.connections >= proxy.forwarded  # a connection per request


def test_call_timeout_when_the_service_never_answers() -> None:
    with (
        short_dir() as directory,
        FakeServer(directory / "s.sock", never_answer) as server,
        tessera.Client(server.endpoint, timeout=0.3) as client,
    ):
        started = time.monotonic()
        with pytest.raises(
            tessera.CallTimeoutError, match="no complete answer within the timeout"
        ) as caught:
            client.ping()
        assert 0.25 < time.monotonic() - started < 1.0
        assert isinstance(caught.value, TimeoutError)  # CallTimeoutError is a TimeoutError


def test_one_timeout_covers_the_authentication_retry() -> None:
    refusal = encode_response(
        Header(opcode=Opcode.LIST_KEYS, status=Status.AUTHENTICATION_ERROR), b""
    )

    def slow_refusals(conn: socket.socket, server: FakeServer) -> None:
        while read_request(conn, server) is not None:  # on the one persistent connection
            time.sleep(0.2)
            conn.sendall(refusal)

    retrying = _Payload(AuthType.DIRECT, b"first", b"second", retry=True)
    with (
        short_dir() as directory,
        FakeServer(directory / "s.sock", slow_refusals) as server,
        tessera.OperationClient(server.endpoint, auth=retrying, timeout=0.3) as ops,
    ):
        started = time.monotonic()
        with pytest.raises(tessera.CallTimeoutError):
            ops.list_keys()  # 0.2 s for the refusal leaves 0.1 s for the retry: too little
        assert time.monotonic() - started < 1.0
        assert retrying.fetched == 2


def test_a_slow_answer_within_the_timeout_arrives() -> None:
    body = ping_pb2.Result(wire_protocol_version_maj=1, wire_protocol_version_min=0)
    answer = encode_response(Header(opcode=Opcode.PING), body.SerializeToString())

    def slow(conn: socket.socket, server: FakeServer) -> None:
        time.sleep(0.2)
        answer_with(answer)(conn, server)

    with short_dir() as directory, FakeServer(directory / "s.sock", slow) as server:
        with tessera.Client(server.endpoint, timeout=2) as patient:
            assert patient.ping() == (1, 0)
        with (
            tessera.Client(server.endpoint, timeout=0.1) as hasty,
            pytest.raises(tessera.CallTimeoutError),
        ):
            hasty.ping()


@pytest.mark.parametrize(
    ("reply", "error", "message"),
    [
        (b"", tessera.TransportError, "without answering"),
        (b"\x10\xa7\xc0", tessera.TransportError, "mid-answer"),
        (b"\x00" * 64, tessera.ProtocolError, "malformed"),
    ],
    ids=["hang-up", "partial", "garbage"],
)
def test_misbehaving_servers(reply: bytes, error: type[Exception], message: str) -> None:
    with (
        short_dir() as directory,
        FakeServer(directory / "s.sock", answer_with(reply)) as server,
        tessera.Client(server.endpoint, timeout=2) as client,
        pytest.raises(error, match=message),
    ):
        client.ping()


def test_an_answer_to_another_operation_is_a_protocol_error() -> None:
    answer = encode_response(Header(opcode=Opcode.LIST_KEYS), b"")
    with (
        short_dir() as directory,
        FakeServer(directory / "s.sock", answer_with(answer)) as server,
        tessera.Client(server.endpoint, timeout=2) as client,
        pytest.raises(tessera.ProtocolError, match="Ping"),
    ):
        client.ping()
