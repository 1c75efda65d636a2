"""A software provider on a temporary state directory, called in-process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tessera.service.authenticators.base import Application
from tessera.service.config import ServiceConfig
from tessera.service.keystore import KeyStore
from tessera.service.providers.base import RequestContext
from tessera.service.providers.software import SoftwareProvider
from tessera.wire.opcodes import AuthType

APP = RequestContext(Application("app", AuthType.DIRECT))
OTHER_APP = RequestContext(Application("other", AuthType.DIRECT))


def make_provider(
    state_dir: Path,
    *,
    allow_deprecated: bool = False,
    buffer_size_limit: int = 1 << 20,
    parsec_compatible: bool = False,
) -> tuple[SoftwareProvider, KeyStore]:
    """A provider and its key store under `state_dir` (the caller closes the store)."""
    config = ServiceConfig(
        state_dir=state_dir,
        socket_path=state_dir / "unused.sock",
        allow_deprecated=allow_deprecated,
        buffer_size_limit=buffer_size_limit,
        parsec_compatible=parsec_compatible,
    )
    store = KeyStore(config.key_store_path)
    return SoftwareProvider(1, "software", store, config), store


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[SoftwareProvider]:
    """The software provider with default settings."""
    instance, store = make_provider(tmp_path)
    yield instance
    store.close()


@pytest.fixture
def lenient(tmp_path: Path) -> Iterator[SoftwareProvider]:
    """The software provider with deprecated primitives allowed."""
    instance, store = make_provider(tmp_path / "lenient", allow_deprecated=True)
    yield instance
    store.close()


@pytest.fixture
def parsec_like(tmp_path: Path) -> Iterator[SoftwareProvider]:
    """The software provider as Parsec's suite runs it: deprecated allowed, Parsec's answers."""
    instance, store = make_provider(
        tmp_path / "parsec", allow_deprecated=True, parsec_compatible=True
    )
    yield instance
    store.close()
