"""`Key.as_private_key()` against the real daemon: certificates and requests made by
`cryptography`'s own builders, JWTs made by PyJWT, each signed in the service and verified by
`cryptography` alone; and the refusals (wrong algorithm, private material, wrong key kind)."""

from __future__ import annotations

import copy
import datetime
import itertools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa, utils
from cryptography.x509.oid import NameOID

import tessera
from tessera.client import specs
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tessera.wire.proto.psa_key_attributes_pb2 import KeyType
from tests.integration.client_support import short_dir
from tests.support import RunningService, running_service

pytestmark = pytest.mark.integration

_names = itertools.count()
PEM = serialization.Encoding.PEM
SPKI = serialization.PublicFormat.SubjectPublicKeyInfo
PKCS8 = serialization.PrivateFormat.PKCS8
SignHash = hashes.SHA256 | hashes.SHA384 | hashes.SHA512
PSS_SHA256 = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH)
# 2048-bit RSA keys: the smallest PyJWT accepts, and quicker to make than the 3072-bit default
RSA_PSS = specs.rsa_pss(2048)
RSA_PKCS1 = specs.rsa_pkcs1v15_sign(2048)
ECDSA_ANY_HASH = specs.KeySpec(
    "ecdsa-p256-any-hash",
    KeyType(ecc_key_pair=KeyType.EccKeyPair(curve_family=KeyType.SECP_R1)),
    256,
    Algorithm(
        asymmetric_signature=Algorithm.AsymmetricSignature(
            ecdsa=Algorithm.AsymmetricSignature.Ecdsa(
                hash_alg=Algorithm.AsymmetricSignature.SignHash(
                    any=Algorithm.AsymmetricSignature.SignHash.Any()
                )
            )
        )
    ),
    specs.SIGN,
)
ED448 = specs.KeySpec(
    "ed448",
    KeyType(ecc_key_pair=KeyType.EccKeyPair(curve_family=KeyType.TWISTED_EDWARDS)),
    448,
    specs.ED25519.algorithm,
    specs.ED25519.usage,
)


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


@pytest.fixture(scope="module")
def service() -> Iterator[RunningService]:
    with short_dir() as state, running_service(state, "--auth", "unix-peer") as running:
        yield running


@pytest.fixture(scope="module")
def client(service: RunningService) -> Iterator[tessera.Client]:
    with tessera.Client(f"unix:{service.socket_path}") as shared:
        yield shared


@pytest.fixture(scope="module")
def keys(client: tessera.Client) -> dict[str, tessera.Key]:
    """One key per spec for the module (RSA generation is slow)."""
    made = {
        "p256": tessera.ECDSA_P256,
        "p384": tessera.ECDSA_P384,
        "ed25519": tessera.ED25519,
        "rsa-pss": RSA_PSS,
        "rsa-pkcs1": RSA_PKCS1,
    }
    return {name: client.generate_key(unique(name), spec) for name, spec in made.items()}


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _self_signed(signer: Any, algorithm: SignHash | None, **sign: Any) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("tessera-test"))
        .issuer_name(_name("tessera-test"))
        .public_key(signer.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )
    return builder.sign(signer, algorithm, **sign)


def _exported_public(key: tessera.Key) -> bytes:
    """The public key as PEM, the way a verifier elsewhere would receive it."""
    public = key.public_key()
    assert isinstance(
        public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey
    )
    return public.public_bytes(PEM, SPKI)


# signatures in cryptography's formats


@pytest.mark.parametrize(
    ("spec", "algorithm", "curve"),
    [
        (tessera.ECDSA_P256, hashes.SHA256(), ec.SECP256R1),
        (tessera.ECDSA_P384, hashes.SHA384(), ec.SECP384R1),
        (tessera.ECDSA_P521, hashes.SHA512(), ec.SECP521R1),
    ],
)
def test_ecdsa_signatures_are_der_and_verify(
    client: tessera.Client, spec: specs.KeySpec, algorithm: hashes.HashAlgorithm, curve: type
) -> None:
    key = client.generate_key(unique("ecdsa"), spec)
    signer = key.as_private_key()
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    assert isinstance(signer, tessera.ServicePrivateKey) and signer.key is key
    assert isinstance(signer.curve, curve) and signer.key_size == spec.bits
    signature = signer.sign(b"hello", ec.ECDSA(algorithm))
    r, s = utils.decode_dss_signature(signature)  # DER, not PSA's r || s
    assert r > 0 and s > 0
    signer.public_key().verify(signature, b"hello", ec.ECDSA(algorithm))
    digest = hashes.Hash(algorithm)
    digest.update(b"digested")
    prehashed = signer.sign(digest.finalize(), ec.ECDSA(utils.Prehashed(algorithm)))
    signer.public_key().verify(prehashed, b"digested", ec.ECDSA(algorithm))


def test_a_message_over_the_request_limit_is_signed_through_its_digest(
    keys: dict[str, tessera.Key],
) -> None:
    signer = keys["p256"].as_private_key()
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    big = b"x" * 2_000_000
    signature = signer.sign(big, ec.ECDSA(hashes.SHA256()))
    signer.public_key().verify(signature, big, ec.ECDSA(hashes.SHA256()))


def test_rsa_and_eddsa_signatures_verify(keys: dict[str, tessera.Key]) -> None:
    pss = keys["rsa-pss"].as_private_key()
    assert isinstance(pss, rsa.RSAPrivateKey) and pss.key_size == 2048
    signature = pss.sign(b"hello", PSS_SHA256, hashes.SHA256())
    pss.public_key().verify(signature, b"hello", PSS_SHA256, hashes.SHA256())
    exact_salt = padding.PSS(padding.MGF1(hashes.SHA256()), 32)  # as PyJWT asks
    pss.public_key().verify(
        pss.sign(b"hi", exact_salt, hashes.SHA256()), b"hi", PSS_SHA256, hashes.SHA256()
    )
    pkcs1 = keys["rsa-pkcs1"].as_private_key()
    assert isinstance(pkcs1, rsa.RSAPrivateKey)
    digest = hashes.Hash(hashes.SHA256())
    digest.update(b"hello")
    signature = pkcs1.sign(digest.finalize(), padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    pkcs1.public_key().verify(signature, b"hello", padding.PKCS1v15(), hashes.SHA256())
    eddsa = keys["ed25519"].as_private_key()
    assert isinstance(eddsa, ed25519.Ed25519PrivateKey)
    eddsa.public_key().verify(eddsa.sign(b"hello"), b"hello")


def test_ed448_keys_are_ed448_private_keys(client: tessera.Client) -> None:
    signer = client.generate_key(unique("ed448"), ED448).as_private_key()
    assert isinstance(signer, ed448.Ed448PrivateKey)
    signer.public_key().verify(signer.sign(b"hello"), b"hello")


def test_a_wildcard_hash_policy_signs_with_the_hash_asked_for(client: tessera.Client) -> None:
    signer = client.generate_key(unique("any-hash"), ECDSA_ANY_HASH).as_private_key()
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    for algorithm in (hashes.SHA256(), hashes.SHA384(), hashes.SHA512()):
        signature = signer.sign(b"hello", ec.ECDSA(algorithm))
        signer.public_key().verify(signature, b"hello", ec.ECDSA(algorithm))
        with pytest.raises(InvalidSignature):  # the signature is over that hash
            signer.public_key().verify(signature, b"hello", ec.ECDSA(hashes.SHA3_256()))


# cryptography's builders


# (key, the hash the builder is given, the builder's other arguments)
BUILDER_SIGNERS = [
    ("p256", hashes.SHA256(), {}),
    ("p384", hashes.SHA384(), {}),
    ("ed25519", None, {}),
    ("rsa-pkcs1", hashes.SHA256(), {}),
    ("rsa-pss", hashes.SHA256(), {"rsa_padding": PSS_SHA256}),
]


@pytest.mark.parametrize(("name", "algorithm", "extra"), BUILDER_SIGNERS)
def test_cryptographys_builders_sign_with_a_service_key(  # certificate, CSR, CRL
    keys: dict[str, tessera.Key],
    name: str,
    algorithm: SignHash | None,
    extra: dict[str, Any],
) -> None:
    key = keys[name]
    signer = key.as_private_key()
    certificate = _self_signed(signer, algorithm, **extra)
    certificate.verify_directly_issued_by(certificate)  # signature checked by cryptography
    assert certificate.public_key() == key.public_key()
    san = x509.SubjectAlternativeName([x509.DNSName("app.example")])
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name("app"))
        .add_extension(san, critical=False)
        .sign(signer, algorithm, **extra)
    )
    assert request.is_signature_valid
    assert request.public_key() == key.public_key()
    assert request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value == san
    now = datetime.datetime.now(datetime.UTC)
    revocations = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(certificate.subject)
        .last_update(now)
        .next_update(now + datetime.timedelta(days=1))
        .sign(signer, algorithm, **extra)
    )
    assert revocations.is_signature_valid(signer.public_key())


def test_a_certificate_signed_by_one_service_key_for_another(
    keys: dict[str, tessera.Key],
) -> None:
    issuer = keys["p384"].as_private_key()
    root = _self_signed(issuer, hashes.SHA384())
    subject_key = keys["ed25519"]
    now = datetime.datetime.now(datetime.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("leaf"))
        .issuer_name(root.subject)
        .public_key(subject_key.as_private_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(issuer, hashes.SHA384())
    )
    leaf.verify_directly_issued_by(root)


# PyJWT


@pytest.mark.parametrize(
    ("name", "alg"),
    [
        ("p256", "ES256"),
        ("p384", "ES384"),
        ("rsa-pss", "PS256"),
        ("rsa-pkcs1", "RS256"),
        ("ed25519", "EdDSA"),
    ],
)
def test_pyjwt_signs_with_a_service_key(keys: dict[str, tessera.Key], name: str, alg: str) -> None:
    key = keys[name]
    token = jwt.encode({"sub": "app", "n": 1}, key.as_private_key(), algorithm=alg)
    claims = jwt.decode(token, _exported_public(key), algorithms=[alg])
    assert claims == {"sub": "app", "n": 1}
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(tampered, _exported_public(key), algorithms=[alg])


# refusals


def test_an_algorithm_the_key_does_not_permit_is_refused_clearly(
    keys: dict[str, tessera.Key],
) -> None:
    p256 = keys["p256"].as_private_key()
    assert isinstance(p256, ec.EllipticCurvePrivateKey)
    with pytest.raises(tessera.UsageError) as refused:
        p256.sign(b"hello", ec.ECDSA(hashes.SHA384()))
    assert str(refused.value) == (
        f"key {keys['p256'].name!r} permits ECDSA with SHA-256 only (a PSA key is bound to one "
        "algorithm); ECDSA with SHA-384 was asked for"
    )
    with pytest.raises(tessera.UsageError, match=r"ECDSA with SHA-256 only.*deterministic"):
        p256.sign(b"hello", ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    pss = keys["rsa-pss"].as_private_key()
    assert isinstance(pss, rsa.RSAPrivateKey)
    with pytest.raises(tessera.UsageError, match=r"permits RSA-PSS with SHA-256 only.*PKCS#1"):
        jwt.encode({"a": 1}, pss, algorithm="RS256")
    with pytest.raises(tessera.UsageError, match=r"SHA-256 only.*RSA-PSS with SHA-384 was asked"):
        jwt.encode({"a": 1}, pss, algorithm="PS384")
    with pytest.raises(tessera.UsageError, match="salt as long as the hash"):
        pss.sign(b"hello", padding.PSS(padding.MGF1(hashes.SHA256()), 20), hashes.SHA256())
    with pytest.raises(tessera.UsageError, match="MGF1 with the same hash"):
        pss.sign(b"hello", padding.PSS(padding.MGF1(hashes.SHA1()), 32), hashes.SHA256())
    with pytest.raises(tessera.UsageError, match=r"permits RSA-PSS .* RSA-OAEP"):
        pss.decrypt(b"\0" * 256, padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None))
    peer = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(tessera.UsageError, match=r"ECDSA with SHA-256 only.*ECDH key agreement"):
        p256.exchange(ec.ECDH(), peer)


def test_private_material_stays_in_the_service_unless_exportable(
    client: tessera.Client, keys: dict[str, tessera.Key]
) -> None:
    for name in ("p256", "rsa-pss", "ed25519"):
        signer = keys[name].as_private_key()
        with pytest.raises(tessera.UsageError, match="never leaves the Tessera service"):
            signer.private_bytes(PEM, PKCS8, serialization.NoEncryption())
    p256 = keys["p256"].as_private_key()
    assert isinstance(p256, ec.EllipticCurvePrivateKey)
    with pytest.raises(tessera.UsageError, match="cannot give its private numbers"):
        p256.private_numbers()
    exportable = client.generate_key(unique("exportable"), tessera.ECDSA_P256.exportable())
    signer = exportable.as_private_key()
    assert isinstance(signer, ec.EllipticCurvePrivateKey)
    pem = signer.private_bytes(PEM, PKCS8, serialization.NoEncryption())
    loaded = serialization.load_pem_private_key(pem, None)
    assert loaded.public_key() == exportable.public_key()
    assert signer.private_numbers().public_numbers == signer.public_key().public_numbers()


def test_rsa_oaep_decryption(client: tessera.Client) -> None:
    key = client.generate_key(unique("oaep"), specs.rsa_oaep(2048))
    private = key.as_private_key()
    assert isinstance(private, rsa.RSAPrivateKey)
    oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), b"label")
    ciphertext = private.public_key().encrypt(b"secret", oaep)
    assert private.decrypt(ciphertext, oaep) == b"secret"
    sha1 = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
    with pytest.raises(tessera.UsageError, match="permits RSA-OAEP with SHA-256 only"):
        private.decrypt(ciphertext, sha1)
    with pytest.raises(tessera.UsageError, match=r"RSA-OAEP with SHA-256 only.*signatures"):
        private.sign(b"hello", padding.PKCS1v15(), hashes.SHA256())


def test_ecdh_keys_exchange(client: tessera.Client) -> None:
    key = client.generate_key(unique("ecdh"), tessera.ECDH_P256)
    ours = key.as_private_key()
    assert isinstance(ours, ec.EllipticCurvePrivateKey)
    theirs = ec.generate_private_key(ec.SECP256R1())
    shared = ours.exchange(ec.ECDH(), theirs.public_key())
    assert shared == theirs.exchange(ec.ECDH(), ours.public_key())
    with pytest.raises(tessera.UsageError, match="on secp384r1"):
        ours.exchange(ec.ECDH(), ec.generate_private_key(ec.SECP384R1()).public_key())
    with pytest.raises(tessera.UsageError, match="permits ECDH key agreement only"):
        ours.sign(b"hello", ec.ECDSA(hashes.SHA256()))


def test_keys_that_are_no_cryptography_private_key_are_refused(client: tessera.Client) -> None:
    aes = client.generate_key(unique("aes"), tessera.AES_256_GCM)
    with pytest.raises(tessera.UsageError, match="is of type aes: only RSA"):
        aes.as_private_key()
    x25519 = client.generate_key(unique("x25519"), tessera.X25519)
    with pytest.raises(tessera.UsageError, match=r"use key\.agree\(peer\)"):
        x25519.as_private_key()


def test_copies_are_the_same_handle_and_reprs_hold_no_secret(
    keys: dict[str, tessera.Key],
) -> None:
    signer = keys["p256"].as_private_key()
    assert copy.copy(signer) is signer and copy.deepcopy(signer) is signer
    assert repr(signer) == (
        f"<ServiceEllipticCurvePrivateKey name={keys['p256'].name!r} provider=1>"
    )


README_EXAMPLE = re.compile(r"## Use a Tessera key with cryptography.*?```python\n(.*?)```", re.S)


def test_readme_section_runs(service: RunningService, monkeypatch: pytest.MonkeyPatch) -> None:
    found = README_EXAMPLE.search((Path(__file__).parents[2] / "README.md").read_text())
    assert found is not None, "README.md has no example under its cryptography section"
    monkeypatch.setenv("PARSEC_SERVICE_ENDPOINT", f"unix:{service.socket_path}")
    names: dict[str, Any] = {}
    exec(compile(found.group(1), "README.md", "exec"), names)
    public = names["request"].public_key()  # the key is destroyed: its public half is here
    assert names["request"].is_signature_valid
    assert jwt.decode(names["token"], public, algorithms=["ES256"]) == {"sub": "my-app"}
    public.verify(names["signature"], b"hello", ec.ECDSA(hashes.SHA256()))
