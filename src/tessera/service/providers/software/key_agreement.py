"""Raw key agreement: ECDH on the Weierstrass and Montgomery curves, and FFDH (RFC 7919).

The peer key is in the PSA public key format of the private key's type (uncompressed point, raw
X25519/X448 string, or y as long as p). Outputs, as PSA: the x coordinate (ceil(bits/8) bytes),
the raw X25519/X448 result, or g^xy mod p as long as p. A peer key that is malformed, off the
curve, or gives an all-zero X25519/X448 result is InvalidArgument. Needs the DERIVE flag.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec, x448, x25519

from tessera.psa.algorithms import KeyAgreementAlgorithm, KeyAgreementKind, parse_raw_key_agreement
from tessera.psa.dh_groups import FfdhPrivateKey, FfdhPublicKey
from tessera.psa.formats import curve_name, public_key
from tessera.psa.key_types import WEIERSTRASS_FAMILIES, EccFamily, KeyType
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.base import serves
from tessera.service.providers.software.policy import Settings, open_for
from tessera.wire import contracts
from tessera.wire.proto import psa_raw_key_agreement_pb2
from tessera.wire.status import Status, StatusError

AGREEMENT_USAGES = (Usage.DERIVE,)


def _invalid(message: str) -> StatusError:
    return StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, message)


def check_agreement(key_type: KeyType, bits: int, alg: KeyAgreementAlgorithm, usage: Usage) -> None:
    """Refuse a key/algorithm combination that cannot work."""
    if alg.kdf is not None:
        raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, "key derivation is not supported")
    if not key_type.is_key_pair:
        raise _invalid("key agreement needs a key pair")
    if alg.raw is KeyAgreementKind.FFDH:
        if not key_type.is_dh:
            raise _invalid("FFDH needs a DH key pair")
        return
    if not key_type.is_ecc or not (
        key_type.family in WEIERSTRASS_FAMILIES or key_type.family is EccFamily.MONTGOMERY
    ):
        raise _invalid("ECDH needs a Weierstrass or Montgomery key pair")
    curve_name(key_type, bits)


@serves(contracts.PSA_RAW_KEY_AGREEMENT)
def raw_key_agreement(
    settings: Settings, owner: Owner, op: psa_raw_key_agreement_pb2.Operation
) -> psa_raw_key_agreement_pb2.Result:
    """PsaRawKeyAgreement."""
    alg = parse_raw_key_agreement(op.alg)
    key = open_for(settings, owner, op.private_key_name, Usage.DERIVE, alg)
    key_type = key.attributes.key_type
    check_agreement(key_type, key.bits, alg, Usage.DERIVE)
    peer = public_key(key_type.public(), key.bits, op.peer_key)
    private = settings.vault.private_key(key)
    try:
        if isinstance(private, ec.EllipticCurvePrivateKey):
            assert isinstance(peer, ec.EllipticCurvePublicKey)
            shared = private.exchange(ec.ECDH(), peer)
        elif isinstance(private, x25519.X25519PrivateKey):
            assert isinstance(peer, x25519.X25519PublicKey)
            shared = private.exchange(peer)
        elif isinstance(private, x448.X448PrivateKey):
            assert isinstance(peer, x448.X448PublicKey)
            shared = private.exchange(peer)
        else:
            assert isinstance(private, FfdhPrivateKey) and isinstance(peer, FfdhPublicKey)
            shared = private.exchange(peer)
    except ValueError:
        raise _invalid("the peer key is not usable") from None
    return psa_raw_key_agreement_pb2.Result(shared_secret=shared)
