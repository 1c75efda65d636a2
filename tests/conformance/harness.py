"""How the conformance suite and the known-answer vectors reach a provider: the one place to adapt
when the way operations are dispatched to providers changes.

Two roads, both through the entry point the dispatcher uses today:
- in process, `provider.handle(opcode, context, operation)` on a software provider over a
  temporary key store (the Wycheproof vectors: thousands of cases, no sockets);
- over the wire, a real daemon serving the software, PKCS#11 (SoftHSM2) and TPM (swtpm) providers
  side by side (the conformance suite), so each answer is what a client would see.
"""

from __future__ import annotations

import importlib.util
import itertools
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.message import Message

from tessera.service.providers.base import Provider, RequestContext
from tessera.wire.opcodes import Opcode
from tessera.wire.status import Status, StatusError
from tests.integration.pkcs11_support import SKIP_REASON, make_token, softhsm_present
from tests.integration.provider_calls import ProviderCalls
from tests.support import RunningService, start_service, stop_service
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


# Over the wire: one daemon, every provider this machine can run, side by side.


@dataclass(frozen=True)
class Kind:
    """One provider type as the suite knows it: wire id, ListProviders uuid, capabilities."""

    name: str
    provider_id: int
    uuid: str
    # What it does beyond the common ground (ECDSA P-256/P-384, RSA PKCS#1 v1.5 and PSS
    # signatures, RSA PKCS#1 v1.5 encryption, public-key import, random): see CAPABILITIES.
    capabilities: frozenset[str]


CAPABILITIES = {
    "aes_gcm": "AES-GCM",
    "aes_ccm": "AES-CCM",
    "chacha20_poly1305": "ChaCha20-Poly1305",
    "rsa_oaep_sha256": "RSA-OAEP with SHA-256",
    "deterministic_ecdsa": "deterministic ECDSA",
    "import_private": "importing private keys",
    "export_private": "exporting private keys that have the export flag",
    "secp_k1": "the secp256k1 curve",
    "implicit_rejection": "a bad PKCS#1 v1.5 padding decrypts to a random message, no oracle",
}

KINDS = {
    kind.name: kind
    for kind in (
        Kind(
            "software",
            1,
            "6f2d4a3e-93b1-4c57-8a0e-2b7c5d9e1f40",
            frozenset(CAPABILITIES),
        ),
        # SoftHSM2 has no AES-CCM nor ChaCha20, decrypts OAEP with SHA-1 only, signs randomised
        # ECDSA only; its keys stay on the token (allow_export is off by default).
        Kind(
            "pkcs11",
            2,
            "30e39502-eba6-4d60-a4af-c518b7f5e38f",
            frozenset({"aes_gcm", "import_private", "secp_k1"}),
        ),
        # A TPM has no symmetric keys here, wraps only keys it made, and never lets them out.
        Kind(
            "tpm",
            3,
            "1e4954a4-ff21-46d3-ab0c-661eeb667e1d",
            frozenset({"rsa_oaep_sha256"}),
        ),
    )
}


def missing(kind: str) -> str | None:
    """Why `kind` cannot run on this machine, or None."""
    if kind == "pkcs11" and not softhsm_present():
        return SKIP_REASON
    if kind == "tpm":
        if importlib.util.find_spec("tpm2_pytss") is None:
            return "tpm2-pytss is not installed (scripts/bootstrap installs it): TPM cases skipped"
        if shutil.which("swtpm") is None:
            return "swtpm is not installed (scripts/bootstrap installs it as root): TPM skipped"
    return None


@dataclass(frozen=True)
class UnderTest:
    """One provider of the shared daemon, as a test sees it."""

    kind: Kind
    wire: ProviderCalls

    def can(self, capability: str) -> bool:
        """Whether the provider has `capability` (a key of CAPABILITIES)."""
        assert capability in CAPABILITIES, capability
        return capability in self.kind.capabilities


@pytest.fixture(scope="package")
def daemon() -> Iterator[RunningService]:
    """One service with every provider available here: software, PKCS#11 on a fresh SoftHSM2
    token, TPM on a fresh swtpm (ids 1, 2, 3)."""
    state = Path(tempfile.mkdtemp(prefix="tsc-", dir="/tmp"))  # short: socket paths are limited
    tables = ['[[provider]]\nprovider_type = "software"\n']
    env = None
    swtpm = None
    try:
        if missing("pkcs11") is None:
            token = make_token(state / "hsm")
            tables.append(token.provider_table())
            env = token.env
        if missing("tpm") is None:
            from tests.integration.parsec_tpm_support import start_swtpm

            swtpm, tcti = start_swtpm(state / "tpm")
            tables.append(f'[[provider]]\nprovider_type = "tpm"\ntcti = "{tcti}"\n')
        config = state / "config.toml"
        config.write_text("\n".join(tables), encoding="utf-8")
        service = start_service(state / "d", "--auth", "direct", config=config, env=env)
        try:
            yield service
        finally:
            stop_service(service)
    finally:
        if swtpm is not None:
            from tests.integration.parsec_tpm_support import stop_swtpm

            stop_swtpm(swtpm)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture(params=sorted(KINDS))
def provider(request: pytest.FixtureRequest, daemon: RunningService) -> UnderTest:
    """Each provider in turn; a case marked `capability(NAME)` runs only where it applies."""
    kind = KINDS[request.param]
    reason = missing(kind.name)
    if reason is not None:
        pytest.skip(reason)
    for mark in request.node.iter_markers("capability"):
        for capability in mark.args:
            assert capability in CAPABILITIES, capability
            if capability not in kind.capabilities:
                pytest.skip(f"{kind.name} lacks {CAPABILITIES[capability]}")
    return UnderTest(kind, ProviderCalls(daemon, kind.provider_id, timeout=60))


_APPS = itertools.count()


def fresh_app() -> str:
    """An application name no other test uses (keys are per application)."""
    return f"app{next(_APPS)}"
