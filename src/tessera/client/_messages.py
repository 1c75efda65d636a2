"""The messages of the client's simplest operations, as `protowire` schemas.

Written from the field numbers of the project's `.proto` files (tessera/wire/proto): for the
operations that carry no PSA structure, so that a call to them needs no protobuf runtime (the
`tessera` command's start-up). Each schema is held to its generated descriptor, and each
encoding to protobuf's, by tests/unit/wire/test_protowire.py.
"""

from __future__ import annotations

from tessera.wire.opcodes import Opcode
from tessera.wire.protowire import (
    BOOL,
    BYTES,
    EMBEDDED,
    ENUM,
    MESSAGE,
    STRING,
    UINT32,
    UINT64,
    Enum,
    Field,
    Schema,
)

EMPTY = Schema("Empty", [])  # Operation (or Result) without fields

PING_RESULT = Schema(
    "ping.Result",
    [Field(1, "wire_protocol_version_maj", UINT32), Field(2, "wire_protocol_version_min", UINT32)],
)

PROVIDER_INFO = Schema(
    "list_providers.ProviderInfo",
    [
        Field(1, "uuid", STRING),
        Field(2, "description", STRING),
        Field(3, "vendor", STRING),
        Field(4, "version_maj", UINT32),
        Field(5, "version_min", UINT32),
        Field(6, "version_rev", UINT32),
        Field(7, "id", UINT32),
    ],
)
LIST_PROVIDERS_RESULT = Schema(
    "list_providers.Result", [Field(1, "providers", MESSAGE, PROVIDER_INFO, repeated=True)]
)

LIST_OPCODES_OPERATION = Schema("list_opcodes.Operation", [Field(1, "provider_id", UINT32)])
LIST_OPCODES_RESULT = Schema("list_opcodes.Result", [Field(1, "opcodes", UINT32, repeated=True)])

AUTHENTICATOR_INFO = Schema(
    "list_authenticators.AuthenticatorInfo",
    [
        Field(1, "description", STRING),
        Field(2, "version_maj", UINT32),
        Field(3, "version_min", UINT32),
        Field(4, "version_rev", UINT32),
        Field(5, "id", UINT32),
    ],
)
LIST_AUTHENTICATORS_RESULT = Schema(
    "list_authenticators.Result",
    [Field(1, "authenticators", MESSAGE, AUTHENTICATOR_INFO, repeated=True)],
)

LIST_CLIENTS_RESULT = Schema("list_clients.Result", [Field(1, "clients", STRING, repeated=True)])
DELETE_CLIENT_OPERATION = Schema("delete_client.Operation", [Field(1, "client", STRING)])

FETCH_TOKEN_OPERATION = Schema("fetch_token.Operation", [Field(1, "audience", STRING)])
FETCH_TOKEN_RESULT = Schema(
    "fetch_token.Result",
    [Field(1, "token", STRING), Field(2, "expires_at", UINT64), Field(3, "spiffe_id", STRING)],
)

GENERATE_RANDOM_OPERATION = Schema("psa_generate_random.Operation", [Field(1, "size", UINT64)])
GENERATE_RANDOM_RESULT = Schema("psa_generate_random.Result", [Field(1, "random_bytes", BYTES)])

# PsaExportKey, PsaExportPublicKey and PsaDestroyKey name a key; the first two return bytes.
KEY_NAME_OPERATION = Schema("key_name.Operation", [Field(1, "key_name", STRING)])
DATA_RESULT = Schema("export.Result", [Field(1, "data", BYTES)])

# PSA key attributes (psa_key_attributes.proto, psa_algorithm.proto), to describe keys.


def _variants(name: str, members: list[Field]) -> Schema:
    """A message that is one oneof, `variant` (as most PSA messages are)."""
    return Schema(name, members, {"variant": tuple(f.name for f in members)})


HASH = Enum(
    "Hash",
    {
        0: "HASH_NONE",
        1: "MD2",
        2: "MD4",
        3: "MD5",
        4: "RIPEMD160",
        5: "SHA_1",
        6: "SHA_224",
        7: "SHA_256",
        8: "SHA_384",
        9: "SHA_512",
        10: "SHA_512_224",
        11: "SHA_512_256",
        12: "SHA3_224",
        13: "SHA3_256",
        14: "SHA3_384",
        15: "SHA3_512",
    },
)
CIPHER = Enum(
    "Cipher",
    {
        0: "CIPHER_NONE",
        1: "STREAM_CIPHER",
        2: "CTR",
        3: "CFB",
        4: "OFB",
        5: "XTS",
        6: "ECB_NO_PADDING",
        7: "CBC_NO_PADDING",
        8: "CBC_PKCS7",
    },
)
AEAD_WITH_DEFAULT_LENGTH_TAG = Enum(
    "AeadWithDefaultLengthTag",
    {0: "AEAD_WITH_DEFAULT_LENGTH_TAG_NONE", 1: "CCM", 2: "GCM", 3: "CHACHA20_POLY1305"},
)
RAW_AGREEMENT = Enum("Raw", {0: "RAW_NONE", 1: "FFDH", 2: "ECDH"})
ECC_FAMILY = Enum(
    "EccFamily",
    {
        0: "ECC_FAMILY_NONE",
        1: "SECP_K1",
        2: "SECP_R1",
        3: "SECP_R2",
        4: "SECT_K1",
        5: "SECT_R1",
        6: "SECT_R2",
        7: "BRAINPOOL_P_R1",
        8: "FRP",
        9: "MONTGOMERY",
        10: "TWISTED_EDWARDS",
    },
)
DH_FAMILY = Enum("DhFamily", {0: "RFC7919"})

_NONE = Schema("None", [])
_HASH_ALG = Schema("HashAlg", [Field(1, "hash_alg", ENUM, enum=HASH)])
SIGN_HASH = _variants(
    "SignHash", [Field(1, "any", MESSAGE, _NONE), Field(2, "specific", ENUM, enum=HASH)]
)
_SIGN_HASH_ALG = Schema("SignHashAlg", [Field(1, "hash_alg", MESSAGE, SIGN_HASH)])
ASYMMETRIC_SIGNATURE = _variants(
    "AsymmetricSignature",
    [
        Field(1, "rsa_pkcs1v15_sign", MESSAGE, _SIGN_HASH_ALG),
        Field(2, "rsa_pkcs1v15_sign_raw", MESSAGE, _NONE),
        Field(3, "rsa_pss", MESSAGE, _SIGN_HASH_ALG),
        Field(4, "ecdsa", MESSAGE, _SIGN_HASH_ALG),
        Field(5, "ecdsa_any", MESSAGE, _NONE),
        Field(6, "deterministic_ecdsa", MESSAGE, _SIGN_HASH_ALG),
        Field(7, "pure_eddsa", MESSAGE, _NONE),
    ],
)
MAC_FULL_LENGTH = _variants(
    "FullLength",
    [
        Field(1, "hmac", MESSAGE, _HASH_ALG),
        Field(2, "cbc_mac", MESSAGE, _NONE),
        Field(3, "cmac", MESSAGE, _NONE),
    ],
)
MAC_TRUNCATED = Schema(
    "Truncated", [Field(1, "mac_alg", MESSAGE, MAC_FULL_LENGTH), Field(2, "mac_length", UINT32)]
)
MAC = _variants(
    "Mac",
    [
        Field(1, "full_length", MESSAGE, MAC_FULL_LENGTH),
        Field(2, "truncated", MESSAGE, MAC_TRUNCATED),
    ],
)
AEAD_WITH_SHORTENED_TAG = Schema(
    "AeadWithShortenedTag",
    [Field(1, "aead_alg", ENUM, enum=AEAD_WITH_DEFAULT_LENGTH_TAG), Field(2, "tag_length", UINT32)],
)
AEAD = _variants(
    "Aead",
    [
        Field(1, "aead_with_default_length_tag", ENUM, enum=AEAD_WITH_DEFAULT_LENGTH_TAG),
        Field(2, "aead_with_shortened_tag", MESSAGE, AEAD_WITH_SHORTENED_TAG),
    ],
)
ASYMMETRIC_ENCRYPTION = _variants(
    "AsymmetricEncryption",
    [Field(1, "rsa_pkcs1v15_crypt", MESSAGE, _NONE), Field(2, "rsa_oaep", MESSAGE, _HASH_ALG)],
)
KEY_DERIVATION = _variants(
    "KeyDerivation",
    [
        Field(1, "hkdf", MESSAGE, _HASH_ALG),
        Field(2, "tls12_prf", MESSAGE, _HASH_ALG),
        Field(3, "tls12_psk_to_ms", MESSAGE, _HASH_ALG),
    ],
)
WITH_KEY_DERIVATION = Schema(
    "WithKeyDerivation",
    [
        Field(1, "ka_alg", ENUM, enum=RAW_AGREEMENT),
        Field(2, "kdf_alg", MESSAGE, KEY_DERIVATION),
    ],
)
KEY_AGREEMENT = _variants(
    "KeyAgreement",
    [
        Field(1, "raw", ENUM, enum=RAW_AGREEMENT),
        Field(2, "with_key_derivation", MESSAGE, WITH_KEY_DERIVATION),
    ],
)
ALGORITHM = _variants(
    "Algorithm",
    [
        Field(1, "none", MESSAGE, _NONE),
        Field(2, "hash", ENUM, enum=HASH),
        Field(3, "mac", MESSAGE, MAC),
        Field(4, "cipher", ENUM, enum=CIPHER),
        Field(5, "aead", MESSAGE, AEAD),
        Field(6, "asymmetric_signature", MESSAGE, ASYMMETRIC_SIGNATURE),
        Field(7, "asymmetric_encryption", MESSAGE, ASYMMETRIC_ENCRYPTION),
        Field(8, "key_agreement", MESSAGE, KEY_AGREEMENT),
        Field(9, "key_derivation", MESSAGE, KEY_DERIVATION),
    ],
)
_ECC = Schema("Ecc", [Field(1, "curve_family", ENUM, enum=ECC_FAMILY)])
_DH = Schema("Dh", [Field(1, "group_family", ENUM, enum=DH_FAMILY)])
KEY_TYPE = _variants(
    "KeyType",
    [
        Field(1, "raw_data", MESSAGE, _NONE),
        Field(2, "hmac", MESSAGE, _NONE),
        Field(3, "derive", MESSAGE, _NONE),
        Field(4, "aes", MESSAGE, _NONE),
        Field(5, "des", MESSAGE, _NONE),
        Field(6, "camellia", MESSAGE, _NONE),
        Field(7, "arc4", MESSAGE, _NONE),
        Field(8, "chacha20", MESSAGE, _NONE),
        Field(9, "rsa_public_key", MESSAGE, _NONE),
        Field(10, "rsa_key_pair", MESSAGE, _NONE),
        Field(11, "ecc_key_pair", MESSAGE, _ECC),
        Field(12, "ecc_public_key", MESSAGE, _ECC),
        Field(13, "dh_key_pair", MESSAGE, _DH),
        Field(14, "dh_public_key", MESSAGE, _DH),
    ],
)
USAGE_FLAGS = Schema(
    "UsageFlags",
    [
        Field(1, "export", BOOL),
        Field(2, "copy", BOOL),
        Field(3, "cache", BOOL),
        Field(4, "encrypt", BOOL),
        Field(5, "decrypt", BOOL),
        Field(6, "sign_message", BOOL),
        Field(7, "verify_message", BOOL),
        Field(8, "sign_hash", BOOL),
        Field(9, "verify_hash", BOOL),
        Field(10, "derive", BOOL),
    ],
)
KEY_POLICY = Schema(
    "KeyPolicy",
    [
        Field(1, "key_usage_flags", MESSAGE, USAGE_FLAGS),
        Field(2, "key_algorithm", MESSAGE, ALGORITHM),
    ],
)
KEY_ATTRIBUTES = Schema(
    "KeyAttributes",
    [
        Field(1, "key_type", MESSAGE, KEY_TYPE),
        Field(2, "key_bits", UINT32),
        Field(3, "key_policy", MESSAGE, KEY_POLICY),
    ],
)


# ListKeys: the attributes stay bytes until asked for (`KeyInfo.attributes` reads them with
# protobuf; the `tessera` command describes them from KEY_ATTRIBUTES below).
KEY_INFO = Schema(
    "list_keys.KeyInfo",
    [
        Field(1, "provider_id", UINT32),
        Field(2, "name", STRING),
        Field(3, "attributes", EMBEDDED, KEY_ATTRIBUTES),
    ],
)
LIST_KEYS_RESULT = Schema("list_keys.Result", [Field(1, "keys", MESSAGE, KEY_INFO, repeated=True)])


# The operations on a key with its algorithm (signatures, AEAD, asymmetric encryption, MAC): the
# idiomatic flows read the algorithm from the key's decoded attributes and send it back as they
# read it, so that signing in a loop needs no protobuf runtime. (Operation, Result) by opcode.
def _keyed(name: str, alg: Schema, inputs: list[str], output: str | None) -> tuple[Schema, Schema]:
    """`name.Operation`: key_name = 1, alg = 2, then the byte fields `inputs` from 3 on;
    `name.Result`: the byte field `output` = 1, or nothing."""
    fields = [Field(1, "key_name", STRING), Field(2, "alg", MESSAGE, alg)]
    fields += [Field(number, field, BYTES) for number, field in enumerate(inputs, start=3)]
    result = Schema(f"{name}.Result", [] if output is None else [Field(1, output, BYTES)])
    return Schema(f"{name}.Operation", fields), result


WITH_ALGORITHM: dict[Opcode, tuple[Schema, Schema]] = {
    Opcode.PSA_SIGN_MESSAGE: _keyed(
        "psa_sign_message", ASYMMETRIC_SIGNATURE, ["message"], "signature"
    ),
    Opcode.PSA_SIGN_HASH: _keyed("psa_sign_hash", ASYMMETRIC_SIGNATURE, ["hash"], "signature"),
    Opcode.PSA_VERIFY_MESSAGE: _keyed(
        "psa_verify_message", ASYMMETRIC_SIGNATURE, ["message", "signature"], None
    ),
    Opcode.PSA_VERIFY_HASH: _keyed(
        "psa_verify_hash", ASYMMETRIC_SIGNATURE, ["hash", "signature"], None
    ),
    Opcode.PSA_AEAD_ENCRYPT: _keyed(
        "psa_aead_encrypt", AEAD, ["nonce", "additional_data", "plaintext"], "ciphertext"
    ),
    Opcode.PSA_AEAD_DECRYPT: _keyed(
        "psa_aead_decrypt", AEAD, ["nonce", "additional_data", "ciphertext"], "plaintext"
    ),
    Opcode.PSA_ASYMMETRIC_ENCRYPT: _keyed(
        "psa_asymmetric_encrypt", ASYMMETRIC_ENCRYPTION, ["plaintext", "salt"], "ciphertext"
    ),
    Opcode.PSA_ASYMMETRIC_DECRYPT: _keyed(
        "psa_asymmetric_decrypt", ASYMMETRIC_ENCRYPTION, ["ciphertext", "salt"], "plaintext"
    ),
    Opcode.PSA_MAC_COMPUTE: _keyed("psa_mac_compute", MAC, ["input"], "mac"),
    Opcode.PSA_MAC_VERIFY: _keyed("psa_mac_verify", MAC, ["input", "mac"], None),
}
