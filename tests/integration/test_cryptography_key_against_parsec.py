"""`Key.as_private_key()` against Parsec's own service: its Mbed Crypto provider has no
PsaSignMessage, so the adapter's messages take the client's digest path (hashed here, signed
with PsaSignHash), and cryptography's builders and PyJWT still get signatures that verify."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

import tessera
from tessera.client import specs
from tests.integration.client_support import short_dir
from tests.interop import running_parsec

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client() -> Iterator[tessera.Client]:
    """A client of Parsec's service (direct authentication, as Parsec is set up here)."""
    with (
        short_dir() as base,
        running_parsec(base / "parsec.sock", base / "parsec") as parsec,
        tessera.Client(f"unix:{parsec.socket_path}", app_name="adapter") as connected,
    ):
        yield connected


def test_parsec_keys_sign_certificates_and_jwts(client: tessera.Client) -> None:
    ecdsa = client.generate_key("adapter-ecdsa", tessera.ECDSA_P256).as_private_key()
    assert isinstance(ecdsa, ec.EllipticCurvePrivateKey)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "parsec-held")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ecdsa.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(ecdsa, hashes.SHA256())
    )
    certificate.verify_directly_issued_by(certificate)
    token = jwt.encode({"sub": "adapter"}, ecdsa, algorithm="ES256")
    assert jwt.decode(token, ecdsa.public_key(), algorithms=["ES256"]) == {"sub": "adapter"}

    pss = client.generate_key("adapter-pss", specs.rsa_pss(2048)).as_private_key()
    assert isinstance(pss, rsa.RSAPrivateKey)
    token = jwt.encode({"sub": "adapter"}, pss, algorithm="PS256")
    assert jwt.decode(token, pss.public_key(), algorithms=["PS256"]) == {"sub": "adapter"}
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(name)
        .sign(pss, hashes.SHA256(), rsa_padding=padding.PSS(padding.MGF1(hashes.SHA256()), 32))
    )
    assert request.is_signature_valid
