"""Automatic choices: the authenticator and the default provider."""

from __future__ import annotations

import os

import pytest

from tessera.client import DirectAuth, NoAuth, ProviderInfo, UnixPeerAuth, UsageError
from tessera.client._choice import choose_authentication
from tessera.client._discovery import Capabilities
from tessera.client._protocol import Credentials, Flow
from tessera.wire.opcodes import AuthType, Opcode


class TokenAuth:
    """Stands in for identity-provider tokens (a later issue)."""

    def credentials(self) -> Flow[Credentials | None]:
        return Credentials(AuthType.JWT_SVID, b"token")
        yield

    def invalidate(self) -> bool:
        return True


DIRECT, JWT, PEER, SVID = AuthType.DIRECT, AuthType.JWT, AuthType.UNIX_PEER_CREDENTIALS, 4


def test_unix_peer_credentials_before_direct() -> None:
    chosen = choose_authentication([DIRECT, PEER], app_name="my-app")
    assert chosen == UnixPeerAuth(os.getuid())


def test_direct_with_the_callers_name() -> None:
    assert choose_authentication([DIRECT], app_name="my-app") == DirectAuth("my-app")


def test_direct_without_a_name_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="app_name"):
        choose_authentication([DIRECT], app_name=None)


def test_tokens_first_when_the_service_takes_them() -> None:
    token = TokenAuth()
    assert choose_authentication([DIRECT, PEER, SVID], app_name=None, token_auth=token) is token
    assert choose_authentication([JWT], app_name=None, token_auth=token) is token
    # a token source the service does not accept is passed over
    assert choose_authentication([PEER], app_name=None, token_auth=token) == UnixPeerAuth()


def test_nothing_in_common_means_no_authentication() -> None:
    assert choose_authentication([], app_name="x") == NoAuth()


def test_credentials_payloads() -> None:
    assert _credentials(DirectAuth("app")) == Credentials(AuthType.DIRECT, b"app")
    uid = (1000).to_bytes(4, "little")
    assert _credentials(UnixPeerAuth(1000)) == Credentials(PEER, uid)
    assert _credentials(NoAuth()) is None
    for auth in (DirectAuth("app"), UnixPeerAuth(), NoAuth()):
        assert auth.invalidate() is False  # none of them can do better on a retry


def test_direct_names_are_checked() -> None:
    for bad in ("", "a\x00b"):
        with pytest.raises(UsageError):
            DirectAuth(bad)


def _provider(provider_id: int) -> ProviderInfo:
    return ProviderInfo(provider_id, "uuid", "desc", "vendor", (0, 1, 0))


def _preferred(*ids: int) -> int:
    """The provider `Capabilities` prefers when ListProviders lists `ids`."""
    flow = Capabilities().provider(None)
    assert next(flow).opcode is Opcode.LIST_PROVIDERS
    try:
        flow.send([_provider(i) for i in ids])
    except StopIteration as done:
        chosen: int = done.value
        return chosen
    raise AssertionError("a second request")


def test_default_provider_is_the_first_crypto_provider() -> None:
    assert _preferred(2, 1, 0) == 2
    assert _preferred(0, 3) == 3
    with pytest.raises(UsageError, match="no crypto provider"):
        _preferred(0)


def _credentials(auth: DirectAuth | UnixPeerAuth | NoAuth) -> Credentials | None:
    steps = auth.credentials()
    with pytest.raises(StopIteration) as done:
        next(steps)
    value: Credentials | None = done.value.value
    return value
