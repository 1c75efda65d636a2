"""What this provider can do with the TPM it found, as refusals shared by the operations and
CanDoCrypto (so CanDoCrypto answers exactly what the operation would do).

Keys: RSA key pairs of the sizes the TPM accepts (2048, and 3072/4096 where TPM2_TestParms says
so) and ECC SECP_R1 key pairs on the NIST curves the TPM lists are generated in the TPM; RSA and
SECP_R1 public keys can be imported. Signatures: ECDSA (randomised; TPMs have no deterministic
ECDSA), RSA PKCS#1 v1.5 with a hash (not raw: the TPM builds the DigestInfo itself) and RSA-PSS,
with the TPM's SHA-1/256/384/512. Encryption: RSA PKCS#1 v1.5 and OAEP without a label.

Each check first runs the software provider's generic check (which PSA combinations make sense),
then narrows to what the TPM does: NotSupported for what PSA allows but the TPM lacks.
"""

from __future__ import annotations

from tessera.psa.algorithms import (
    EncryptionAlgorithm,
    EncryptionScheme,
    Hash,
    SignAlgorithm,
    SignScheme,
)
from tessera.psa.attributes import KeyAttributes
from tessera.psa.key_types import RSA_BITS, EccFamily, KeyKind, KeyType
from tessera.psa.usage import Usage
from tessera.service.providers.software import asym_encryption as software_encryption
from tessera.service.providers.software import sign as software_sign
from tessera.service.providers.tpm.caps import Capabilities
from tessera.wire.status import Status, StatusError

#: Public keys are used in software, so any SECP_R1 curve `cryptography` has will do.
PUBLIC_EC_BITS = frozenset({256, 384, 521})
#: ECDSA over a pre-hashed value (ECDSA_ANY): its length names the hash the TPM is told.
PREHASH_BY_LENGTH = {20: Hash.SHA_1, 32: Hash.SHA_256, 48: Hash.SHA_384, 64: Hash.SHA_512}


def unsupported(message: str) -> StatusError:
    """PsaErrorNotSupported."""
    return StatusError(Status.PSA_ERROR_NOT_SUPPORTED, message)


def invalid(message: str) -> StatusError:
    """PsaErrorInvalidArgument."""
    return StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, message)


def check_generatable(caps: Capabilities, attributes: KeyAttributes) -> None:
    """Everything generation would refuse, without generating."""
    key_type, bits = attributes.key_type, attributes.bits
    if key_type.is_public_key:
        raise invalid("public keys cannot be generated")
    if bits == 0:
        raise invalid("generation needs a key size")
    if key_type.kind is KeyKind.RSA_KEY_PAIR:
        if bits not in caps.rsa_bits:
            raise unsupported(f"this TPM cannot create {bits}-bit RSA keys")
    elif key_type.kind is KeyKind.ECC_KEY_PAIR:
        if key_type.family is not EccFamily.SECP_R1 or bits not in caps.ecc_bits:
            sizes = ", ".join(str(b) for b in sorted(caps.ecc_bits))
            raise unsupported(f"this TPM creates SECP_R1 keys of {sizes} bits only")
    else:
        raise unsupported(f"{key_type.kind.value} keys are not supported by this provider")


def check_importable(attributes: KeyAttributes) -> None:
    """Import takes RSA and SECP_R1 public keys (private material never enters the TPM)."""
    key_type, bits = attributes.key_type, attributes.bits
    if key_type.kind is KeyKind.RSA_PUBLIC_KEY:
        if bits and bits not in RSA_BITS:
            raise unsupported(f"{bits}-bit RSA keys are not supported")
    elif key_type.kind is KeyKind.ECC_PUBLIC_KEY:
        if key_type.family is not EccFamily.SECP_R1 or (bits and bits not in PUBLIC_EC_BITS):
            raise unsupported("only SECP_R1 256, 384 and 521-bit public keys can be imported")
    else:
        raise unsupported("only RSA and ECC public keys can be imported into this provider")


def check_held(caps: Capabilities, attributes: KeyAttributes) -> None:
    """Whether a key of this type and size can exist here (generated or imported)."""
    try:
        check_generatable(caps, attributes)
    except StatusError:
        check_importable(attributes)


def _check_hash(caps: Capabilities, hash_alg: Hash | None) -> None:
    if hash_alg is not None and hash_alg is not Hash.ANY and hash_alg not in caps.hashes:
        raise unsupported(f"the TPM does not implement {hash_alg.name}")


def check_sign(
    caps: Capabilities, key_type: KeyType, bits: int, alg: SignAlgorithm, usage: Usage
) -> None:
    """The software provider's signature check, narrowed to the TPM's schemes."""
    software_sign.check_sign(key_type, bits, alg, usage)
    available = {
        SignScheme.ECDSA: caps.ecdsa,
        SignScheme.ECDSA_ANY: caps.ecdsa,
        SignScheme.RSA_PKCS1V15: caps.rsassa,
        SignScheme.RSA_PSS: caps.rsapss,
    }
    if not available.get(alg.scheme, False):
        raise unsupported(f"{alg.scheme.name} is not supported by this provider")
    if key_type.is_ecc and key_type.family is not EccFamily.SECP_R1:
        raise unsupported("only SECP_R1 keys are supported by this provider")
    _check_hash(caps, alg.hash)


def tpm_hash(caps: Capabilities, alg: SignAlgorithm, hash_value: bytes) -> Hash:
    """The hash the TPM is told the value came from (after checking the value's length)."""
    if alg.hash is not None:
        if len(hash_value) != alg.hash.size:
            raise invalid("the hash length does not match the algorithm")
        return alg.hash
    found = PREHASH_BY_LENGTH.get(len(hash_value))
    if found is None:
        raise invalid("not the length of a supported hash")
    _check_hash(caps, found)
    return found


def check_encryption(
    caps: Capabilities, key_type: KeyType, bits: int, alg: EncryptionAlgorithm, usage: Usage
) -> None:
    """The software provider's encryption check, narrowed to the TPM's RSAES and OAEP."""
    software_encryption.check_encryption(key_type, bits, alg, usage)
    if alg.scheme is EncryptionScheme.RSA_PKCS1V15 and not caps.rsaes:
        raise unsupported("the TPM does not implement RSAES-PKCS1-v1_5")
    if alg.scheme is EncryptionScheme.RSA_OAEP and not caps.oaep:
        raise unsupported("the TPM does not implement OAEP")
    _check_hash(caps, alg.hash)
