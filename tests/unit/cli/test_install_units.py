"""Issue 10 (operators): systemd units for the three daemons, installed by a documented command.

The units parse, run the command they were written for, socket-activate the service on the path
its configuration names, and carry the hardening options; the configuration files written beside
them are accepted by the daemons' strict loaders; packaging/systemd/ is what the command writes.
"""

from __future__ import annotations

import configparser
import grp
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tessera.cli._units import Layout, render
from tessera.cli.main import main
from tessera.identity.config import load_identity_config
from tessera.orchestrator.config import load_orchestrator_config
from tessera.service.config import load_config

REPO = Path(__file__).resolve().parents[3]
UNITS = (
    "tessera-service.socket",
    "tessera-service.service",
    "tessera-identity.service",
    "tessera-orchestrator.service",
)
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "PrivateTmp": "yes",
    "RestrictAddressFamilies": "AF_UNIX",
    "ProtectHome": "yes",
    "UMask": "0077",
}


def parse_unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)  # strict: a repeated key fails
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys keep their case
    parser.read_string(path.read_text(), source=str(path))
    return parser


def install(root: Path, *extra: str) -> int:
    return main(["install-units", "--root", os.fspath(root), *extra])


def our_group() -> str:
    return grp.getgrgid(os.getgid()).gr_name


def test_units_parse_and_run_the_named_command(tmp_path: Path) -> None:
    assert install(tmp_path, "--executable", "/opt/tessera/bin/tessera") == 0
    units = tmp_path / "etc/systemd/system"
    parsed = {name: parse_unit(units / name) for name in UNITS}
    daemons = {"tessera-service.service": "service", "tessera-identity.service": "identity"}
    daemons["tessera-orchestrator.service"] = "orchestrator"
    for name, daemon in daemons.items():
        service = parsed[name]["Service"]
        assert service["Type"] == "notify"
        assert service["ExecStart"] == (
            f"/opt/tessera/bin/tessera {daemon} --config /etc/tessera/{daemon}.toml"
        )
    for name in ("tessera-service.service", "tessera-identity.service"):
        service = parsed[name]["Service"]
        assert {key: service[key] for key in HARDENING} == HARDENING
        assert service["User"] == "tessera"
        assert service["StateDirectory"] == f"tessera/{daemons[name]}"
        assert service["RuntimeDirectory"] == "tessera"
    socket_unit = parsed["tessera-service.socket"]["Socket"]
    assert socket_unit["SocketMode"] == "0660"
    assert socket_unit["SocketGroup"] == "tessera-clients"
    assert parsed["tessera-service.service"]["Unit"]["Requires"] == "tessera-service.socket"


def test_the_config_files_load_and_agree_with_the_units(tmp_path: Path) -> None:
    group = our_group()  # the loaders check that the group exists
    assert install(tmp_path, "--executable", "/usr/bin/tessera", "--client-group", group) == 0
    etc = tmp_path / "etc"
    service = load_config(etc / "tessera/service.toml")
    identity = load_identity_config(etc / "tessera/identity.toml")
    orchestrator = load_orchestrator_config(etc / "tessera/orchestrator.toml")
    listen = parse_unit(etc / "systemd/system/tessera-service.socket")["Socket"]["ListenStream"]
    assert str(service.socket_path) == listen
    assert identity.service_socket == service.socket_path == orchestrator.service_socket
    assert identity.socket_path == orchestrator.identity_socket
    assert service.socket_group == identity.socket_group == group
    assert identity.orchestrator_uid == 0 and orchestrator.allow_root
    # Each socket lies in a directory its unit has systemd create.
    units = {name: parse_unit(etc / "systemd/system" / name)["Service"] for name in UNITS[1:]}
    runtime = {Path("/run") / unit["RuntimeDirectory"] for unit in units.values()}
    sockets = (service.socket_path, identity.socket_path, orchestrator.control_socket)
    assert {path.parent for path in sockets} == runtime
    assert str(service.state_dir) == "/var/lib/tessera/service"  # StateDirectory=tessera/service
    sysusers = (etc / "sysusers.d/tessera.conf").read_text()
    assert "\nu tessera " in sysusers and f"\ng {group} " in sysusers


def test_config_files_are_kept_unless_forced_units_are_replaced(tmp_path: Path) -> None:
    config = tmp_path / "etc/tessera/service.toml"
    unit = tmp_path / "etc/systemd/system/tessera-service.service"
    config.parent.mkdir(parents=True)
    config.write_text("# mine\n")
    unit.parent.mkdir(parents=True)
    unit.write_text("old\n")
    assert install(tmp_path, "--executable", "/usr/bin/tessera") == 0
    assert config.read_text() == "# mine\n"
    assert unit.read_text().startswith("[Unit]")
    assert install(tmp_path, "--executable", "/usr/bin/tessera", "--force") == 0
    assert config.read_text().startswith("# The security service")


def test_a_relative_executable_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert install(tmp_path, "--executable", "tessera") == 2
    assert "absolute path" in capsys.readouterr().err
    assert not (tmp_path / "etc").exists()


def test_packaging_holds_what_the_command_writes_for_usr_bin() -> None:
    packaged = REPO / "packaging/systemd"
    rendered = render(Layout(command="/usr/bin/tessera"))
    assert {Path(p).name for p in rendered} == {p.name for p in packaged.iterdir()}
    for relative, text in rendered.items():
        assert (packaged / Path(relative).name).read_text() == text, relative


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    command = shutil.which("tessera") or "/bin/true"  # verify checks that ExecStart exists
    assert install(tmp_path, "--executable", command) == 0
    units = tmp_path / "etc/systemd/system"
    result = subprocess.run(
        ["systemd-analyze", "verify", *(f"./{name}" for name in UNITS)],
        cwd=units,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
