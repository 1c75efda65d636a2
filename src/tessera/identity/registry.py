"""Client definitions and proven processes, and who a calling process is.

A definition (from AddClient) names an application; its SPIFFE ID comes from the mapping
rules, so it is stable across restarts and upgrades. A proof (from ProveClient) binds a running
process incarnation (pid and start time, so a reused pid never inherits an identity) to a
definition. A caller is resolved through its process ancestry, so an application made of many
processes is one identity.

Each proven process also holds a random *grant*, the prefix of every token `jti` issued to it.
Whatever withdraws a process (removal, exit, redefinition as another identity) returns its
grants, for the caller to revoke at the service (identity/revocations.py).
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from tessera.trust.payloads import ClientDefinition
from tessera.trust.peer import Incarnation, ancestry, is_alive
from tessera.wire.status import Status, StatusError


@dataclass(frozen=True)
class Proven:
    """One proven process: the uid it was proven with, and the grant of its tokens."""

    uid: int
    grant: str


@dataclass
class Client:
    """One defined application and its proven processes."""

    client_id: str
    definition: ClientDefinition
    spiffe_id: str
    instances: dict[Incarnation, Proven] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolved:
    """Who a calling process is, and the grant its tokens carry."""

    client_id: str
    spiffe_id: str
    grant: str


def new_grant() -> str:
    """A fresh grant: 96 random bits, base64url (no dot: it prefixes a `jti`)."""
    return secrets.token_urlsafe(12)


class Registry:
    """Thread-safe registry of clients."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, Client] = {}
        self._by_incarnation: dict[Incarnation, str] = {}
        self._container_resolver: Callable[[int], Resolved | None] | None = None

    def proven_count(self) -> int:
        """Processes proven now (for metrics)."""
        return len(self._by_incarnation)

    def resolve_containers_with(self, resolver: Callable[[int], Resolved | None]) -> None:
        """Let `resolver` (identity/containers.py) answer first for a caller in a container:
        it is that container or nobody (it raises), and None for a caller in none."""
        self._container_resolver = resolver

    def define(self, client_id: str, definition: ClientDefinition, spiffe_id: str) -> list[str]:
        """Add or replace a definition (an upgrade keeps the proven processes); the grants of
        processes forgotten because the identity changed."""
        with self._lock:
            existing = self._clients.get(client_id)
            if existing is not None and existing.spiffe_id == spiffe_id:
                existing.definition = definition
                return []
            forgotten = self._forget_instances(existing) if existing is not None else []
            self._clients[client_id] = Client(client_id, definition, spiffe_id)
            return forgotten

    def definition(self, client_id: str) -> ClientDefinition:
        """A client's definition; IDENTITY_CLIENT_UNKNOWN if there is none."""
        with self._lock:
            client = self._clients.get(client_id)
            if client is None:
                raise StatusError(Status.IDENTITY_CLIENT_UNKNOWN, "no definition for that client")
            return client.definition

    def prove(self, client_id: str, incarnation: Incarnation, uid: int) -> str:
        """Bind a running process to a defined client; returns its SPIFFE ID."""
        with self._lock:
            client = self._clients.get(client_id)
            if client is None:
                raise StatusError(Status.IDENTITY_CLIENT_UNKNOWN, "no definition for that client")
            owner = self._by_incarnation.get(incarnation)
            if owner is not None and owner != client_id:
                raise StatusError(
                    Status.IDENTITY_ATTESTATION_FAILED, "that process is proven for another client"
                )
            previous = client.instances.get(incarnation)
            # Proven again (a replay): its tokens stay valid, so it keeps its grant.
            grant = previous.grant if previous is not None else new_grant()
            client.instances[incarnation] = Proven(uid, grant)
            self._by_incarnation[incarnation] = client_id
            return client.spiffe_id

    def remove(self, client_id: str, incarnation: Incarnation | None = None) -> list[str]:
        """Withdraw one proven process, or (no incarnation) the whole client; the grants of
        the processes withdrawn."""
        with self._lock:
            client = self._clients.get(client_id)
            if client is None:
                raise StatusError(Status.IDENTITY_CLIENT_UNKNOWN, "no such client")
            if incarnation is None:
                forgotten = self._forget_instances(client)
                del self._clients[client_id]
                return forgotten
            proven = client.instances.pop(incarnation, None)
            self._by_incarnation.pop(incarnation, None)
            return [proven.grant] if proven is not None else []

    def resolve(self, pid: int, uid: int) -> Resolved:
        """The client a calling process belongs to (its container, or itself or an ancestor
        proven)."""
        if self._container_resolver is not None:
            in_container = self._container_resolver(pid)
            if in_container is not None:
                return in_container
        lineage = ancestry(pid)
        with self._lock:
            for incarnation in lineage:
                client_id = self._by_incarnation.get(incarnation)
                if client_id is None:
                    continue
                client = self._clients[client_id]
                proven = client.instances.get(incarnation)
                if proven is None or proven.uid != uid:
                    break  # a descendant that changed user is not the application any more
                return Resolved(client_id, client.spiffe_id, proven.grant)
        raise StatusError(
            Status.IDENTITY_CLIENT_NOT_PROVEN,
            "the calling process is not (a descendant of) a process the orchestrator proved",
        )

    def resolve_incarnation(self, incarnation: Incarnation) -> Resolved | None:
        """The client that proved exactly this process (a container's first process), if any."""
        with self._lock:
            client_id = self._by_incarnation.get(incarnation)
            if client_id is None:
                return None
            client = self._clients[client_id]
            proven = client.instances.get(incarnation)
            if proven is None:
                return None
            return Resolved(client_id, client.spiffe_id, proven.grant)

    def purge_dead(self) -> list[str]:
        """Forget proven processes that exited; returns their grants."""
        grants = []
        with self._lock:
            dead = [inc for inc in self._by_incarnation if not is_alive(inc)]
            for incarnation in dead:
                client_id = self._by_incarnation.pop(incarnation)
                proven = self._clients[client_id].instances.pop(incarnation, None)
                if proven is not None:
                    grants.append(proven.grant)
        return grants

    def _forget_instances(self, client: Client) -> list[str]:
        for incarnation in client.instances:
            self._by_incarnation.pop(incarnation, None)
        grants = [proven.grant for proven in client.instances.values()]
        client.instances.clear()
        return grants
