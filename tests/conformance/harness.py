"""How the conformance suite and the known-answer vectors reach a provider: the one place to adapt
when the way operations are dispatched to providers changes.

Two roads, both through the entry point the dispatcher uses today:
- in process, `provider.handle(opcode, context, operation)` on a software provider built as the
  service builds it (the Wycheproof vectors: thousands of cases, no sockets);
- over the wire, a real daemon serving the software, PKCS#11 (SoftHSM2) and TPM (swtpm) providers
  side by side (the conformance suite), so each answer is what a client would see.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from tessera.service.providers.base import Provider, RequestContext
from tessera.wire.opcodes import Opcode
from tessera.wire.status import Status, StatusError
from tests.unit.software.conftest import APP, make_provider


def handle(
    provider: Provider, opcode: Opcode, operation: Message, ctx: RequestContext = APP
) -> Any:
    """One decoded operation as the dispatcher runs it; StatusError when refused."""
    return provider.handle(opcode, ctx, operation)


def outcome(
    provider: Provider, opcode: Opcode, operation: Message, ctx: RequestContext = APP
) -> tuple[Status, Any]:
    """The status of one operation and, on success, its result."""
    try:
        return Status.SUCCESS, handle(provider, opcode, operation, ctx)
    except StatusError as error:
        return error.status, None


@pytest.fixture(scope="module")
def software(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """A software provider on its own state directory, default (strict) settings."""
    state: Path = tmp_path_factory.mktemp("software")
    provider, store = make_provider(state)
    try:
        yield provider
    finally:
        provider.close()
        store.close()
