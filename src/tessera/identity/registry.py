"""Client definitions and proven processes, and who a calling process is.

A definition (from AddClient) names an application; its SPIFFE ID comes from the mapping
rules, so it is stable across restarts and upgrades. A proof (from ProveClient) binds a running
process incarnation (pid and start time, so a reused pid never inherits an identity) to a
definition. A caller is resolved through its process ancestry, so an application made of many
processes is one identity.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from tessera.trust.peer import Incarnation, ancestry, is_alive
from tessera.wire.status import Status, StatusError


@dataclass
class Client:
    """One defined application and its proven processes."""

    client_id: str
    definition: dict[str, Any]
    spiffe_id: str
    instances: dict[Incarnation, int] = field(default_factory=dict)  # incarnation -> uid


@dataclass(frozen=True)
class Resolved:
    """Who a calling process is."""

    client_id: str
    spiffe_id: str


class Registry:
    """Thread-safe registry of clients."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, Client] = {}
        self._by_incarnation: dict[Incarnation, str] = {}

    def define(self, client_id: str, definition: dict[str, Any], spiffe_id: str) -> None:
        """Add or replace a definition (an upgrade keeps the proven processes)."""
        with self._lock:
            existing = self._clients.get(client_id)
            if existing is not None and existing.spiffe_id == spiffe_id:
                existing.definition = definition
                return
            if existing is not None:
                self._forget_instances(existing)
            self._clients[client_id] = Client(client_id, definition, spiffe_id)

    def definition(self, client_id: str) -> dict[str, Any]:
        """A copy of a client's definition; IDENTITY_CLIENT_UNKNOWN if there is none."""
        with self._lock:
            client = self._clients.get(client_id)
            if client is None:
                raise StatusError(Status.IDENTITY_CLIENT_UNKNOWN, "no definition for that client")
            return dict(client.definition)

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
            client.instances[incarnation] = uid
            self._by_incarnation[incarnation] = client_id
            return client.spiffe_id

    def remove(self, client_id: str, incarnation: Incarnation | None = None) -> None:
        """Withdraw one proven process, or (no incarnation) the whole client."""
        with self._lock:
            client = self._clients.get(client_id)
            if client is None:
                raise StatusError(Status.IDENTITY_CLIENT_UNKNOWN, "no such client")
            if incarnation is None:
                self._forget_instances(client)
                del self._clients[client_id]
                return
            client.instances.pop(incarnation, None)
            self._by_incarnation.pop(incarnation, None)

    def resolve(self, pid: int, uid: int) -> Resolved:
        """The client a calling process belongs to (itself or an ancestor proven)."""
        lineage = ancestry(pid)
        with self._lock:
            for incarnation in lineage:
                client_id = self._by_incarnation.get(incarnation)
                if client_id is None:
                    continue
                client = self._clients[client_id]
                if client.instances.get(incarnation) != uid:
                    break  # a descendant that changed user is not the application any more
                return Resolved(client_id, client.spiffe_id)
        raise StatusError(
            Status.IDENTITY_CLIENT_NOT_PROVEN,
            "the calling process is not (a descendant of) a process the orchestrator proved",
        )

    def purge_dead(self) -> int:
        """Forget proven processes that exited; returns how many."""
        with self._lock:
            dead = [inc for inc in self._by_incarnation if not is_alive(inc)]
            for incarnation in dead:
                client_id = self._by_incarnation.pop(incarnation)
                self._clients[client_id].instances.pop(incarnation, None)
        return len(dead)

    def _forget_instances(self, client: Client) -> None:
        for incarnation in client.instances:
            self._by_incarnation.pop(incarnation, None)
        client.instances.clear()
