"""create-csr: a PKCS#10 certificate signing request signed by a key that stays in the service.

Options are parsec-tool's: the subject from `--cn --l --o --ou --st --c --serialNumber`, subject
alternative names from `--san` (repeatable; IP addresses or DNS names), the signature from the
key's own algorithm (ECDSA, RSA PKCS#1 v1.5, RSA-PSS or EdDSA). The request information is
encoded here (with the extension request the client library's requests do not carry), signed by
the service, and checked with `cryptography` before it is printed in PEM.
"""

from __future__ import annotations

import argparse
import ipaddress
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.x509.oid import NameOID

import tessera.client as tessera
from tessera.cli._common import Context, command
from tessera.cli._errors import CliError, ExitCode
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm

# parsec-tool's DN options, in the order it writes them into the subject.
_DN_OPTIONS = (
    ("--cn", "common_name", NameOID.COMMON_NAME, "common name"),
    ("--ou", "organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME, "organizational unit"),
    ("--o", "organization", NameOID.ORGANIZATION_NAME, "organization"),
    ("--l", "locality", NameOID.LOCALITY_NAME, "locality"),
    ("--st", "state", NameOID.STATE_OR_PROVINCE_NAME, "state or province"),
    ("--c", "country", NameOID.COUNTRY_NAME, "two-letter country code"),
    ("--serialNumber", "serial_number", NameOID.SERIAL_NUMBER, "serial number"),
)
_HASH_SIZES = {Algorithm.SHA_256: 32, Algorithm.SHA_384: 48, Algorithm.SHA_512: 64}
_HASH_OIDS = {
    Algorithm.SHA_256: "2.16.840.1.101.3.4.2.1",
    Algorithm.SHA_384: "2.16.840.1.101.3.4.2.2",
    Algorithm.SHA_512: "2.16.840.1.101.3.4.2.3",
}
_ECDSA_OIDS = {
    Algorithm.SHA_256: "1.2.840.10045.4.3.2",
    Algorithm.SHA_384: "1.2.840.10045.4.3.3",
    Algorithm.SHA_512: "1.2.840.10045.4.3.4",
}
_RSA_PKCS1_OIDS = {
    Algorithm.SHA_256: "1.2.840.113549.1.1.11",
    Algorithm.SHA_384: "1.2.840.113549.1.1.12",
    Algorithm.SHA_512: "1.2.840.113549.1.1.13",
}
_RSA_PSS_OID = "1.2.840.113549.1.1.10"
_MGF1_OID = "1.2.840.113549.1.1.8"
_EDDSA_OIDS = {255: "1.3.101.112", 448: "1.3.101.113"}
_EXTENSION_REQUEST_OID = "1.2.840.113549.1.9.14"
_SAN_OID = "2.5.29.17"
_CURVE_HASHES = {256: Algorithm.SHA_256, 384: Algorithm.SHA_384, 521: Algorithm.SHA_512}


def register(commands: Any) -> None:
    """Add the create-csr sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "create-csr", help="create a certificate signing request (PEM) signed by a key"
    )
    parser.add_argument("-k", "--key-name", required=True, help="the signing key's name")
    for flag, dest, _, what in _DN_OPTIONS:
        parser.add_argument(flag, dest=dest, metavar="TEXT", help=f"subject {what}")
    parser.add_argument(
        "--san", action="append", default=[], metavar="NAME", help="a subject alternative name"
    )
    parser.set_defaults(run=command(create_csr))


# DER, as much as a request needs


def _tlv(tag: int, content: bytes) -> bytes:
    size = len(content)
    if size < 0x80:
        length = bytes([size])
    else:
        encoded = size.to_bytes((size.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(encoded)]) + encoded
    return bytes([tag]) + length + content


def _seq(*elements: bytes) -> bytes:
    return _tlv(0x30, b"".join(elements))


def _oid(dotted: str) -> bytes:
    parts = [int(part) for part in dotted.split(".")]
    body = bytearray()
    for part in [40 * parts[0] + parts[1], *parts[2:]]:
        chunk = [part & 0x7F]
        rest = part >> 7
        while rest:
            chunk.append(0x80 | (rest & 0x7F))
            rest >>= 7
        body += bytes(reversed(chunk))
    return _tlv(0x06, bytes(body))


def _integer(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


_NULL = b"\x05\x00"


# the request


def subject(args: argparse.Namespace) -> x509.Name:
    """The subject from the DN options, in parsec-tool's order."""
    attributes = []
    for flag, dest, oid, _ in _DN_OPTIONS:
        value: str | None = getattr(args, dest)
        if value is not None:
            try:
                attributes.append(x509.NameAttribute(oid, value))
            except ValueError as error:
                raise CliError(f"{flag}: {error}") from None
    return x509.Name(attributes)


def _alternative_names(names: list[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


def request_info(name: x509.Name, public_key: object, alt_names: list[str]) -> bytes:
    """The DER CertificationRequestInfo, with an extension request when there are SANs."""
    if not isinstance(
        public_key,
        rsa.RSAPublicKey
        | ec.EllipticCurvePublicKey
        | ed25519.Ed25519PublicKey
        | ed448.Ed448PublicKey,
    ):
        raise CliError("certificate requests need an RSA, ECDSA or EdDSA key")
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    attributes = b""
    if alt_names:
        try:
            san = _alternative_names(alt_names).public_bytes()
        except ValueError as error:
            raise CliError(f"--san: {error}") from None
        extension = _seq(_oid(_SAN_OID), _tlv(0x04, san))
        attributes = _seq(_oid(_EXTENSION_REQUEST_OID), _tlv(0x31, _seq(extension)))
    return _seq(_integer(0), name.public_bytes(), spki, _tlv(0xA0, attributes))


def _signature_hash(key: tessera.Key, variant: str, alg: Any) -> Algorithm.Hash:
    """The hash the key signs with (a wildcard resolved as the client library does)."""
    sign_hash = alg.hash_alg
    if sign_hash.WhichOneof("variant") == "specific":
        chosen: Algorithm.Hash = sign_hash.specific
    elif variant in ("ecdsa", "deterministic_ecdsa"):
        chosen = _CURVE_HASHES.get(key.attributes.key_bits, Algorithm.SHA_256)
    else:
        chosen = Algorithm.SHA_256
    if chosen not in _HASH_SIZES:
        raise CliError("certificate requests are signed with SHA-256, SHA-384 or SHA-512")
    return chosen


def algorithm_identifier(key: tessera.Key) -> tuple[bytes, bool]:
    """The request's signature AlgorithmIdentifier for the key, and whether it is ECDSA."""
    algorithm = key.attributes.key_policy.key_algorithm
    if algorithm.WhichOneof("variant") != "asymmetric_signature":
        raise CliError(f"key {key.name!r} is not a signing key")
    signature = algorithm.asymmetric_signature
    variant = signature.WhichOneof("variant")
    if variant == "pure_eddsa" and key.attributes.key_bits in _EDDSA_OIDS:
        return _seq(_oid(_EDDSA_OIDS[key.attributes.key_bits])), False
    if variant not in ("ecdsa", "deterministic_ecdsa", "rsa_pkcs1v15_sign", "rsa_pss"):
        raise CliError(f"key {key.name!r} signs with an algorithm requests cannot use")
    hash_alg = _signature_hash(key, variant, getattr(signature, variant))
    if variant in ("ecdsa", "deterministic_ecdsa"):
        return _seq(_oid(_ECDSA_OIDS[hash_alg])), True
    if variant == "rsa_pkcs1v15_sign":
        return _seq(_oid(_RSA_PKCS1_OIDS[hash_alg]), _NULL), False
    digest = _seq(_oid(_HASH_OIDS[hash_alg]), _NULL)
    params = _seq(
        _tlv(0xA0, digest),
        _tlv(0xA1, _seq(_oid(_MGF1_OID), digest)),
        _tlv(0xA2, _integer(_HASH_SIZES[hash_alg])),  # PSA's PSS salt is as long as the hash
    )
    return _seq(_oid(_RSA_PSS_OID), params), False


def create_csr(context: Context, args: argparse.Namespace) -> None:
    """Print a PEM certificate request signed by the key."""
    name = subject(args)
    key = context.key(args.key_name)
    algorithm_id, is_ecdsa = algorithm_identifier(key)
    info = request_info(name, key.public_key(), args.san)
    signature = key.sign(info)
    if is_ecdsa:
        half = len(signature) // 2
        r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        signature = encode_dss_signature(r, s)
    der = _seq(info, algorithm_id, _tlv(0x03, b"\x00" + signature))
    csr = x509.load_der_x509_csr(der)
    if not csr.is_signature_valid:
        raise CliError(
            "the service's signature does not verify over the request", ExitCode.PROTOCOL
        )
    pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
    context.emit(pem.rstrip("\n"), {"name": key.name, "pem": pem})
