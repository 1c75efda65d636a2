"""Fuzz target `dispatch`: one connection's bytes through framing, authentication, decoding,
routing and the software provider, as the service serves them (admit, then execute).

The service is real: built from config on a temporary state directory, with the direct,
unix-peer and jwt authenticators, two administrators, the fuzz trust chain shared through
ShareTrustBundle (so corpus tokens authenticate), and four keys owned by the direct-auth
application "app" (the names the request-path random test uses). Keys the input creates or
destroys are put back afterwards, so every input starts from the same store and a crash
reproduces from its input alone.

Input: the byte stream of one connection (at most `MAX_REQUESTS` requests are served). Guided
runs also mutate it frame by frame (tests.fuzz._wire).

Properties: nothing raises; every event gets exactly one well-formed response whose status is a
known one and never an internal error (nor an ERROR log line); a success echoes the request's
provider, session and opcode and carries a body that decodes as the opcode's result; answers
sized by the caller stay within the configured buffer limit; an operation on a named key
succeeds only when the caller owns that key (one application never touches another's).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tessera.service.builder import Assembly, build
from tessera.service.config import parse_config
from tessera.service.dispatch import Admitted
from tessera.service.keystore.sqlite import KeyRecord, Owner
from tessera.trust.peer import PeerCredentials, incarnation_of
from tessera.trust.trusting_side import TRUST_OPCODES
from tessera.wire.contracts import OPERATIONS
from tessera.wire.framing import Frame, FrameReader, Limits, encode_request
from tessera.wire.header import MAGIC, Header
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import share_trust_bundle_pb2
from tessera.wire.status import Status, StatusError
from tests.fuzz import _trust
from tests.fuzz._scratch import process_dir
from tests.fuzz._wire import mutator

MAX_REQUESTS = 16
BUFFER_LIMIT = 4096
ADMIN = "fuzz-admin"
APP = "app"
# Statuses that mean the service failed, not the request.
INTERNAL = frozenset(
    {
        Status.PSA_ERROR_GENERIC_ERROR,
        Status.SERIALIZING_BODY_FAILED,
        Status.KEY_INFO_MANAGER_ERROR,
        Status.PSA_ERROR_STORAGE_FAILURE,
        Status.PSA_ERROR_CORRUPTION_DETECTED,
        Status.PSA_ERROR_DATA_CORRUPT,
        Status.PSA_ERROR_HARDWARE_FAILURE,
        Status.PSA_ERROR_COMMUNICATION_FAILURE,
    }
)
# Answers whose size the service, not the caller, decides.
_LISTS = frozenset(
    {
        Opcode.LIST_OPCODES,
        Opcode.LIST_PROVIDERS,
        Opcode.LIST_AUTHENTICATORS,
        Opcode.LIST_KEYS,
        Opcode.LIST_CLIENTS,
        Opcode.TRUST_STATUS,
    }
)
_MUTATING = frozenset(
    {Opcode.PSA_GENERATE_KEY, Opcode.PSA_IMPORT_KEY, Opcode.PSA_DESTROY_KEY, Opcode.DELETE_CLIENT}
)
# Fields naming a key the caller must own (attestation names two).
_KEY_FIELDS = ("key_name", "private_key_name", "attested_key_name", "attesting_key_name")
_SLOW_RSA_BITS = 2048  # bigger RSA generations take seconds: refused by the harness, not run

TOKENS = (
    MAGIC.to_bytes(4, "little"),
    b"\x1e\x00\x01\x00",  # header size 30, version 1.0
    APP.encode(),
    ADMIN.encode(),
    b"k-ecc",
    b"k-rsa",
    b"k-aes",
    b"k-hmac",
    b"spiffe://tessera.local/",
    *(int(op).to_bytes(4, "little") for op in Opcode),
)

_SPIFFE = f"spiffe://{_trust.TRUST_DOMAIN}"
mutate = mutator(
    [
        (0, b""),
        (1, APP.encode()),
        (1, ADMIN.encode()),
        (1, b"someone-else"),
        (2, _trust.service_token(f"{_SPIFFE}/{APP}")),
        (2, _trust.service_token(f"{_SPIFFE}/{ADMIN}")),
        (2, b"not.a.token"),
        (3, b""),
        (4, b"x"),
    ]
)


class _ErrorLog(logging.Handler):
    """Remembers ERROR records: the dispatcher logs an internal error before answering it."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class _Service:
    assembly: Assembly
    peer: PeerCredentials
    keys: dict[tuple[Owner, int, str], KeyRecord]
    errors: _ErrorLog


def peer() -> PeerCredentials:
    """This process, as a local client (unix-peer authentication, the trust root's holder)."""
    incarnation = incarnation_of(os.getpid())
    started = incarnation.start_time if incarnation else None
    return PeerCredentials(os.getpid(), os.getuid(), os.getgid(), start_time=started)


def request(opcode: Opcode, body: bytes, *, auth_type: int = 0, auth: bytes = b"") -> bytes:
    """A request frame (for setup and seeds)."""
    provider = 0 if opcode.is_core or opcode in TRUST_OPCODES else 1
    header = Header(provider=provider, opcode=int(opcode), auth_type=auth_type)
    return encode_request(header, body, auth)


@cache
def service() -> _Service:
    """The service every input is served by (built once per process)."""
    shm = Path("/dev/shm")  # SQLite's synchronous commits cost nothing in memory
    state = process_dir("dispatch", shm if shm.is_dir() else None)
    config = parse_config(
        {
            "core_settings": {"state_dir": str(state), "buffer_size_limit": BUFFER_LIMIT},
            "authenticator": {
                "auth_types": ["direct", "unix-peer", "jwt"],
                "admins": [f"direct:{ADMIN}", f"jwt:spiffe://{_trust.TRUST_DOMAIN}/{ADMIN}"],
            },
        }
    )
    assembly = build(config)
    me = peer()
    chain = _trust.shared()
    for der, root in ((chain.root.der, True), (chain.intermediate.der, False)):
        share = share_trust_bundle_pb2.Operation(certificate=der, root=root)
        frame = FrameReader().feed(request(Opcode.SHARE_TRUST_BUNDLE, share.SerializeToString()))
        assert isinstance(frame[0], Frame)
        assert assembly.dispatcher.handle(frame[0], me)[32:34] == b"\x00\x00"
    from tests.unit.service.test_request_path_fuzz import seeded_keys

    seeded_keys(assembly)
    errors = _ErrorLog()
    logging.getLogger("tessera").addHandler(errors)
    return _Service(assembly, me, _all_keys(assembly), errors)


def _all_keys(assembly: Assembly) -> dict[tuple[Owner, int, str], KeyRecord]:
    store = assembly.keystore
    keys = {}
    for auth_type in AuthType:
        for name in store.list_clients(int(auth_type)):
            for record in store.list_keys(Owner(name, int(auth_type))):
                keys[(record.owner, record.provider_id, record.name)] = record
    return keys


def _restore(served: _Service) -> None:
    """Put the store back as it was after set-up."""
    store = served.assembly.keystore
    now = _all_keys(served.assembly)
    for key in now.keys() - served.keys.keys():
        store.delete(*key)
    for key in served.keys.keys() - now.keys():
        store.insert(served.keys[key])


def _owned_keys(served: _Service, admitted: Admitted) -> list[bool]:
    """For each existing key the operation names: does the caller own it (before it runs)?"""
    app = admitted.ctx.app
    if app is None or admitted.opcode in (Opcode.PSA_GENERATE_KEY, Opcode.PSA_IMPORT_KEY):
        return []
    owner = Owner(app.name, int(app.auth_type))
    owned = []
    for field in _KEY_FIELDS:
        name = getattr(admitted.operation, field, None)
        if isinstance(name, str) and name:
            try:
                served.assembly.keystore.get(owner, admitted.header.provider, name)
            except StatusError:
                owned.append(False)
            else:
                owned.append(True)
    return owned


def _too_slow(admitted: Admitted) -> bool:
    if admitted.opcode is not Opcode.PSA_GENERATE_KEY:
        return False
    attributes = getattr(admitted.operation, "attributes", None)
    if attributes is None or not attributes.key_type.HasField("rsa_key_pair"):
        return False
    return int(attributes.key_bits) > _SLOW_RSA_BITS


def one_input(data: bytes) -> None:
    served = service()
    dispatcher = served.assembly.dispatcher
    served.errors.records.clear()
    mutated = False
    reader = FrameReader(served.assembly.config.limits)
    events = reader.feed(data)[:MAX_REQUESTS]
    end = reader.end_of_stream()
    if end is not None and len(events) < MAX_REQUESTS:
        events.append(end)
    try:
        for event in events:
            if isinstance(event, Frame):
                admitted = dispatcher.admit(event, served.peer)
                if isinstance(admitted, bytes):
                    reply = admitted
                elif _too_slow(admitted):
                    continue
                else:
                    owned = _owned_keys(served, admitted)
                    reply = dispatcher.execute(admitted)
                    mutated |= admitted.opcode in _MUTATING
                    if reply[32:34] == b"\x00\x00":  # success: only on the caller's own keys
                        assert all(owned), f"{admitted.opcode.name} on another's key"
                _check_reply(event, reply)
            else:
                _check_reply(None, dispatcher.framing_error(event))
        assert not served.errors.records, served.errors.records[0].getMessage()
    finally:
        if mutated:
            _restore(served)


def _check_reply(request: Frame | None, reply: bytes) -> None:
    answers = FrameReader(Limits(max_body_size=16 << 20), responses=True)
    parsed = answers.feed(reply)
    assert len(parsed) == 1 and isinstance(parsed[0], Frame) and not answers.buffered, reply[:64]
    header = parsed[0].header
    status = Status(header.status)  # ValueError: a status no client knows
    assert status not in INTERNAL, status.name
    if request is None or status is not Status.SUCCESS:
        assert parsed[0].body == b""
        return
    opcode = Opcode(request.header.opcode)
    assert (header.provider, header.session, header.opcode) == (
        request.header.provider,
        request.header.session,
        request.header.opcode,
    )
    result = OPERATIONS[opcode].response()
    result.ParseFromString(parsed[0].body)  # DecodeError: a body its clients cannot read
    if opcode not in _LISTS:
        assert len(parsed[0].body) <= BUFFER_LIMIT + 64, (opcode.name, len(parsed[0].body))
