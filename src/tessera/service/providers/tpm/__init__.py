"""The TPM 2.0 provider: keys wrapped by a TPM's storage key, through `tpm2-pytss`.

`provider.TpmProvider` is imported by the builder only when configured, and it imports the
optional `tpm2-pytss` (the `tpm` extra) only when built, so parsing a configuration never needs it.
"""
