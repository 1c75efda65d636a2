"""Raw key agreement: ECDH with a private key on the token (CKM_ECDH1_DERIVE, no KDF).

The peer key is an uncompressed point on the private key's curve, checked here first (malformed
or off the curve: InvalidArgument, as the software provider). The output is PSA's: the shared x
coordinate, ceil(bits/8) bytes; the token holds it only as a session object destroyed at once.
Needs the DERIVE flag, which also marks the token object (CKA_DERIVE) when the key is made.
"""

from __future__ import annotations

from tessera.psa.algorithms import parse_raw_key_agreement
from tessera.psa.formats import public_key
from tessera.psa.key_types import ecc_byte_length
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.base import serves
from tessera.service.providers.pkcs11 import checks
from tessera.service.providers.pkcs11.context import Context, open_for
from tessera.wire import contracts
from tessera.wire.proto import psa_raw_key_agreement_pb2


@serves(contracts.PSA_RAW_KEY_AGREEMENT)
def raw_key_agreement(
    ctx: Context, owner: Owner, op: psa_raw_key_agreement_pb2.Operation
) -> psa_raw_key_agreement_pb2.Result:
    """PsaRawKeyAgreement."""
    alg = parse_raw_key_agreement(op.alg)
    key = open_for(ctx, owner, op.private_key_name, Usage.DERIVE, alg)
    key_type = key.attributes.key_type
    checks.check_agreement(key_type, key.bits, alg, Usage.DERIVE)
    public_key(key_type.public(), key.bits, op.peer_key)  # validates the point
    shared = ctx.token.ecdh(key.key_id, op.peer_key, ecc_byte_length(key.bits))
    return psa_raw_key_agreement_pb2.Result(shared_secret=shared)
