"""The blocking and the asyncio APIs match: the same public names, the same parameters.

Only these differ, by design: `close` is `aclose`, the context manager is `async with`, and
`OperationClient.auth` is a property alias of `get_auth()` that the asyncio client cannot have
(a property cannot await), and `Key.as_private_key()` gives a `cryptography` private key, whose
interface is blocking.
"""

from __future__ import annotations

import inspect

import pytest

import tessera

PAIRS = [
    (tessera.Client, tessera.AsyncClient),
    (tessera.Key, tessera.AsyncKey),
    (tessera.OperationClient, tessera.AsyncOperationClient),
]
RENAMED = {"close": "aclose"}
SYNC_ONLY: dict[type, set[str]] = {
    tessera.OperationClient: {"auth"},
    tessera.Key: {"as_private_key"},
}


def public_names(cls: type) -> set[str]:
    return {name for name in dir(cls) if not name.startswith("_")}


@pytest.mark.parametrize(("sync", "asynchronous"), PAIRS, ids=lambda c: c.__name__)
def test_same_public_names(sync: type, asynchronous: type) -> None:
    expected = {RENAMED.get(name, name) for name in public_names(sync) - SYNC_ONLY.get(sync, set())}
    assert public_names(asynchronous) == expected


@pytest.mark.parametrize(("sync", "asynchronous"), PAIRS, ids=lambda c: c.__name__)
def test_same_parameters_and_kinds(sync: type, asynchronous: type) -> None:
    assert inspect.signature(sync) == inspect.signature(asynchronous)  # the constructors
    for name in public_names(sync) - SYNC_ONLY.get(sync, set()):
        blocking = getattr(sync, name)
        awaited = getattr(asynchronous, RENAMED.get(name, name))
        if isinstance(inspect.getattr_static(sync, name), property):
            assert isinstance(inspect.getattr_static(asynchronous, name), property), name
            continue
        assert inspect.signature(blocking) == inspect.signature(awaited), name
        assert not inspect.iscoroutinefunction(blocking), name
        assert inspect.iscoroutinefunction(awaited), name


@pytest.mark.parametrize(("sync", "asynchronous"), PAIRS[:1] + PAIRS[2:], ids=lambda c: c.__name__)
def test_context_managers(sync: type, asynchronous: type) -> None:
    for blocking, awaited in [("__enter__", "__aenter__"), ("__exit__", "__aexit__")]:
        assert not inspect.iscoroutinefunction(getattr(sync, blocking))
        assert inspect.iscoroutinefunction(getattr(asynchronous, awaited))


def test_the_sync_only_auth_is_a_documented_alias() -> None:
    alias = inspect.getattr_static(tessera.OperationClient, "auth")
    assert isinstance(alias, property)
    assert "get_auth()" in (alias.__doc__ or "")
    auth = tessera.DirectAuth("app")
    ops = tessera.OperationClient("unix:/nonexistent.sock", auth=auth)
    assert ops.auth is auth and ops.get_auth() is auth  # given: nothing is asked


def test_bound_methods_keep_names_and_docstrings() -> None:
    ops = tessera.AsyncOperationClient("unix:/nonexistent.sock")
    method = ops.psa_sign_hash
    assert method.__name__ == "psa_sign_hash"
    assert method.__doc__ == tessera.OperationClient.psa_sign_hash.__doc__ == "PsaSignHash."
    assert list(inspect.signature(method).parameters) == ["name", "alg", "digest", "provider"]
