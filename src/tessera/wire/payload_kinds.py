"""The `kind` claim of each signed payload of the identity protocol (docs/identity.md)."""

DEFINITION = "tessera/client-definition"
PROOF = "tessera/client-proof"
REMOVAL = "tessera/client-removal"
REVOCATIONS = "tessera/revocation-list"  # identity provider -> service
