"""The operation registry (wire/contracts.py) is the one source of what an operation is: the
providers' tables, ListOpcodes, the request boundaries and the client's retries all read it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tessera.client._protocol import Call
from tessera.service.authenticators.base import Application
from tessera.service.config import ServiceConfig
from tessera.service.core_provider import CoreProvider
from tessera.service.keystore import KeyStore
from tessera.service.providers.base import (
    Provider,
    RequestContext,
    hash_compute,
    key_operations,
)
from tessera.service.providers.pkcs11 import agreement, encryption, signatures
from tessera.service.providers.pkcs11 import keys as pkcs11_keys
from tessera.service.providers.software import SoftwareProvider
from tessera.service.providers.software import keys as software_keys
from tessera.service.providers.tpm import attestation, crypto
from tessera.service.providers.tpm import keys as tpm_keys
from tessera.wire import contracts
from tessera.wire.contracts import OPERATIONS, Auth, Daemon, served_by
from tessera.wire.opcodes import PARSEC_OPCODES, AuthType, Opcode
from tessera.wire.proto import list_opcodes_pb2, ping_pb2, psa_generate_random_pb2
from tessera.wire.status import Status, StatusError

APP = RequestContext(Application("app", AuthType.DIRECT))
#: What a crypto provider may serve: the service's own, non-core Parsec operations.
PROVIDER_OPCODES = frozenset(
    op for op in served_by(Daemon.SERVICE) if not OPERATIONS[op].core and op in PARSEC_OPCODES
)
FAMILIES: dict[str, tuple[ModuleType, ...]] = {
    "pkcs11": (pkcs11_keys, signatures, encryption, agreement),
    "tpm": (tpm_keys, crypto, attestation),
}


@pytest.fixture
def software(tmp_path: Path) -> Iterator[SoftwareProvider]:
    config = ServiceConfig(state_dir=tmp_path, socket_path=tmp_path / "unused.sock")
    store = KeyStore(config.key_store_path)
    try:
        yield SoftwareProvider(1, "software", store, config)
    finally:
        store.close()


def test_every_opcode_is_declared_once_and_named_by_its_constant() -> None:
    assert set(OPERATIONS) == set(Opcode)
    for opcode, spec in OPERATIONS.items():
        assert getattr(contracts, opcode.name) is spec
        assert spec.request.DESCRIPTOR.name == "Operation"
        assert spec.response.DESCRIPTOR.name == "Result"
        assert spec.served_by, opcode.name


def test_the_registry_says_what_parsec_and_tessera_always_said() -> None:
    # The facts the per-module lists used to hold, pinned so a registry edit is deliberate.
    unauthenticated = {op for op in PARSEC_OPCODES if OPERATIONS[op].auth is Auth.NONE}
    assert unauthenticated == {
        Opcode.PING,
        Opcode.LIST_PROVIDERS,
        Opcode.LIST_OPCODES,
        Opcode.LIST_AUTHENTICATORS,
        Opcode.PSA_GENERATE_RANDOM,
        Opcode.PSA_HASH_COMPUTE,
        Opcode.PSA_HASH_COMPARE,
    }
    assert {op for op in Opcode if op.needs_admin} == {Opcode.LIST_CLIENTS, Opcode.DELETE_CLIENT}
    assert {op for op in Opcode if op.is_core} == {
        Opcode.PING,
        Opcode.LIST_PROVIDERS,
        Opcode.LIST_OPCODES,
        Opcode.LIST_AUTHENTICATORS,
        Opcode.LIST_KEYS,
        Opcode.LIST_CLIENTS,
        Opcode.DELETE_CLIENT,
    }
    assert not any(op.needs_auth for op in Opcode if OPERATIONS[op].tessera)
    assert {op for op in Opcode if OPERATIONS[op].extension} == {
        Opcode.PSA_MAC_COMPUTE,
        Opcode.PSA_MAC_VERIFY,
    }
    assert served_by(Daemon.IDENTITY) == {
        Opcode.PING,
        Opcode.SHARE_TRUST_BUNDLE,
        Opcode.TRUST_STATUS,
        Opcode.ADD_CLIENT,
        Opcode.PROVE_CLIENT,
        Opcode.REMOVE_CLIENT,
        Opcode.FETCH_TOKEN,
    }
    assert served_by(Daemon.ORCHESTRATOR) == {
        Opcode.PING,
        Opcode.LAUNCH_APP,
        Opcode.LIST_APPS,
        Opcode.STOP_APP,
        Opcode.RESTART_APP,
        Opcode.APP_LOGS,
    }
    service_tessera = {op for op in served_by(Daemon.SERVICE) if OPERATIONS[op].tessera}
    assert service_tessera == {Opcode.SHARE_TRUST_BUNDLE, Opcode.TRUST_STATUS, Opcode.REVOKE_TOKENS}


def test_the_client_retries_what_the_registry_calls_idempotent() -> None:
    for opcode, spec in OPERATIONS.items():
        call = Call(opcode, spec.request(), lambda result: result)
        assert call.idempotent is spec.idempotent, opcode.name
    creating_or_destroying = {op for op in PARSEC_OPCODES if not OPERATIONS[op].idempotent}
    assert creating_or_destroying == {
        Opcode.PSA_GENERATE_KEY,
        Opcode.PSA_IMPORT_KEY,
        Opcode.PSA_DESTROY_KEY,
        Opcode.DELETE_CLIENT,
    }
    assert OPERATIONS[Opcode.FETCH_TOKEN].idempotent  # the client refetches tokens freely


@pytest.mark.parametrize("provider", sorted(FAMILIES))
def test_family_handlers_serve_only_what_a_provider_may(provider: str) -> None:
    table = key_operations(object(), *FAMILIES[provider])
    assert table  # each family module declares its operations
    assert set(table) <= PROVIDER_OPCODES


def test_the_software_table_is_its_list_opcodes_answer(software: SoftwareProvider) -> None:
    assert software.opcodes <= PROVIDER_OPCODES
    core = CoreProvider([software], [], software.keystore)
    op = list_opcodes_pb2.Operation(provider_id=software.provider_id)
    extended = RequestContext(None, extensions=True)
    every = core.handle(Opcode.LIST_OPCODES, extended, op)
    plain = core.handle(Opcode.LIST_OPCODES, RequestContext(None), op)
    assert isinstance(every, list_opcodes_pb2.Result)
    assert isinstance(plain, list_opcodes_pb2.Result)
    assert set(every.opcodes) == software.opcodes
    assert set(plain.opcodes) == {op for op in software.opcodes if not OPERATIONS[op].extension}
    assert Opcode.PSA_MAC_COMPUTE in software.opcodes  # so the two answers differ


def test_the_core_table_is_the_registrys_core_and_lists_no_admin_operation(
    software: SoftwareProvider,
) -> None:
    core = CoreProvider([software], [], software.keystore)
    assert core.opcodes == {op for op in Opcode if op.is_core}
    listed = core.handle(Opcode.LIST_OPCODES, RequestContext(None), list_opcodes_pb2.Operation())
    assert isinstance(listed, list_opcodes_pb2.Result)
    assert set(listed.opcodes) == {op for op in core.opcodes if not op.needs_admin}


def test_what_a_provider_has_no_handler_for_is_not_supported(software: SoftwareProvider) -> None:
    assert Opcode.ATTEST_KEY not in software.opcodes
    with pytest.raises(StatusError) as caught:
        software.handle(Opcode.ATTEST_KEY, APP, contracts.ATTEST_KEY.request())
    assert caught.value.status is Status.PSA_ERROR_NOT_SUPPORTED


def test_a_provider_cannot_serve_what_the_registry_gives_another(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.sqlite3")
    try:
        for opcode in (Opcode.PING, Opcode.SHARE_TRUST_BUNDLE):
            with pytest.raises(ValueError, match=opcode.name):
                Provider(1, "odd", store, {opcode: hash_compute})
        fine = Provider(1, "hashing", store, {Opcode.PSA_HASH_COMPUTE: hash_compute})
        assert fine.opcodes == {Opcode.PSA_HASH_COMPUTE}  # no checks given: no CanDoCrypto
    finally:
        store.close()


def test_two_handlers_for_one_operation_are_refused() -> None:
    with pytest.raises(ValueError, match="PSA_GENERATE_KEY"):
        key_operations(object(), software_keys, pkcs11_keys)


def test_blocking_is_the_registrys_may_block_unless_the_provider_is_a_device(
    software: SoftwareProvider,
) -> None:
    for opcode in software.opcodes:
        assert software.blocking(opcode) is OPERATIONS[opcode].may_block
    assert software.blocking(Opcode.PSA_GENERATE_KEY)
    assert not software.blocking(Opcode.PSA_SIGN_HASH)

    class Device(Provider):
        device_bound = True

    device = Device(2, "device", software.keystore, {Opcode.PSA_HASH_COMPUTE: hash_compute})
    assert device.blocking(Opcode.PSA_HASH_COMPUTE)


def test_typed_calls_check_the_contract(software: SoftwareProvider) -> None:
    result = software.call(
        contracts.PSA_GENERATE_RANDOM, APP, psa_generate_random_pb2.Operation(size=16)
    )
    assert len(result.random_bytes) == 16
    assert isinstance(contracts.PING.response(), ping_pb2.Result)


def test_each_entry_is_typed_by_the_module_it_loads() -> None:
    # The messages load on first use, named by a string; the annotation is what mypy checks
    # handlers against: the two must name the same generated module.
    import ast
    from pathlib import Path

    source = Path(contracts.__file__).read_text()
    checked = 0
    for node in ast.parse(source).body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.value, ast.Call)):
            continue
        call = node.value
        if not (isinstance(call.func, ast.Name) and call.func.id == "_declare"):
            continue
        module = call.args[1]
        assert isinstance(module, ast.Constant)
        assert isinstance(module.value, str)
        name = module.value
        assert ast.unparse(node.annotation) == f"OperationSpec[{name}.Operation, {name}.Result]"
        checked += 1
    assert checked == len(contracts.OPERATIONS)
    for spec in contracts.OPERATIONS.values():
        assert spec.request.__module__.endswith(spec.module)
        assert spec.response.__module__.endswith(spec.module)


def test_delete_client_leaves_the_event_loop() -> None:
    # Every key of an application, a transaction and a checkpoint each: not on the loop.
    assert OPERATIONS[Opcode.DELETE_CLIENT].may_block
