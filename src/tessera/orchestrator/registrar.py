"""Keeping the identity provider in step with the running applications.

Every start is defined and proven, every exit withdrawn. The identity provider keeps nothing on
disk, so when it restarts (it lost our root) everything live is replayed. A payload signed just
before a rotation is refused as signed by an unknown signer: synchronize and send it again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from pathlib import Path

from google.protobuf.message import Message

from tessera.daemon import link
from tessera.orchestrator.claims import client_definition, client_proof
from tessera.trust.payloads import ClientDefinition, Payload, Proof, Removal
from tessera.trust.peer import Incarnation
from tessera.trust.trusted_side import TrustedSide
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import add_client_pb2, prove_client_pb2, remove_client_pb2
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)

_RETRYABLE = (Status.TRUST_UNKNOWN_SIGNER, Status.TRUST_NO_ROOT)
TRUST_WAIT = 5.0  # seconds a registration waits for trust with the identity provider
SETTLE_WAIT = 1.0  # seconds a new process may take to exec into its defined program
SETTLE_POLL = 0.02


async def _settled_proof(client_id: str, process: Incarnation, digest: str | None) -> Proof:
    """A proof of `pid` once it runs the defined program. A process may replace its program
    just after it started (`#!/usr/bin/env python3` runs env, which runs python3): wait for
    that briefly rather than send a proof the identity provider must refuse."""
    loop = asyncio.get_running_loop()
    give_up = loop.time() + SETTLE_WAIT
    pid = process.pid
    proof = client_proof(client_id, process)
    program = _program_path(pid)
    while proof.exe_digest not in (None, digest) and loop.time() < give_up:
        await asyncio.sleep(SETTLE_POLL)
        now = _program_path(pid)
        if now != program:  # it exec'd: look again (hashing only then)
            program = now
            proof = client_proof(client_id, process)
    return proof


def _program_path(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return None


def _operation(payload: Payload, token: str) -> tuple[Opcode, Message]:
    """The request that carries a signed payload of this type."""
    if isinstance(payload, ClientDefinition):
        return Opcode.ADD_CLIENT, add_client_pb2.Operation(definition=token)
    if isinstance(payload, Proof):
        return Opcode.PROVE_CLIENT, prove_client_pb2.Operation(proof=token)
    return Opcode.REMOVE_CLIENT, remove_client_pb2.Operation(removal=token)


class Registrar:
    """Defines, proves and removes clients at the identity provider."""

    def __init__(self, trusted: TrustedSide) -> None:
        self._trusted = trusted

    async def send(self, payload: Payload, *, wait: bool = True) -> Message | None:
        """Sign and send one payload (AddClient, ProveClient or RemoveClient, by its type); None
        if the identity provider cannot be reached now.

        With no trust yet, `wait` for it briefly; else give up at once."""
        for attempt in range(2):
            current = self._trusted.current
            if current is None:
                if not wait:
                    return None
                # Trust is being established by the heartbeat; wait for it briefly rather
                # than racing it (what misses the window is replayed once trust exists).
                await self._trusted.wait_trusted(TRUST_WAIT)
                current = self._trusted.current
                if current is None:
                    return None
            attempted = dataclasses.replace(payload, jti=f"{payload.jti}-{attempt}")
            opcode, body = _operation(payload, current.sign_jws(attempted.to_claims()))
            try:
                return await self._trusted.link.call(opcode, body)
            except StatusError as error:
                if error.status not in _RETRYABLE or attempt:
                    raise
                await self._trusted.synchronize()
        return None

    async def register(
        self,
        client_id: str,
        *,
        name: str,
        command: list[str],
        user: str,
        uid: int,
        process: Incarnation,
        search_path: str | None = None,
        cwd: Path | None = None,
    ) -> str | None:
        """Define and prove one running process; its SPIFFE ID, or None if not possible now.

        `search_path` and `cwd` are the application's PATH and working directory, where its
        command is found.
        """
        try:
            definition = client_definition(
                client_id,
                name=name,
                command=command,
                user=user,
                uid=uid,
                search_path=search_path,
                cwd=cwd,
            )
            defined = await self.send(definition)
            if defined is None:
                return None
            proof = await _settled_proof(client_id, process, definition.digest)
            proven = await self.send(proof)
        except (link.LinkError, StatusError, OSError, RuntimeError) as error:
            log.warning("could not register %s (pid %d): %s", client_id, process.pid, error)
            return None
        if proven is None:
            return None
        assert isinstance(proven, prove_client_pb2.Result)
        log.info("%s (pid %d) is %s", client_id, process.pid, proven.spiffe_id)
        return proven.spiffe_id

    async def unregister(self, client_id: str, incarnation: Incarnation | None) -> None:
        """Withdraw a process (or the whole client) that exited; best effort.

        It never waits for trust: without it nothing was told in this incarnation, the
        identity provider forgets exited processes itself, and at shutdown (when the heartbeat
        that establishes trust is gone) waiting would only hold the stop up.
        """
        try:
            await self.send(Removal(client_id, incarnation), wait=False)
        except StatusError as error:
            if error.status is not Status.IDENTITY_CLIENT_UNKNOWN:
                log.info("could not withdraw %s: %s", client_id, error.status.name)
        except link.LinkError as error:
            log.info("could not withdraw %s: %s", client_id, error)
