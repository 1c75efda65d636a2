"""The messages of the client's simplest operations, as `protowire` schemas.

Written from the field numbers of the project's `.proto` files (tessera/wire/proto): for the
operations that carry no PSA structure, so that a call to them needs no protobuf runtime (the
`tessera` command's start-up). Each schema is held to its generated descriptor, and each
encoding to protobuf's, by tests/unit/wire/test_protowire.py.
"""

from __future__ import annotations

from tessera.wire.protowire import BYTES, MESSAGE, STRING, UINT32, UINT64, Field, Schema

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
