"""`tessera service --config` on Parsec's own `config.toml`: the service starts on it, serves,
and logs each ignored setting once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tessera.wire.opcodes import Opcode
from tessera.wire.proto import ping_pb2
from tessera.wire.status import Status
from tests.interop import require
from tests.support import (
    RunningService,
    direct,
    generate_key_request,
    request_bytes,
    start_service,
    stop_service,
    wait_for_socket,
)
from tests.unit.software.builders import SECP_R1, attributes, sign_policy

pytestmark = pytest.mark.integration

ECDSA_KEY = attributes(
    "ecc_key_pair", 256, sign_policy("ecdsa", any_hash=True), family=SECP_R1, sign_hash=True
)


def parsec_file(socket_path: Path) -> str:
    """A Parsec file: Mbed Crypto, Direct authentication, settings Tessera ignores."""
    return f"""
[core_settings]
allow_root = true
log_level = "info"
log_timestamp = true
thread_pool_size = 4

[listener]
listener_type = "DomainSocket"
timeout = 3000
socket_path = "{socket_path}"

[authenticator]
auth_type = "Direct"
admins = [ {{ name = "root" }} ]

[[key_manager]]
name = "sqlite-manager"
manager_type = "SQLite"
sqlite_db_path = "./kim-mappings/sqlite/sqlite-key-info-manager.sqlite3"

[[provider]]
name = "mbed-crypto-provider"
provider_type = "MbedCrypto"
key_info_manager = "sqlite-manager"
"""


def serves(service: RunningService) -> None:
    """Ping answers 1.0; a key is generated on the Mbed Crypto (software) provider, id 1."""
    ping = service.call(request_bytes(Opcode.PING))
    assert ping.header.status == Status.SUCCESS
    answer = ping_pb2.Result.FromString(ping.body)
    assert (answer.wire_protocol_version_maj, answer.wire_protocol_version_min) == (1, 0)
    response = service.call(generate_key_request("parsec-file-key", ECDSA_KEY, direct("app")))
    assert response.header.status == Status.SUCCESS


def warned_once(log: str, *fragments: str) -> None:
    lines = [line for line in log.splitlines() if " WARNING tessera.service.config: " in line]
    for fragment in fragments:
        assert sum(fragment in line for line in lines) == 1, (fragment, log)


def test_service_runs_on_a_parsec_file(short_tmp: Path) -> None:
    socket_path = short_tmp / "parsec.sock"
    config = short_tmp / "config.toml"
    config.write_text(parsec_file(socket_path), encoding="utf-8")
    service = start_service(short_tmp / "state", config=config, socket_path=socket_path)
    try:
        serves(service)
    finally:
        assert stop_service(service) == 0, service.log()
    warned_once(
        service.log(),
        "core_settings.log_timestamp is ignored",
        "core_settings.thread_pool_size is ignored",
        "key_manager 'sqlite-manager' (SQLite,",
    )
    assert (short_tmp / "state" / "keys.sqlite3").is_file()  # Tessera's own store


def test_the_interop_scripts_file_starts_tessera(short_tmp: Path) -> None:
    """The script writes Parsec's config and runs `parsec` beside it: here that is Tessera, so
    the very file the script writes is what Tessera starts on (no overriding options)."""
    bin_dir = short_tmp / "bin"
    bin_dir.mkdir()
    script = bin_dir / "parsec-service"
    shutil.copy(require("parsec-service"), script)
    shim = bin_dir / "parsec"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m tessera.cli.main service "$@"\n')
    shim.chmod(0o755)
    socket_path, parsec_state = short_tmp / "run" / "parsec.sock", short_tmp / "parsec"
    env = {**os.environ, "TESSERA_STATE_DIR": str(short_tmp / "tessera")}
    log_path = short_tmp / "service.log"
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(script), str(socket_path), str(parsec_state)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
    service = RunningService(socket_path, short_tmp / "tessera", process, log_path)
    try:
        wait_for_socket(socket_path, process, log_path)
        serves(service)
    finally:
        assert stop_service(service) == 0, service.log()
    assert (parsec_state / "config.toml").is_file()
    warned_once(
        service.log(),
        "core_settings.idle_listener_sleep_duration is ignored",
        "key_manager 'sqlite-manager': store_path is ignored",
        "key_manager 'sqlite-manager' (SQLite,",
    )
    assert (short_tmp / "tessera" / "keys.sqlite3").is_file()


def test_a_setting_tessera_cannot_honour_stops_it_with_one_line(short_tmp: Path) -> None:
    config = short_tmp / "config.toml"
    text = parsec_file(short_tmp / "parsec.sock").replace('"MbedCrypto"', '"TrustedService"')
    config.write_text(text, encoding="utf-8")
    command = [sys.executable, "-m", "tessera.cli.main", "service", "--config", str(config)]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert result.stderr == (
        "tessera: provider_type 'TrustedService' is not supported: Tessera's providers are "
        "MbedCrypto (software), Pkcs11 and Tpm\n"
    )


SOFTHSM_LIBRARIES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
SOFTHSM = next((p for p in SOFTHSM_LIBRARIES if os.path.exists(p)), None)


@pytest.mark.skipif(
    SOFTHSM is None or shutil.which("softhsm2-util") is None, reason="SoftHSM2 is not installed"
)
def test_a_parsec_pkcs11_file_uses_the_only_token(short_tmp: Path) -> None:
    """Parsec's PKCS#11 files name no slot: the only initialized token is used; with two, the
    service refuses to guess."""
    (short_tmp / "tokens").mkdir()
    softhsm_conf = short_tmp / "softhsm2.conf"
    softhsm_conf.write_text(f"directories.tokendir = {short_tmp / 'tokens'}\n")
    env = {**os.environ, "SOFTHSM2_CONF": str(softhsm_conf)}

    def init_token(label: str) -> None:
        command = ["softhsm2-util", "--init-token", "--free", "--label", label]
        command += ["--pin", "123456", "--so-pin", "12345678"]
        subprocess.run(command, env=env, check=True, capture_output=True)

    init_token("parsec")
    socket_path = short_tmp / "parsec.sock"
    config = short_tmp / "config.toml"
    provider = f"""
provider_type = "Pkcs11"
library_path = "{SOFTHSM}"
user_pin = "123456"
software_public_operations = false
"""
    text = parsec_file(socket_path).replace('name = "mbed-crypto-provider"\n', "")
    config.write_text(text.replace('provider_type = "MbedCrypto"\n', provider), encoding="utf-8")
    service = start_service(short_tmp / "state", config=config, socket_path=socket_path, env=env)
    try:
        request = generate_key_request("on-token", ECDSA_KEY, direct("app"), provider=2)
        assert service.call(request).header.status == Status.SUCCESS
    finally:
        assert stop_service(service) == 0, service.log()

    init_token("second")
    command = [sys.executable, "-m", "tessera.cli.main", "service", "--config", str(config)]
    command += ["--state-dir", str(short_tmp / "state")]
    result = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 3  # after the warnings, the reason in one line
    assert result.stderr.splitlines()[-1] == (
        "tessera: pkcs11 provider: 2 initialized tokens and none named: set slot_number, "
        "serial_number or token_label"
    )
