"""Key attestation with TPM2_ActivateCredential, as Parsec's TPM provider does it.

PrepareKeyAttestation gives a verifier the attested key's TPM name and TPMT_PUBLIC and the
endorsement key's TPMT_PUBLIC (all marshalled as the TPM does); the verifier checks the
endorsement key (e.g. against its certificate), runs TPM2_MakeCredential for that name, and sends
the credential blob and secret (the TPM2B contents) to AttestKey, which returns the credential:
only a TPM holding both keys can open it. The attesting key is always the default RSA 2048
endorsement key (naming another answers NotSupported); the endorsement hierarchy's authorization
must be empty.
"""

from __future__ import annotations

from tessera.service.keystore import Owner
from tessera.service.providers.base import serves
from tessera.service.providers.tpm import checks
from tessera.service.providers.tpm.context import Context, HeldKey, open_key
from tessera.wire import contracts
from tessera.wire.proto import attest_key_pb2, prepare_key_attestation_pb2


def _attested(ctx: Context, owner: Owner, name: str, attesting: str) -> HeldKey:
    if attesting:
        raise checks.unsupported("only the endorsement key attests keys here")
    key = open_key(ctx, owner, name)
    if key.wrapped is None:
        raise checks.invalid("only keys held by the TPM can be attested")
    return key


@serves(contracts.PREPARE_KEY_ATTESTATION)
def prepare_key_attestation(
    ctx: Context, owner: Owner, op: prepare_key_attestation_pb2.Operation
) -> prepare_key_attestation_pb2.Result:
    """PrepareKeyAttestation (ActivateCredential)."""
    if op.parameters.WhichOneof("mechanism") != "activate_credential":
        raise checks.unsupported("only the ActivateCredential mechanism is supported")
    params = op.parameters.activate_credential
    key = _attested(ctx, owner, params.attested_key_name, params.attesting_key_name)
    assert key.wrapped is not None
    name, public, ek_public = ctx.tpm.attestation_inputs(key.wrapped)
    output = prepare_key_attestation_pb2.PrepareKeyAttestationOutput(
        activate_credential=prepare_key_attestation_pb2.PrepareKeyAttestationOutput.ActivateCredential(
            name=name, public=public, attesting_key_pub=ek_public
        )
    )
    return prepare_key_attestation_pb2.Result(output=output)


@serves(contracts.ATTEST_KEY)
def attest_key(ctx: Context, owner: Owner, op: attest_key_pb2.Operation) -> attest_key_pb2.Result:
    """AttestKey (ActivateCredential): the credential, if this TPM can open it."""
    if op.parameters.WhichOneof("mechanism") != "activate_credential":
        raise checks.unsupported("only the ActivateCredential mechanism is supported")
    key = _attested(ctx, owner, op.attested_key_name, op.attesting_key_name)
    assert key.wrapped is not None
    params = op.parameters.activate_credential
    credential = ctx.tpm.activate_credential(key.wrapped, params.credential_blob, params.secret)
    output = attest_key_pb2.AttestationOutput(
        activate_credential=attest_key_pb2.AttestationOutput.ActivateCredential(
            credential=credential
        )
    )
    return attest_key_pb2.Result(output=output)
