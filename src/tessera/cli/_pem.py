"""Key files and PEM output for the key commands: reading PEM/DER keys, writing PEM.

Its own module so that `cryptography`'s serialization and key classes load only for the
commands that read or print keys (start-up time of the others).
"""

from __future__ import annotations

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x448, x25519

import tessera.client as tessera
from tessera.cli._common import b64
from tessera.cli._errors import CliError, ExitCode
from tessera.psa import formats
from tessera.psa.key_types import parse_key_type
from tessera.wire.status import StatusError

PEM_PUBLIC = (
    rsa.RSAPublicKey,
    ec.EllipticCurvePublicKey,
    ed25519.Ed25519PublicKey,
    ed448.Ed448PublicKey,
    x25519.X25519PublicKey,
    x448.X448PublicKey,
)
PEM_PRIVATE = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    x25519.X25519PrivateKey,
    x448.X448PrivateKey,
)


def load_key(data: bytes, path: str) -> formats.PrivateKey | formats.PublicKey:
    """A PEM or DER private or public key from a file's bytes; CliError naming `path`."""
    loaders = (
        lambda: serialization.load_pem_private_key(data, None),
        lambda: serialization.load_pem_public_key(data),
        lambda: serialization.load_der_private_key(data, None),
        lambda: serialization.load_der_public_key(data),
    )
    for load in loaders:
        try:
            key = load()
        except TypeError:
            raise CliError(f"{path} is an encrypted key: decrypt it first") from None
        except (ValueError, UnsupportedAlgorithm):
            continue
        if isinstance(key, PEM_PRIVATE + PEM_PUBLIC):
            return key
        raise CliError(f"{path} holds a {type(key).__name__}, which cannot be imported")
    raise CliError(f"{path} is not a PEM or DER key (raw secret bytes need --spec)")


def public_pem(public: formats.PublicKey, *, pkcs1: bool) -> str:
    """The public key in PEM: SubjectPublicKeyInfo, or PKCS#1 for RSA with `pkcs1`."""
    if not isinstance(public, PEM_PUBLIC):
        raise CliError("this key's public part has no PEM form", ExitCode.NOT_SUPPORTED)
    if pkcs1:
        if not isinstance(public, rsa.RSAPublicKey):
            raise CliError("--pkcs1 is for RSA keys only")
        public_format = serialization.PublicFormat.PKCS1
    else:
        public_format = serialization.PublicFormat.SubjectPublicKeyInfo
    return public.public_bytes(serialization.Encoding.PEM, public_format).decode("ascii")


def pem_or_base64(key: tessera.Key, data: bytes) -> tuple[str, str]:
    """An exported key as ("pem", PEM text) for asymmetric keys, else ("base64", text)."""
    try:
        key_type = parse_key_type(key.attributes.key_type)
        bits = key.attributes.key_bits
        if key_type.is_key_pair:
            private = formats.private_key(key_type, bits, data)
            if isinstance(private, PEM_PRIVATE):
                pem = private.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
                return "pem", pem.decode("ascii")
        elif key_type.is_public_key:
            public = formats.public_key(key_type, bits, data)
            if isinstance(public, PEM_PUBLIC):
                pem = public.public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                return "pem", pem.decode("ascii")
    except StatusError:
        pass  # a type or encoding we cannot convert: print the service's bytes as they are
    return "base64", b64(data)
