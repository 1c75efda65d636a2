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
from tessera.service.providers.base import Handler, Provider, ProviderInfo, RequestContext
from tessera.wire.contracts import OPERATIONS, Auth
from tessera.wire.opcodes import Opcode
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

log = logging.getLogger(__name__)


class CoreProvider:
    """Serves the core opcodes (the registry's `core` operations), from a table as providers do."""

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
        self._handlers: dict[Opcode, Handler] = {
            Opcode.PING: lambda ctx, op: self._ping,
            Opcode.LIST_PROVIDERS: lambda ctx, op: self._list_providers,
            Opcode.LIST_AUTHENTICATORS: lambda ctx, op: self._list_authenticators,
            Opcode.LIST_OPCODES: self._list_opcodes,
            Opcode.LIST_KEYS: self._list_keys,
            Opcode.LIST_CLIENTS: self._list_clients,
            Opcode.DELETE_CLIENT: self._delete_client,
        }
        # As Parsec's service does, the admin-only operations are served but not listed
        # (docs/compatibility.md).
        listed = frozenset(op for op in self._handlers if OPERATIONS[op].auth is not Auth.ADMIN)
        # Per provider: (every opcode served, the ones Parsec's clients can decode).
        self._opcodes = {CORE_PROVIDER_ID: _list_opcodes_answers(listed)}
        for provider in providers:
            self._opcodes[provider.provider_id] = _list_opcodes_answers(provider.opcodes)

    @property
    def opcodes(self) -> frozenset[Opcode]:
        """Every opcode served here."""
        return frozenset(self._handlers)

    def handle(self, opcode: Opcode, ctx: RequestContext, operation: Message) -> Message:
        """Run one decoded core operation."""
        handler = self._handlers.get(opcode)
        if handler is None:
            raise StatusError(
                Status.PSA_ERROR_NOT_SUPPORTED, f"{opcode.name} is not a core operation"
            )
        return handler(ctx, operation)

    def _list_opcodes(
        self, ctx: RequestContext, op: list_opcodes_pb2.Operation
    ) -> list_opcodes_pb2.Result:
        answers = self._opcodes.get(op.provider_id)
        if answers is None:
            raise StatusError(Status.PROVIDER_NOT_REGISTERED, f"no provider {op.provider_id}")
        every, parsec_known = answers
        return every if ctx.extensions else parsec_known

    def _list_clients(
        self, ctx: RequestContext, op: list_clients_pb2.Operation
    ) -> list_clients_pb2.Result:
        # The clients of the admin's own authenticator: the ones DeleteClient can name.
        return list_clients_pb2.Result(clients=self._keystore.list_clients(ctx.owner.auth_type))

    def _list_keys(self, ctx: RequestContext, op: list_keys_pb2.Operation) -> Message:
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

    def _delete_client(self, ctx: RequestContext, op: delete_client_pb2.Operation) -> Message:
        # As Parsec's SQLite store: the client is named under the admin's own authenticator.
        owner = Owner(op.client, ctx.owner.auth_type)
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


def _list_opcodes_answers(
    opcodes: frozenset[Opcode],
) -> tuple[list_opcodes_pb2.Result, list_opcodes_pb2.Result]:
    """ListOpcodes' answers: every opcode, and those Parsec's clients can decode."""
    known = frozenset(op for op in opcodes if not OPERATIONS[op].extension)
    return (
        list_opcodes_pb2.Result(opcodes=sorted(opcodes)),
        list_opcodes_pb2.Result(opcodes=sorted(known)),
    )
