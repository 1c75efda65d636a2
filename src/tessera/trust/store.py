"""The trusting side: the root-once rule, the current intermediate, and signature verification.

A `TrustStore` holds at most one root and one intermediate, both received by ShareTrustBundle
(DESIGN.md §3). The rules:

- **Root once, per incarnation.** With no root yet, a root is accepted from a peer that passes
  the `TrustPolicy`. Once a root is held, the process that shared it may never share another,
  even the same one (`TRUST_ROOT_ALREADY_SHARED`: a retrying sender reads this as "already
  done"); another process may replace it only if it passes the policy and the holder's
  incarnation is gone (`TRUST_ROOT_HOLDER_ALIVE` otherwise). Replacing the root drops the
  intermediate. A peer whose incarnation /proc cannot tell is refused (`TRUST_PEER_NOT_ALLOWED`):
  its death could never be observed.
- **The newest intermediate only.** Only the root holder's incarnation may share intermediates;
  each must be signed by the current root and replaces the previous one at once, so signatures
  by a superseded intermediate fail with `TRUST_UNKNOWN_SIGNER`. Re-sharing the current
  intermediate is a no-op.
- **Revocations** (trust/revocation.py): the root holder may send a revocation list signed by
  the current intermediate (RevokeTokens), or attach one to the intermediate it shares, which
  installs both in one step. The newest list (by serial) is kept; a new intermediate or root
  replaces it (tokens of the previous signer are refused anyway). A token whose `jti` the list
  covers is refused (`TRUST_STALE_PAYLOAD`).
- `generation` grows with every change (root accepted or replaced, new intermediate, new
  revocation list), so callers can key caches on it.

**Shared by the processes of one run.** Given a `SharedTrustState` (trust/shared.py), the
store keeps its state in files every process of the service run reads: each change is decided
under an exclusive file lock on the state as it is at that moment (so two processes receiving
roots at once are serialised, and the second sees the first's root), written, and announced by
a shared generation counter; every read and verification first compares that counter with the
generation its copy reflects (a read of shared memory) and reloads the state when it moved. So
from the moment one process answers ShareTrustBundle or RevokeTokens, every process verifies
with the new state, and `generation` is the run's counter, the same in every process. Without
one, the store lives in this process's memory alone (the identity provider's).

Verification pins ES256, refuses any header but `alg`, `kid`, `typ`, and tells signed payloads
(`typ` "JOSE") from tokens (`typ` "JWT"). Statuses: no root or no intermediate →
`TRUST_NO_ROOT`; a `kid` other than the current intermediate's, or an expired intermediate →
`TRUST_UNKNOWN_SIGNER`; malformed, wrongly signed, or failing a claim rule →
`TRUST_BAD_SIGNATURE`; too old (payload `iat` beyond `max_age`), expired or not yet valid
(token `exp`/`nbf`) → `TRUST_STALE_PAYLOAD`.

Every refusal to establish trust is logged as one line (pid, uid, status; never certificates).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tessera.trust._certcheck import check_intermediate, check_root
from tessera.trust._clock import utc_now
from tessera.trust._jose import read_header, verify_signature
from tessera.trust.authority import PAYLOAD_TYP, TOKEN_TYP, thumbprint
from tessera.trust.claims import (
    DEFAULT_LEEWAY,
    TokenClaims,
    check_audience_argument,
    check_leeway,
    check_svid_claims,
)
from tessera.trust.errors import TrustError
from tessera.trust.peer import Incarnation, Peer, is_alive
from tessera.trust.revocation import (
    REVOCATION_MAX_AGE,
    RevocationList,
    parse_revocation_claims,
)
from tessera.trust.shared import SharedTrustState, TrustRecord
from tessera.wire.status import Status, StatusError

__all__ = [
    "MAX_PAYLOAD_LENGTH",
    "MAX_TOKEN_LENGTH",
    "TokenClaims",
    "TrustPolicy",
    "TrustStore",
    "VerifiedToken",
]

_log = logging.getLogger(__name__)

#: Longest compact JWS accepted as a signed payload (client definitions, proofs).
MAX_PAYLOAD_LENGTH = 1024 * 1024
#: Longest compact JWS accepted as a token (the wire's auth field is at most 64 KiB anyway).
MAX_TOKEN_LENGTH = 16 * 1024
#: How far in the future a payload's `iat` may lie (clock skew between the two sides).
_FUTURE_SKEW = timedelta(seconds=60)
_ALGORITHMS = frozenset({"ES256"})


@dataclass(frozen=True)
class TrustPolicy:
    """Which peers may establish trust: every field that is set must match (None = any).

    `exe` is compared with the peer's `/proc/<pid>/exe`, which the kernel gives fully resolved;
    a configured path is therefore also compared in its resolved form (`/usr/bin/python3` →
    `/usr/bin/python3.11`).
    """

    uid: int | None = None
    exe: str | None = None

    def allows(self, peer: Peer) -> bool:
        """True if `peer` matches every set field."""
        if self.uid is not None and peer.uid != self.uid:
            return False
        if self.exe is not None:
            return peer.exe is not None and peer.exe in {self.exe, os.path.realpath(self.exe)}
        return True


@dataclass(frozen=True)
class _Root:
    certificate: x509.Certificate = field(repr=False)
    der: bytes = field(repr=False)
    kid: str
    holder: Incarnation


@dataclass(frozen=True)
class _Signer:
    certificate: x509.Certificate = field(repr=False)
    der: bytes = field(repr=False)
    kid: str
    key: ec.EllipticCurvePublicKey = field(repr=False)
    not_after: datetime


@dataclass(frozen=True)
class VerifiedToken:
    """A verified token and how long a cache may keep the verdict.

    `generation` is the store's generation the token was verified under: any change of trust
    (root, intermediate, revocation list) moves it. `valid_until` (epoch seconds) is when the
    token would stop passing on time alone: its `exp` plus the leeway, or the intermediate's
    expiry if sooner.
    """

    claims: TokenClaims
    generation: int
    valid_until: float


def _load_root(der: bytes, holder: Incarnation) -> _Root:
    return _Root(
        certificate=x509.load_der_x509_certificate(der), der=der, kid=thumbprint(der), holder=holder
    )


def _load_signer(der: bytes) -> _Signer:
    certificate = x509.load_der_x509_certificate(der)
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the shared intermediate has no EC key")
    return _Signer(
        certificate=certificate,
        der=der,
        kid=thumbprint(der),
        key=key,
        not_after=certificate.not_valid_after_utc,
    )


class TrustStore:
    """The root and intermediate a trusting component holds; thread-safe.

    With `shared`, the state is the one every process of the run holds (module docstring)."""

    def __init__(
        self,
        policy: TrustPolicy,
        *,
        clock: Callable[[], datetime] = utc_now,
        shared: SharedTrustState | None = None,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._root: _Root | None = None
        self._signer: _Signer | None = None
        self._revocations = RevocationList()
        self._generation = 0
        self._shared = shared
        self._synced = 0  # the shared generation the fields above reflect (-1: reload)
        self._load_failed = False

    def __repr__(self) -> str:
        with self._lock:
            self._sync()
            root = self._root.kid if self._root else None
            kid = self._signer.kid if self._signer else None
            return f"TrustStore(root={root!r}, intermediate={kid!r}, generation={self._generation})"

    # -- state ----------------------------------------------------------------------------------

    @property
    def policy(self) -> TrustPolicy:
        """The peer policy roots are checked against."""
        return self._policy

    @property
    def has_root(self) -> bool:
        """True once a root has been accepted."""
        with self._lock:
            self._sync()
            return self._root is not None

    @property
    def current_kid(self) -> str | None:
        """The current intermediate's thumbprint, or None if there is none."""
        with self._lock:
            self._sync()
            return self._signer.kid if self._signer else None

    @property
    def generation(self) -> int:
        """A counter bumped on every change of root or intermediate."""
        with self._lock:
            self._sync()
            return self._generation

    @property
    def revocation_serial(self) -> int:
        """The serial of the revocation list held (0: none)."""
        with self._lock:
            self._sync()
            return self._revocations.serial

    @property
    def root_holder(self) -> Incarnation | None:
        """The incarnation that shared the current root."""
        with self._lock:
            self._sync()
            return self._root.holder if self._root else None

    @property
    def root_certificate(self) -> x509.Certificate | None:
        """The current root certificate."""
        with self._lock:
            self._sync()
            return self._root.certificate if self._root else None

    @property
    def intermediate_certificate(self) -> x509.Certificate | None:
        """The current intermediate certificate."""
        with self._lock:
            self._sync()
            return self._signer.certificate if self._signer else None

    @property
    def shared(self) -> SharedTrustState | None:
        """Where the run's processes share this state (None: this process alone)."""
        return self._shared

    # -- sharing between processes --------------------------------------------------------------

    def _sync(self) -> None:
        """Bring the fields up to the run's shared state if it moved (lock held)."""
        shared = self._shared
        if shared is None:
            return
        try:
            if shared.generation() == self._synced:
                return
            generation, record = shared.read()
            self._install(record)
        except (OSError, ValueError) as error:
            # Fail closed: hold nothing, and try again on the next call. The generation becomes
            # one no cache keyed on it holds (shared generations are never negative), so a
            # token verified before is not taken from a cache meanwhile either.
            self._root, self._signer, self._revocations = None, None, RevocationList()
            self._synced = -1
            self._generation = -1
            if not self._load_failed:
                _log.error("cannot load the shared trust state: %s", error)
                self._load_failed = True
            return
        if self._load_failed:
            _log.info("loaded the shared trust state again")
            self._load_failed = False
        self._generation = self._synced = generation

    def _install(self, record: TrustRecord | None) -> None:
        """Hold `record` (lock held); reuse parsed certificates that did not change."""
        if record is None:
            self._root, self._signer, self._revocations = None, None, RevocationList()
            return
        root = self._root
        if root is None or root.holder != record.holder or root.der != record.root:
            root = _load_root(record.root, record.holder)
        signer = self._signer
        if record.intermediate is None:
            signer = None
        elif signer is None or signer.der != record.intermediate:
            signer = _load_signer(record.intermediate)
        revocations = self._revocations
        if (revocations.serial, dict(revocations.revoked)) != (
            record.revocation_serial,
            dict(record.revoked),
        ):
            revocations = RevocationList(record.revocation_serial, dict(record.revoked))
        self._root, self._signer, self._revocations = root, signer, revocations

    def _record(self) -> TrustRecord | None:
        """The fields as a shared record (lock held)."""
        root = self._root
        if root is None:
            return None
        signer = self._signer
        return TrustRecord(
            root=root.der,
            holder=root.holder,
            intermediate=None if signer is None else signer.der,
            revocation_serial=self._revocations.serial,
            revoked=dict(self._revocations.revoked),
        )

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Hold the lock for a change; with a shared state, decide on the run's current state
        under its file lock, and publish what changed before the lock is released."""
        with self._lock:
            shared = self._shared
            if shared is None:
                yield
                return
            body_failed = False
            try:
                with shared.transaction() as transaction:
                    self._install(transaction.record)
                    self._generation = self._synced = transaction.generation
                    try:
                        yield
                    except BaseException:
                        body_failed = True
                        raise
                    if self._generation != transaction.generation:
                        committed = transaction.commit(self._record())
                        self._generation = self._synced = committed
            except BaseException as error:
                if self._generation != self._synced or not body_failed:
                    self._synced = -1  # the files are the truth: reload them on the next call
                if body_failed or not isinstance(error, OSError | ValueError):
                    raise
                _log.error("cannot change the shared trust state: %s", error)
                raise StatusError(
                    Status.PSA_ERROR_STORAGE_FAILURE, "the trust state could not be stored"
                ) from None

    # -- establishing trust ---------------------------------------------------------------------

    def _refuse(self, status: Status, message: str, what: str, peer: Peer) -> TrustError:
        _log.warning(
            "refused %s from pid %d uid %d: %s (%s)", what, peer.pid, peer.uid, message, status.name
        )
        return TrustError(status, message)

    def accept_root(self, der: bytes, peer: Peer) -> None:
        """Accept a root certificate shared by `peer`, under the root-once rule."""
        with self._changing():
            incarnation = peer.incarnation
            if incarnation is None:
                raise self._refuse(
                    Status.TRUST_PEER_NOT_ALLOWED,
                    "the peer's process incarnation is unknown",
                    "root",
                    peer,
                )
            current = self._root
            if current is not None and current.holder == incarnation:
                raise self._refuse(
                    Status.TRUST_ROOT_ALREADY_SHARED,
                    "this process already shared a root",
                    "root",
                    peer,
                )
            if not self._policy.allows(peer):
                raise self._refuse(
                    Status.TRUST_PEER_NOT_ALLOWED,
                    "the peer does not match the trust policy",
                    "root",
                    peer,
                )
            if current is not None and is_alive(current.holder):
                raise self._refuse(
                    Status.TRUST_ROOT_HOLDER_ALIVE,
                    f"the root holder (pid {current.holder.pid}) is still alive",
                    "root",
                    peer,
                )
            try:
                certificate = check_root(der, self._clock())
            except TrustError as exc:
                raise self._refuse(exc.status, str(exc), "root", peer) from None
            kid = thumbprint(bytes(der))
            self._root = _Root(certificate=certificate, der=bytes(der), kid=kid, holder=incarnation)
            self._signer = None
            self._revocations = RevocationList()
            self._generation += 1
            _log.info(
                "accepted root %s from pid %d uid %d%s",
                kid,
                peer.pid,
                peer.uid,
                " (replacing the previous one)" if current is not None else "",
            )

    def _check_holder(self, peer: Peer, what: str) -> _Root:
        """The root, if `peer` is the process that shared it (lock held)."""
        root = self._root
        if root is None:
            raise self._refuse(Status.TRUST_NO_ROOT, "no root is held", what, peer)
        if peer.incarnation is None or peer.incarnation != root.holder:
            raise self._refuse(
                Status.TRUST_PEER_NOT_ALLOWED,
                f"only the process that shared the root may share {what}s",
                what,
                peer,
            )
        return root

    def accept_intermediate(self, der: bytes, peer: Peer, revocations: str = "") -> None:
        """Accept an intermediate from the root holder; it replaces the previous one at once.

        `revocations`, if given, is a revocation list signed by this intermediate: both are
        installed together or neither is."""
        with self._changing():
            root = self._check_holder(peer, "intermediate")
            current = self._signer
            if current is not None and hmac.compare_digest(current.der, bytes(der)):
                if revocations:
                    self._install_revocations(revocations, current, peer, fresh=False)
                return
            try:
                certificate = check_intermediate(der, root.certificate, self._clock())
            except TrustError as exc:
                raise self._refuse(exc.status, str(exc), "intermediate", peer) from None
            key = certificate.public_key()
            assert isinstance(key, ec.EllipticCurvePublicKey)  # checked by check_intermediate
            kid = thumbprint(bytes(der))
            signer = _Signer(
                certificate=certificate,
                der=bytes(der),
                kid=kid,
                key=key,
                not_after=certificate.not_valid_after_utc,
            )
            if revocations:
                self._install_revocations(revocations, signer, peer, fresh=True)
            else:
                self._revocations = RevocationList()
            self._signer = signer
            self._generation += 1
            _log.info("accepted intermediate %s from pid %d", kid, peer.pid)

    def accept_revocations(self, token: str, peer: Peer) -> None:
        """Install a revocation list from the root holder, signed by the current intermediate;
        one older (by serial) than the list held is ignored."""
        with self._changing():
            self._check_holder(peer, "revocation list")
            signer = self._signer
            if signer is None:
                raise self._refuse(
                    Status.TRUST_NO_ROOT, "no intermediate is held", "revocation list", peer
                )
            self._install_revocations(token, signer, peer, fresh=False)

    def _install_revocations(self, token: str, signer: _Signer, peer: Peer, *, fresh: bool) -> None:
        """Verify a list against `signer` and keep it if it is the newest (lock held). A
        `fresh` signer (being installed) starts from no list at all."""
        now = self._clock()
        try:
            header = read_header(
                token, algorithms=_ALGORITHMS, types={PAYLOAD_TYP}, max_length=MAX_PAYLOAD_LENGTH
            )
            if not hmac.compare_digest(header.kid.encode(), signer.kid.encode()):
                raise TrustError(
                    Status.TRUST_UNKNOWN_SIGNER, "the list is not signed by the intermediate"
                )
            payload = verify_signature(token, header, signer.key)
            _check_age(payload, REVOCATION_MAX_AGE, now)
            received = parse_revocation_claims(payload)
        except TrustError as exc:
            raise self._refuse(exc.status, str(exc), "revocation list", peer) from None
        if not fresh and received.serial < self._revocations.serial:
            return  # crossed on the wire with a newer one
        pruned = received.pruned(now.timestamp())
        held = self._revocations
        if not fresh and (pruned.serial, dict(pruned.revoked)) == (held.serial, dict(held.revoked)):
            return  # the list held, sent again: nothing changes (caches stay valid)
        self._revocations = pruned
        self._generation += 1
        _log.info(
            "holding %d token revocations (list %d)",
            len(self._revocations.revoked),
            received.serial,
        )

    # -- verifying ------------------------------------------------------------------------------

    def _current(self) -> tuple[_Signer, RevocationList, int]:
        """The intermediate, revocations and generation, as one consistent snapshot."""
        with self._lock:
            self._sync()
            signer, revocations, generation = self._signer, self._revocations, self._generation
        if signer is None:
            raise TrustError(Status.TRUST_NO_ROOT, "no intermediate is held")
        return signer, revocations, generation

    @staticmethod
    def _check_signer(signer: _Signer, kid: str, now: datetime) -> None:
        if not hmac.compare_digest(kid.encode(), signer.kid.encode()):
            raise TrustError(
                Status.TRUST_UNKNOWN_SIGNER, "the signer is not the current intermediate"
            )
        if now > signer.not_after:
            raise TrustError(Status.TRUST_UNKNOWN_SIGNER, "the current intermediate has expired")

    def verify_payload(self, token: str, *, max_age: timedelta | None = None) -> dict[str, Any]:
        """Verify a signed payload (compact JWS, `typ` "JOSE") from the current intermediate.

        With `max_age`, the payload must carry an `iat` no older than `max_age` and at most 60 s
        in the future (`TRUST_STALE_PAYLOAD` otherwise). Returns the payload's JSON object.
        """
        if max_age is not None and max_age < timedelta(0):
            raise ValueError("max_age must not be negative")
        signer, _, _ = self._current()
        header = read_header(
            token, algorithms=_ALGORITHMS, types={PAYLOAD_TYP}, max_length=MAX_PAYLOAD_LENGTH
        )
        now = self._clock()
        self._check_signer(signer, header.kid, now)
        payload = verify_signature(token, header, signer.key)
        if max_age is not None:
            _check_age(payload, max_age, now)
        return payload

    def verify_token(
        self, token: str, *, audience: str, leeway: timedelta = DEFAULT_LEEWAY
    ) -> TokenClaims:
        """Verify a JWT-SVID issued by the current intermediate (`typ` "JWT", ES256).

        `exp`, `aud` (must contain `audience`) and `sub` (a SPIFFE ID) are required; `nbf` is
        checked when present; `iat` is not judged. `leeway` may not exceed 60 s (ValueError).
        """
        return self.verify_token_detailed(token, audience=audience, leeway=leeway).claims

    def verify_token_detailed(
        self, token: str, *, audience: str, leeway: timedelta = DEFAULT_LEEWAY
    ) -> VerifiedToken:
        """`verify_token`, also saying under which generation the token passed and until when
        it would keep passing if nothing changed (for a cache of verified tokens)."""
        check_leeway(leeway)
        check_audience_argument(audience)
        signer, revocations, generation = self._current()
        header = read_header(
            token, algorithms=_ALGORITHMS, types={TOKEN_TYP}, max_length=MAX_TOKEN_LENGTH
        )
        now = self._clock()
        self._check_signer(signer, header.kid, now)
        claims = verify_signature(token, header, signer.key)
        verified = check_svid_claims(
            claims, audience=audience, leeway=leeway, now=now, kid=signer.kid
        )
        if revocations.covers(verified.token_id):
            raise TrustError(Status.TRUST_STALE_PAYLOAD, "the token has been revoked")
        until = min(
            verified.expires_at.timestamp() + leeway.total_seconds(),
            signer.not_after.timestamp(),
        )
        return VerifiedToken(claims=verified, generation=generation, valid_until=until)


def _check_age(payload: dict[str, Any], max_age: timedelta, now: datetime) -> None:
    iat = payload.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise TrustError(Status.TRUST_STALE_PAYLOAD, "the payload carries no 'iat'")
    at = now.timestamp()
    if not at - max_age.total_seconds() <= iat <= at + _FUTURE_SKEW.total_seconds():
        raise TrustError(Status.TRUST_STALE_PAYLOAD, "the payload is too old or from the future")
