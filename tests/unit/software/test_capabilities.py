"""CanDoCrypto answers what the operations then do: checked by doing them."""

from __future__ import annotations

import pytest

from tessera.service.providers.software import SoftwareProvider
from tessera.wire import contracts
from tessera.wire.proto import (
    can_do_crypto_pb2,
    psa_aead_encrypt_pb2,
    psa_asymmetric_encrypt_pb2,
    psa_cipher_encrypt_pb2,
    psa_generate_key_pb2,
    psa_key_attributes_pb2,
    psa_mac_compute_pb2,
    psa_sign_message_pb2,
)
from tessera.wire.status import Status, StatusError

from .builders import (
    EDWARDS,
    MONTGOMERY,
    SECP_R1,
    A,
    aead,
    attributes,
    ecdh,
    expect_status,
    hmac,
    oaep,
    sign,
    sign_policy,
)
from .conftest import APP

USE, GENERATE, IMPORT, DERIVE = (
    can_do_crypto_pb2.USE,
    can_do_crypto_pb2.GENERATE,
    can_do_crypto_pb2.IMPORT,
    can_do_crypto_pb2.DERIVE,
)


def can(
    p: SoftwareProvider,
    check: can_do_crypto_pb2.CheckType,
    attrs: psa_key_attributes_pb2.KeyAttributes,
) -> bool:
    try:
        p.call(
            contracts.CAN_DO_CRYPTO,
            APP,
            can_do_crypto_pb2.Operation(check_type=check, attributes=attrs),
        )
    except StatusError as error:
        assert error.status is Status.PSA_ERROR_NOT_SUPPORTED
        return False
    return True


def try_use(p: SoftwareProvider, attrs: psa_key_attributes_pb2.KeyAttributes) -> bool:
    """Generate the key and run the operation its policy names; True if both succeed."""
    try:
        p.call(
            contracts.PSA_GENERATE_KEY,
            APP,
            psa_generate_key_pb2.Operation(key_name="k", attributes=attrs),
        )
        alg = attrs.key_policy.key_algorithm
        which = alg.WhichOneof("variant")
        if which == "asymmetric_signature":
            p.call(
                contracts.PSA_SIGN_MESSAGE,
                APP,
                psa_sign_message_pb2.Operation(
                    key_name="k", alg=alg.asymmetric_signature, message=b"m"
                ),
            )
        elif which == "aead":
            p.call(
                contracts.PSA_AEAD_ENCRYPT,
                APP,
                psa_aead_encrypt_pb2.Operation(
                    key_name="k", alg=alg.aead, nonce=bytes(12), plaintext=b"m"
                ),
            )
        elif which == "cipher":
            p.call(
                contracts.PSA_CIPHER_ENCRYPT,
                APP,
                psa_cipher_encrypt_pb2.Operation(key_name="k", alg=alg.cipher, plaintext=bytes(32)),
            )
        elif which == "mac":
            p.call(
                contracts.PSA_MAC_COMPUTE,
                APP,
                psa_mac_compute_pb2.Operation(key_name="k", alg=alg.mac, input=b"m"),
            )
        elif which == "asymmetric_encryption":
            p.call(
                contracts.PSA_ASYMMETRIC_ENCRYPT,
                APP,
                psa_asymmetric_encrypt_pb2.Operation(
                    key_name="k", alg=alg.asymmetric_encryption, plaintext=b"m"
                ),
            )
        else:
            return True
    except StatusError:
        return False
    return True


SIGN = {"sign_message": True}
CRYPT = {"encrypt": True}
CASES = [
    attributes("ecc_key_pair", 256, sign_policy("ecdsa", A.SHA_256), family=SECP_R1, **SIGN),
    attributes(
        "ecc_key_pair", 384, sign_policy("deterministic_ecdsa", A.SHA3_384), family=SECP_R1, **SIGN
    ),
    attributes("ecc_key_pair", 255, sign_policy("pure_eddsa"), family=EDWARDS, **SIGN),
    attributes("ecc_key_pair", 255, sign_policy("ecdsa", A.SHA_256), family=EDWARDS, **SIGN),
    attributes("ecc_key_pair", 255, sign_policy("pure_eddsa"), family=MONTGOMERY, **SIGN),
    attributes("ecc_key_pair", 256, sign_policy("ecdsa_any"), family=SECP_R1, **SIGN),
    attributes("ecc_key_pair", 256, sign_policy("ecdsa", A.MD2), family=SECP_R1, **SIGN),
    attributes("rsa_key_pair", 2048, sign_policy("rsa_pss", A.SHA_512), **SIGN),
    attributes("rsa_key_pair", 2048, sign_policy("rsa_pkcs1v15_sign", A.SHA_1), **SIGN),
    attributes("rsa_key_pair", 2048, A(asymmetric_encryption=oaep(A.SHA_256)), **CRYPT),
    attributes("aes", 128, A(aead=aead(A.Aead.GCM)), **CRYPT),
    attributes("aes", 256, A(aead=aead(A.Aead.CCM, 8)), **CRYPT),
    attributes("aes", 128, A(aead=aead(A.Aead.GCM, 5)), **CRYPT),
    attributes("chacha20", 256, A(aead=aead(A.Aead.CHACHA20_POLY1305)), **CRYPT),
    attributes("chacha20", 256, A(aead=aead(A.Aead.GCM)), **CRYPT),
    attributes("aes", 128, A(cipher=A.CBC_NO_PADDING), **CRYPT),
    attributes("aes", 128, A(cipher=A.XTS), **CRYPT),
    attributes("aes", 256, A(cipher=A.XTS), **CRYPT),
    attributes("chacha20", 256, A(cipher=A.STREAM_CIPHER), **CRYPT),
    attributes("aes", 128, A(cipher=A.STREAM_CIPHER), **CRYPT),
    attributes("hmac", 256, A(mac=hmac(A.SHA_256, 16)), **SIGN),
    attributes("hmac", 256, A(mac=hmac(A.RIPEMD160)), **SIGN),
    attributes("aes", 128, A(mac=hmac(A.SHA_256)), **SIGN),
    attributes("aes", 128, A(aead=aead(A.Aead.GCM)), export=True),
    attributes("aes", 128, A(), **CRYPT),
]


@pytest.mark.parametrize("attrs", CASES, ids=range(len(CASES)))
def test_use_and_generate_answers_match_what_happens(
    provider: SoftwareProvider, attrs: psa_key_attributes_pb2.KeyAttributes
) -> None:
    answer = can(provider, GENERATE, attrs)
    assert answer == try_use(provider, attrs)
    if answer and attrs.key_policy.key_algorithm.WhichOneof("variant"):
        assert can(provider, USE, attrs)  # a policy algorithm is checked for use too


def test_generate_import_and_derive_checks(
    provider: SoftwareProvider, lenient: SoftwareProvider
) -> None:
    rsa_1024 = attributes("rsa_key_pair", 1024)
    assert not can(provider, GENERATE, rsa_1024)
    assert can(provider, IMPORT, rsa_1024)
    assert can(lenient, GENERATE, rsa_1024)  # deprecated, so only where allowed
    assert can(provider, IMPORT, attributes("rsa_public_key", 0))
    assert not can(provider, GENERATE, attributes("rsa_public_key", 2048))
    assert (
        can(
            provider,
            GENERATE,
            attributes("dh_key_pair", 3072, ecdh(), family=psa_key_attributes_pb2.KeyType.RFC7919),
        )
        is False
    )
    assert can(
        provider,
        GENERATE,
        attributes("dh_key_pair", 3072, family=psa_key_attributes_pb2.KeyType.RFC7919),
    )
    sha1 = attributes("ecc_key_pair", 256, sign_policy("ecdsa", A.SHA_1), family=SECP_R1, **SIGN)
    assert not can(provider, GENERATE, sha1)
    assert can(lenient, GENERATE, sha1)
    assert can(provider, IMPORT, sha1)
    assert not can(provider, DERIVE, attributes("aes", 128))
    assert not can(provider, USE, attributes("aes", 0, A(cipher=A.CTR), **CRYPT))
    assert not can(provider, IMPORT, attributes("des", 64))
    with expect_status(Status.PSA_ERROR_INVALID_ARGUMENT):
        provider.call(
            contracts.CAN_DO_CRYPTO,
            APP,
            can_do_crypto_pb2.Operation(attributes=attributes("aes", 128)),
        )
    assert can(
        provider,
        USE,
        attributes(
            "ecc_public_key",
            256,
            sign_policy("ecdsa", any_hash=True),
            family=SECP_R1,
            verify_message=True,
        ),
    )
    assert not can(
        provider,
        USE,
        attributes(
            "ecc_public_key",
            256,
            sign_policy("ecdsa", any_hash=True),
            family=SECP_R1,
            sign_message=True,
        ),
    )
    assert sign("ecdsa", A.SHA_256)  # builders stay importable
