"""The core provider (id 0): administrative operations, no cryptography.

What it reports about other providers (ListProviders, ListOpcodes) is read from the providers
themselves; keys are listed and deleted through the key store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from google.protobuf.message import Message

from tessera._version import VERSION_TUPLE
from tessera.service.authenticators import Authenticator
from tessera.service.keystore import KeyStore, Owner
from tessera.service.providers.base import Provider, ProviderInfo, RequestContext
from tessera.wire.opcodes import EXTENSION_OPCODES, Opcode
from tessera.wire.proto import (
    delete_client_pb2,
    list_authenticators_pb2,
    list_clients_pb2,
    list_keys_pb2,
    list_opcodes_pb2,
    list_providers_pb2,
    ping_pb2,
    psa_key_attributes_pb2,
)
from tessera.wire.status import Status, StatusError

CORE_PROVIDER_ID = 0

CORE_INFO = ProviderInfo(
    # Parsec's core-provider UUID: the same role, so clients that match on it keep working.
    uuid="47049873-2a43-4845-9d72-831eab668784",
    description="Tessera core provider: administrative operations, no cryptography",
    vendor="Tessera",
    version=VERSION_TUPLE,
)

# What ListOpcodes reports for the core provider. As Parsec's service does, the admin-only
# ListClients and DeleteClient are served but not listed (docs/compatibility.md).
CORE_LISTED_OPCODES = (
    Opcode.PING,
    Opcode.LIST_PROVIDERS,
    Opcode.LIST_OPCODES,
    Opcode.LIST_AUTHENTICATORS,
    Opcode.LIST_KEYS,
)

log = logging.getLogger(__name__)


class CoreProvider:
    """Serves the seven core opcodes."""

    provider_id = CORE_PROVIDER_ID
    info = CORE_INFO

    def __init__(
        self,
        providers: Sequence[Provider],
        authenticators: Sequence[Authenticator],
        keystore: KeyStore,
    ) -> None:
        self._providers = {p.provider_id: p for p in providers}
        self._keystore = keystore
        # Nothing here changes while the service runs: build the answers once.
        self._ping = ping_pb2.Result(wire_protocol_version_maj=1, wire_protocol_version_min=0)
        self._list_providers = list_providers_pb2.Result(
            providers=[_provider_info(p.provider_id, p.info) for p in providers]
            + [_provider_info(CORE_PROVIDER_ID, CORE_INFO)]
        )
        self._list_authenticators = list_authenticators_pb2.Result(
            authenticators=[
                list_authenticators_pb2.AuthenticatorInfo(
                    description=a.description,
                    version_maj=VERSION_TUPLE[0],
                    version_min=VERSION_TUPLE[1],
                    version_rev=VERSION_TUPLE[2],
                    id=int(a.auth_type),
                )
                for a in authenticators
            ]
        )
        # Per provider: (every opcode served, the ones Parsec's clients can decode).
        core_opcodes = list_opcodes_pb2.Result(opcodes=sorted(CORE_LISTED_OPCODES))
        self._opcodes = {CORE_PROVIDER_ID: (core_opcodes, core_opcodes)}
        for provider in providers:
            self._opcodes[provider.provider_id] = (
                list_opcodes_pb2.Result(opcodes=sorted(provider.opcodes)),
                list_opcodes_pb2.Result(opcodes=sorted(provider.opcodes - EXTENSION_OPCODES)),
            )

    def handle(self, opcode: Opcode, ctx: RequestContext, operation: Message) -> Message:
        """Run one decoded core operation."""
        if opcode is Opcode.PING:
            return self._ping
        if opcode is Opcode.LIST_PROVIDERS:
            return self._list_providers
        if opcode is Opcode.LIST_AUTHENTICATORS:
            return self._list_authenticators
        if opcode is Opcode.LIST_OPCODES:
            assert isinstance(operation, list_opcodes_pb2.Operation)
            return self._list_opcodes(operation.provider_id, extensions=ctx.extensions)
        if opcode is Opcode.LIST_KEYS:
            return self._list_keys(ctx)
        if opcode is Opcode.LIST_CLIENTS:
            # The clients of the admin's own authenticator: the ones DeleteClient can name.
            clients = self._keystore.list_clients(ctx.owner.auth_type)
            return list_clients_pb2.Result(clients=clients)
        if opcode is Opcode.DELETE_CLIENT:
            assert isinstance(operation, delete_client_pb2.Operation)
            return self._delete_client(ctx, operation.client)
        raise StatusError(Status.PSA_ERROR_NOT_SUPPORTED, f"{opcode.name} is not a core operation")

    def _list_opcodes(self, provider_id: int, *, extensions: bool) -> Message:
        answers = self._opcodes.get(provider_id)
        if answers is None:
            raise StatusError(Status.PROVIDER_NOT_REGISTERED, f"no provider {provider_id}")
        every, parsec_known = answers
        return every if extensions else parsec_known

    def _list_keys(self, ctx: RequestContext) -> Message:
        infos = []
        for record in self._keystore.list_keys(ctx.owner):
            if record.provider_id not in self._providers:
                continue  # a provider removed from the config: its keys are unusable, not listed
            attributes = psa_key_attributes_pb2.KeyAttributes()
            attributes.ParseFromString(record.attributes)
            infos.append(
                list_keys_pb2.KeyInfo(
                    provider_id=record.provider_id, name=record.name, attributes=attributes
                )
            )
        return list_keys_pb2.Result(keys=infos)

    def _delete_client(self, ctx: RequestContext, client: str) -> Message:
        # As Parsec's SQLite store: the client is named under the admin's own authenticator.
        owner = Owner(client, ctx.owner.auth_type)
        records = self._keystore.list_keys(owner)
        if not records:
            raise StatusError(Status.PSA_ERROR_DOES_NOT_EXIST, "no such client")
        for record in records:
            provider = self._providers.get(record.provider_id)
            if provider is not None:
                provider.release_key(record)
            self._keystore.delete(owner, record.provider_id, record.name)
        log.info("deleted %d keys of a client at an administrator's request", len(records))
        return delete_client_pb2.Result()


def _provider_info(provider_id: int, info: ProviderInfo) -> list_providers_pb2.ProviderInfo:
    return list_providers_pb2.ProviderInfo(
        uuid=info.uuid,
        description=info.description,
        vendor=info.vendor,
        version_maj=info.version[0],
        version_min=info.version[1],
        version_rev=info.version[2],
        id=provider_id,
    )
