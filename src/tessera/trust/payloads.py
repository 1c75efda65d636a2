"""The signed payloads of the identity protocol, typed: client definitions, proofs, removals.

The orchestrator builds them (orchestrator/claims.py, containers/claims.py) and signs
`to_claims()`; the identity provider verifies the JWS and reads them back with `from_claims`
(identity/payloads.py). Both sides share these classes, so a field is named, typed and checked
in one place. The JSON claims are those of docs/identity.md and docs/containers.md, in the same
order as ever, so components of older and newer versions understand each other; claims a
reader does not know (`iat`, or fields added later) are ignored.

A payload that is not what its kind says is refused with a status: TRUST_BAD_SIGNATURE for the
envelope (`kind`, `jti`, `client_id`), a definition or a removal (a malformed payload is no
genuine one), IDENTITY_ATTESTATION_FAILED for the facts a proof states about a process (the
status the identity provider's checks of those facts against /proc give).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Self, TypeVar

from tessera.trust.peer import Incarnation
from tessera.wire.payload_kinds import DEFINITION, PROOF, REMOVAL
from tessera.wire.status import Status, StatusError

__all__ = [
    "MAX_PROCESSES",
    "ClientDefinition",
    "ContainerDescription",
    "Payload",
    "Proof",
    "Removal",
    "new_jti",
]

MAX_PROCESSES = 256  # processes one container proof may list

_T = TypeVar("_T")


def new_jti() -> str:
    """A fresh payload id (each may be used once)."""
    return secrets.token_urlsafe(16)


class _Claims:
    """Typed reads of one payload's claims; a failure raises `status`."""

    def __init__(self, claims: Mapping[str, Any], status: Status, what: str) -> None:
        self._claims = claims
        self._status = status
        self._what = what

    def refuse(self, message: str) -> StatusError:
        return StatusError(self._status, f"{self._what}: {message}")

    def _typed(self, key: str, kind: type[_T], required: bool) -> _T | None:
        value = self._claims.get(key)
        if value is None:
            if required:
                raise self.refuse(f"no {key}")
            return None
        # bool is an int in Python, never in these claims.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.refuse(f"{key} is not a {kind.__name__}")
        return value

    def text(self, key: str) -> str:
        value = self._typed(key, str, True)
        assert value is not None
        if not value:
            raise self.refuse(f"no {key}")
        return value

    def optional_text(self, key: str) -> str | None:
        return self._typed(key, str, False)

    def integer(self, key: str) -> int:
        value = self._typed(key, int, True)
        assert value is not None
        return value

    def optional_integer(self, key: str) -> int | None:
        return self._typed(key, int, False)

    def optional_object(self, key: str) -> dict[str, Any] | None:
        return self._typed(key, dict, False)

    def optional_list(self, key: str) -> list[Any] | None:
        return self._typed(key, list, False)

    def optional_words(self, key: str) -> tuple[str, ...] | None:
        """A list of strings (a command line)."""
        words = self.optional_list(key)
        if words is not None and not all(isinstance(word, str) for word in words):
            raise self.refuse(f"{key} is not a list of strings")
        return None if words is None else tuple(words)

    def names(self, key: str) -> dict[str, str]:
        """An object of strings (namespace links by name); absent is empty."""
        named = self.optional_object(key) or {}
        if not all(isinstance(value, str) for value in named.values()):
            raise self.refuse(f"{key} are not strings")
        return named


def _envelope(claims: Mapping[str, Any], kind: str) -> tuple[str, str]:
    """`jti` and `client_id` of a payload that must be of `kind` (TRUST_BAD_SIGNATURE)."""
    if claims.get("kind") != kind:
        raise StatusError(Status.TRUST_BAD_SIGNATURE, f"payload is not a {kind}")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise StatusError(Status.TRUST_BAD_SIGNATURE, "payload has no jti")
    client_id = claims.get("client_id")
    if not isinstance(client_id, str) or not client_id:
        raise StatusError(Status.TRUST_BAD_SIGNATURE, "payload names no client")
    return jti, client_id


def _head(kind: str, jti: str, client_id: str) -> dict[str, Any]:
    return {"kind": kind, "jti": jti, "client_id": client_id}


@dataclass(frozen=True, slots=True)
class ContainerDescription:
    """The `container` object of a container client's definition (docs/containers.md).

    `rule` records which orchestrator rule made the container a client and is kept as sent.
    """

    id: str
    name: str | None = None
    image: str | None = None
    exec_joins: bool = False  # processes that join later (`podman exec`) share the identity
    rule: dict[str, Any] | None = None

    def to_object(self) -> dict[str, Any]:
        """The JSON object."""
        described: dict[str, Any] = {"id": self.id}
        if self.name is not None:
            described["name"] = self.name
        if self.image is not None:
            described["image"] = self.image
        described["exec"] = self.exec_joins
        if self.rule is not None:
            described["rule"] = self.rule
        return described

    @classmethod
    def from_object(cls, value: Mapping[str, Any]) -> Self:
        """Read the JSON object (TRUST_BAD_SIGNATURE if it is malformed)."""
        read = _Claims(value, Status.TRUST_BAD_SIGNATURE, "definition's container")
        joins = value.get("exec", False)
        if not isinstance(joins, bool):
            raise read.refuse("exec is not a bool")
        return cls(
            id=read.text("id"),
            name=read.optional_text("name"),
            image=read.optional_text("image"),
            exec_joins=joins,
            rule=read.optional_object("rule"),
        )


@dataclass(frozen=True, slots=True)
class ClientDefinition:
    """What an application is, independent of any running process (AddClient).

    `digest` is the program its processes run (what a proof's `exe_digest` shows); a script's
    own digest is `script_digest`. A container client has `container` instead of `user`, `uid`
    and `command`.
    """

    KIND: ClassVar[str] = DEFINITION

    client_id: str
    name: str
    digest: str | None = None
    host: str | None = None
    user: str | None = None
    uid: int | None = None
    command: tuple[str, ...] | None = None
    container: ContainerDescription | None = None
    script_digest: str | None = None
    jti: str = field(default_factory=new_jti)

    def to_claims(self) -> dict[str, Any]:
        """The JSON claims to sign."""
        claims = _head(self.KIND, self.jti, self.client_id)
        claims.update(self.fields())
        return claims

    def fields(self) -> dict[str, Any]:
        """What the definition says about the application, as the mapping rules read it."""
        named: dict[str, Any] = {
            "name": self.name,
            "digest": self.digest,
            "host": self.host,
            "user": self.user,
            "uid": self.uid,
            "command": list(self.command) if self.command is not None else None,
            "container": self.container.to_object() if self.container is not None else None,
            "script_digest": self.script_digest,
        }
        return {k: v for k, v in named.items() if v is not None}

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Self:
        """Read verified claims; TRUST_BAD_SIGNATURE if they are not a definition."""
        jti, client_id = _envelope(claims, cls.KIND)
        read = _Claims(claims, Status.TRUST_BAD_SIGNATURE, "definition")
        container = read.optional_object("container")
        return cls(
            client_id=client_id,
            name=read.text("name"),
            digest=read.optional_text("digest"),
            host=read.optional_text("host"),
            user=read.optional_text("user"),
            uid=read.optional_integer("uid"),
            command=read.optional_words("command"),
            container=None if container is None else ContainerDescription.from_object(container),
            script_digest=read.optional_text("script_digest"),
            jti=jti,
        )


@dataclass(frozen=True, slots=True)
class Proof:
    """What /proc says about a running process of a client (ProveClient).

    A container's proof names its first process and adds `container` (its id) and `processes`
    (those it held when observed); it has no `exe_digest`.
    """

    KIND: ClassVar[str] = PROOF

    client_id: str
    pid: int
    start_time: int  # clock ticks since boot, /proc/<pid>/stat field 22
    uid: int
    gid: int
    cgroup: str | None = None
    namespaces: dict[str, str] = field(default_factory=dict)
    exe_digest: str | None = None
    container: str | None = None
    processes: tuple[Incarnation, ...] | None = None
    jti: str = field(default_factory=new_jti)

    @property
    def incarnation(self) -> Incarnation:
        """The proven process."""
        return Incarnation(self.pid, self.start_time)

    def to_claims(self) -> dict[str, Any]:
        """The JSON claims to sign."""
        claims = _head(self.KIND, self.jti, self.client_id)
        if self.container is not None:
            claims["container"] = self.container
        claims |= {
            "pid": self.pid,
            "start_time": self.start_time,
            "uid": self.uid,
            "gid": self.gid,
            "cgroup": self.cgroup,
            "namespaces": dict(self.namespaces),
        }
        if self.processes is not None:
            claims["processes"] = [[p.pid, p.start_time] for p in self.processes]
        if self.exe_digest is not None:
            claims["exe_digest"] = self.exe_digest
        return claims

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Self:
        """Read verified claims: TRUST_BAD_SIGNATURE for a bad envelope,
        IDENTITY_ATTESTATION_FAILED for missing or mistyped facts."""
        jti, client_id = _envelope(claims, cls.KIND)
        read = _Claims(claims, Status.IDENTITY_ATTESTATION_FAILED, "proof")
        return cls(
            client_id=client_id,
            pid=read.integer("pid"),
            start_time=read.integer("start_time"),
            uid=read.integer("uid"),
            gid=read.integer("gid"),
            cgroup=read.optional_text("cgroup"),
            namespaces=read.names("namespaces"),
            exe_digest=read.optional_text("exe_digest"),
            container=read.optional_text("container"),
            processes=_processes(read),
            jti=jti,
        )


def _processes(read: _Claims) -> tuple[Incarnation, ...] | None:
    listed = read.optional_list("processes")
    if listed is None:
        return None
    if len(listed) > MAX_PROCESSES:
        raise read.refuse("the process list is too long")
    members = []
    for entry in listed:
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in entry)
        ):
            raise read.refuse("the process list is malformed")
        members.append(Incarnation(entry[0], entry[1]))
    return tuple(members)


@dataclass(frozen=True, slots=True)
class Removal:
    """Withdraw one process of a client, or (no incarnation) the whole client (RemoveClient)."""

    KIND: ClassVar[str] = REMOVAL

    client_id: str
    incarnation: Incarnation | None = None
    jti: str = field(default_factory=new_jti)

    def to_claims(self) -> dict[str, Any]:
        """The JSON claims to sign."""
        claims = _head(self.KIND, self.jti, self.client_id)
        if self.incarnation is not None:
            claims["pid"] = self.incarnation.pid
            claims["start_time"] = self.incarnation.start_time
        return claims

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Self:
        """Read verified claims; TRUST_BAD_SIGNATURE if they are not a removal (a pid without
        its start time, or the reverse, names no process)."""
        jti, client_id = _envelope(claims, cls.KIND)
        read = _Claims(claims, Status.TRUST_BAD_SIGNATURE, "removal")
        pid, start = read.optional_integer("pid"), read.optional_integer("start_time")
        if (pid is None) != (start is None):
            raise read.refuse("pid and start_time go together")
        incarnation = Incarnation(pid, start) if pid is not None and start is not None else None
        return cls(client_id=client_id, incarnation=incarnation, jti=jti)


Payload = ClientDefinition | Proof | Removal
