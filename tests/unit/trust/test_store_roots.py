"""The root-once rule and intermediate acceptance (DESIGN.md §3)."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tessera.trust.authority import Intermediate, RootAuthority
from tessera.trust.errors import TrustError
from tessera.trust.peer import incarnation_of
from tessera.trust.store import TrustPolicy, TrustStore
from tessera.wire.status import Status
from tests.unit.trust.helpers import (
    START,
    FakeClock,
    build_cert,
    child_process,
    dead_incarnation,
    key_usage,
    p256,
    peer_for,
    self_peer,
)


def _status(exc: pytest.ExceptionInfo[TrustError]) -> Status:
    return exc.value.status


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


# -- roots ----------------------------------------------------------------------------------------


def test_first_root_is_accepted(store: TrustStore, authority: RootAuthority) -> None:
    assert not store.has_root and store.root_holder is None and store.generation == 0
    peer = self_peer()
    store.accept_root(authority.der, peer)
    assert store.has_root
    assert store.root_holder == peer.incarnation
    assert store.root_certificate == authority.certificate
    assert store.current_kid is None
    assert store.generation == 1


def test_the_same_live_process_never_reshares(
    store: TrustStore, authority: RootAuthority, clock: FakeClock
) -> None:
    peer = self_peer()
    store.accept_root(authority.der, peer)
    for der in (authority.der, RootAuthority.generate("other", clock=clock).der):
        with pytest.raises(TrustError) as exc:
            store.accept_root(der, peer)
        assert _status(exc) is Status.TRUST_ROOT_ALREADY_SHARED
    assert store.root_certificate == authority.certificate
    assert store.generation == 1


def test_another_peer_is_refused_while_the_holder_lives(
    store: TrustStore, authority: RootAuthority, clock: FakeClock
) -> None:
    with child_process() as child:
        holder = incarnation_of(child.pid)
        assert holder is not None
        store.accept_root(authority.der, peer_for(holder))
        with pytest.raises(TrustError) as exc:
            store.accept_root(RootAuthority.generate("new", clock=clock).der, self_peer())
        assert _status(exc) is Status.TRUST_ROOT_HOLDER_ALIVE
        assert store.root_holder == holder


def test_a_new_process_replaces_the_root_once_the_holder_is_gone(
    store: TrustStore, authority: RootAuthority, clock: FakeClock
) -> None:
    gone = dead_incarnation()
    old_peer = peer_for(gone)
    store.accept_root(authority.der, old_peer)
    store.accept_intermediate(authority.issue_intermediate(timedelta(hours=1)).der, old_peer)
    assert store.current_kid is not None
    generation = store.generation

    successor = RootAuthority.generate("restarted", clock=clock)
    peer = self_peer()
    store.accept_root(successor.der, peer)
    assert store.root_certificate == successor.certificate
    assert store.root_holder == peer.incarnation
    assert store.current_kid is None  # the old intermediate is dropped with its root
    assert store.generation > generation


def test_the_holders_pid_reused_by_another_process_does_not_block(
    store: TrustStore, authority: RootAuthority, clock: FakeClock
) -> None:
    own = incarnation_of(os.getpid())
    assert own is not None
    earlier_run = replace(own, start_time=own.start_time - 1)  # our pid, an older incarnation
    store.accept_root(authority.der, peer_for(earlier_run))
    store.accept_root(RootAuthority.generate("new", clock=clock).der, self_peer())
    assert store.root_holder == own


def test_policy_uid_mismatch_is_refused(
    clock: FakeClock, authority: RootAuthority, caplog: pytest.LogCaptureFixture
) -> None:
    store = TrustStore(TrustPolicy(uid=os.getuid() + 1), clock=clock)
    with (
        caplog.at_level(logging.WARNING, logger="tessera.trust"),
        pytest.raises(TrustError) as exc,
    ):
        store.accept_root(authority.der, self_peer())
    assert _status(exc) is Status.TRUST_PEER_NOT_ALLOWED
    assert not store.has_root
    records = [r for r in caplog.records if r.name.startswith("tessera.trust")]
    assert len(records) == 1
    assert "TRUST_PEER_NOT_ALLOWED" in records[0].getMessage()
    assert str(os.getpid()) in records[0].getMessage()


def test_policy_is_checked_when_replacing_a_root(
    clock: FakeClock, authority: RootAuthority
) -> None:
    store = TrustStore(TrustPolicy(uid=os.getuid()), clock=clock)
    store.accept_root(authority.der, peer_for(dead_incarnation()))
    stranger = replace(self_peer(), uid=os.getuid() + 1)
    with pytest.raises(TrustError) as exc:
        store.accept_root(RootAuthority.generate("new", clock=clock).der, stranger)
    assert _status(exc) is Status.TRUST_PEER_NOT_ALLOWED
    assert store.root_certificate == authority.certificate


def test_policy_exe(clock: FakeClock, authority: RootAuthority) -> None:
    peer = self_peer()
    assert peer.exe is not None
    refused = TrustStore(TrustPolicy(exe="/usr/bin/not-this"), clock=clock)
    with pytest.raises(TrustError) as exc:
        refused.accept_root(authority.der, peer)
    assert _status(exc) is Status.TRUST_PEER_NOT_ALLOWED
    unknown_exe = TrustStore(TrustPolicy(exe=peer.exe), clock=clock)
    with pytest.raises(TrustError) as exc:
        unknown_exe.accept_root(authority.der, replace(peer, exe=None))
    assert _status(exc) is Status.TRUST_PEER_NOT_ALLOWED
    # A configured path is also compared resolved (the venv's python is a symlink).
    via_symlink = TrustStore(TrustPolicy(uid=os.getuid(), exe=sys.executable), clock=clock)
    via_symlink.accept_root(authority.der, peer)
    assert via_symlink.has_root


def test_a_peer_without_incarnation_is_refused(store: TrustStore, authority: RootAuthority) -> None:
    with pytest.raises(TrustError) as exc:
        store.accept_root(authority.der, replace(self_peer(), incarnation=None))
    assert _status(exc) is Status.TRUST_PEER_NOT_ALLOWED


def _self_signed(**kwargs: object) -> bytes:
    key = kwargs.pop("key", None) or p256()
    options: dict[str, object] = {
        "subject": "root",
        "public_key": key.public_key(),  # type: ignore[attr-defined]
        "signing_key": key,
        "path_length": 1,
        "usage": key_usage(cert_sign=True, crl_sign=True),
    }
    options.update(kwargs)
    return _der(build_cert(**options))  # type: ignore[arg-type]


BAD_ROOTS: dict[str, Callable[[], bytes]] = {
    "garbage": lambda: b"\x30\x03\x02\x01\x00",
    "empty": lambda: b"",
    "path length 0": lambda: _self_signed(path_length=0),
    "not a CA": lambda: _self_signed(ca=False),
    "no basic constraints": lambda: _self_signed(ca=None),
    "no key usage": lambda: _self_signed(usage=None),
    "no keyCertSign": lambda: _self_signed(usage=key_usage(digital_signature=True)),
    "non-critical constraints": lambda: _self_signed(critical=False),
    "expired": lambda: _self_signed(not_after=START - timedelta(seconds=1)),
    "not yet valid": lambda: _self_signed(not_before=START + timedelta(seconds=1)),
    "P-384 key": lambda: _self_signed(key=ec.generate_private_key(ec.SECP384R1())),
    "ECDSA-SHA384": lambda: _self_signed(hash_algorithm=hashes.SHA384()),
    "signed by another key": lambda: _self_signed(signing_key=p256()),
    "unknown critical extension": lambda: _self_signed(
        extra=x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    ),
    "issuer differs": lambda: _self_signed(
        issuer=x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "someone else")])
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_ROOTS))
def test_bad_roots_are_refused(store: TrustStore, case: str) -> None:
    with pytest.raises(TrustError) as exc:
        store.accept_root(BAD_ROOTS[case](), self_peer())
    assert _status(exc) is Status.TRUST_BAD_CERTIFICATE
    assert not store.has_root


def test_the_root_helper_mints_acceptable_roots(store: TrustStore) -> None:
    # Guards the table above: with no knob turned, the hand-made root passes.
    store.accept_root(_self_signed(), self_peer())


def test_rsa_root_is_refused(store: TrustStore) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    der = _self_signed(key=key)
    with pytest.raises(TrustError) as exc:
        store.accept_root(der, self_peer())
    assert _status(exc) is Status.TRUST_BAD_CERTIFICATE


def test_tampered_root_signature_is_refused(store: TrustStore, authority: RootAuthority) -> None:
    der = bytearray(authority.der)
    der[-5] ^= 0x01
    with pytest.raises(TrustError) as exc:
        store.accept_root(bytes(der), self_peer())
    assert _status(exc) is Status.TRUST_BAD_CERTIFICATE


def test_a_root_without_path_length_limit_is_accepted(store: TrustStore) -> None:
    store.accept_root(_self_signed(path_length=None), self_peer())
    assert store.has_root


def test_root_validity_follows_the_clock(store: TrustStore, clock: FakeClock) -> None:
    clock.advance(-timedelta(minutes=2))
    early = RootAuthority.generate("early", clock=FakeClock(START + timedelta(minutes=5)))
    with pytest.raises(TrustError) as exc:
        store.accept_root(early.der, self_peer())
    assert _status(exc) is Status.TRUST_BAD_CERTIFICATE


# -- intermediates --------------------------------------------------------------------------------


def test_intermediate_needs_a_root(store: TrustStore, intermediate: Intermediate) -> None:
    with pytest.raises(TrustError) as exc:
        store.accept_intermediate(intermediate.der, self_peer())
    assert _status(exc) is Status.TRUST_NO_ROOT


def test_only_the_root_holder_shares_intermediates(
    store: TrustStore, authority: RootAuthority, intermediate: Intermediate
) -> None:
    with child_process() as child:
        holder = incarnation_of(child.pid)
        assert holder is not None
        store.accept_root(authority.der, peer_for(holder))
        with pytest.raises(TrustError) as exc:
            store.accept_intermediate(intermediate.der, self_peer())
        assert _status(exc) is Status.TRUST_PEER_NOT_ALLOWED
        store.accept_intermediate(intermediate.der, peer_for(holder))
        assert store.current_kid == intermediate.kid


def test_intermediate_replaces_the_previous_one(
    trusted: TrustStore, authority: RootAuthority, intermediate: Intermediate
) -> None:
    assert trusted.current_kid == intermediate.kid
    assert trusted.intermediate_certificate == intermediate.certificate
    generation = trusted.generation
    newer = authority.issue_intermediate(timedelta(hours=1))
    trusted.accept_intermediate(newer.der, self_peer())
    assert trusted.current_kid == newer.kid
    assert trusted.generation == generation + 1
    # Re-sharing the current one is a no-op; an older one is still accepted only as a new share.
    trusted.accept_intermediate(newer.der, self_peer())
    assert trusted.generation == generation + 1


def test_intermediate_of_another_root_is_refused(trusted: TrustStore, clock: FakeClock) -> None:
    stranger = RootAuthority.generate("Tessera test root", clock=clock)  # same name, other key
    with pytest.raises(TrustError) as exc:
        trusted.accept_intermediate(
            stranger.issue_intermediate(timedelta(hours=1)).der, self_peer()
        )
    assert _status(exc) is Status.TRUST_BAD_CERTIFICATE


def test_expired_and_future_intermediates_are_refused(
    trusted: TrustStore, authority: RootAuthority, clock: FakeClock
) -> None:
    short = authority.issue_intermediate(timedelta(minutes=10))
    clock.advance(timedelta(minutes=11))
    with pytest.raises(TrustError) as exc:
        trusted.accept_intermediate(short.der, self_peer())
    assert _status(exc) is Status.TRUST_BAD_CERTIFICATE

    future = authority.issue_intermediate(timedelta(hours=1))  # valid from now - 60 s
    clock.advance(-timedelta(minutes=2))
    with pytest.raises(TrustError) as exc:
        trusted.accept_intermediate(future.der, self_peer())
    assert _status(exc) is Status.TRUST_BAD_CERTIFICATE


def _issued(authority: RootAuthority, **kwargs: object) -> bytes:
    key = kwargs.pop("key", None) or p256()
    options: dict[str, object] = {
        "subject": "intermediate",
        "issuer": authority.certificate.subject,
        "public_key": key.public_key(),  # type: ignore[attr-defined]
        "signing_key": authority._key,  # the root's own key, to mint odd profiles
        "path_length": 0,
        "usage": key_usage(digital_signature=True, cert_sign=True),
    }
    options.update(kwargs)
    return _der(build_cert(**options))  # type: ignore[arg-type]


BAD_INTERMEDIATES: dict[str, Callable[[RootAuthority], bytes]] = {
    "end entity": lambda a: _issued(a, ca=False, usage=key_usage(digital_signature=True)),
    "path length 1": lambda a: _issued(a, path_length=1),
    "unlimited path length": lambda a: _issued(a, path_length=None),
    "no digitalSignature": lambda a: _issued(a, usage=key_usage(cert_sign=True)),
    "no key usage": lambda a: _issued(a, usage=None),
    "other issuer name": lambda a: _issued(
        a, issuer=x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "other")])
    ),
    "P-384 key": lambda a: _issued(a, key=ec.generate_private_key(ec.SECP384R1())),
    "self-signed": lambda a: _issued(a, signing_key=p256()),
    "the root itself": lambda a: a.der,
    "unknown critical extension": lambda a: _issued(
        a,
        extra=x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.2"), b"\x05\x00"),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INTERMEDIATES))
def test_wrong_intermediate_profiles_are_refused(
    trusted: TrustStore, authority: RootAuthority, intermediate: Intermediate, case: str
) -> None:
    with pytest.raises(TrustError) as exc:
        trusted.accept_intermediate(BAD_INTERMEDIATES[case](authority), self_peer())
    assert _status(exc) is Status.TRUST_BAD_CERTIFICATE
    assert trusted.current_kid == intermediate.kid  # the current one stays


def test_the_profile_helper_mints_acceptable_intermediates(
    trusted: TrustStore, authority: RootAuthority
) -> None:
    # Guards the table above: with no knob turned, the hand-made certificate passes.
    trusted.accept_intermediate(_issued(authority), self_peer())


def test_repr_names_no_certificates(trusted: TrustStore, intermediate: Intermediate) -> None:
    text = repr(trusted)
    assert intermediate.kid in text and "BEGIN" not in text


def test_concurrent_root_shares_accept_exactly_one(store: TrustStore, clock: FakeClock) -> None:
    from concurrent.futures import ThreadPoolExecutor

    roots = [RootAuthority.generate(f"r{i}", clock=clock) for i in range(8)]
    peer = self_peer()

    def share(root: RootAuthority) -> Status:
        try:
            store.accept_root(root.der, peer)
        except TrustError as error:
            return error.status
        return Status.SUCCESS

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(share, roots))
    assert results.count(Status.SUCCESS) == 1
    assert results.count(Status.TRUST_ROOT_ALREADY_SHARED) == 7
    assert store.generation == 1
