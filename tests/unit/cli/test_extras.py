"""A configuration asking for a feature whose extra is not installed fails in one line naming it.

The extra's package is hidden from a fresh interpreter (`sys.modules[name] = None` makes its
import fail as a missing package does).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tessera._extras import DISTRIBUTION, EXTRAS, missing_extra, require_extra
from tessera.cli._errors import ExitCode

SRC = Path(__file__).resolve().parents[3] / "src"


def run_without(module: str, *argv: str) -> subprocess.CompletedProcess[str]:
    code = (
        f"import sys; sys.modules[{module!r}] = None\n"
        "from tessera.cli.main import main; sys.exit(main(sys.argv[1:]))"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]))
    command = [sys.executable, "-c", code, *argv]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60, check=False)


def test_a_pkcs11_provider_without_the_pkcs11_extra(tmp_path: Path) -> None:
    config = tmp_path / "service.toml"
    config.write_text(
        '[[provider]]\nprovider_type = "pkcs11"\nlibrary_path = "/bin/true"\n'
        'token_label = "t"\nuser_pin = "1234"\n'
    )
    done = run_without(
        "pkcs11", "service", "--config", str(config), "--socket", str(tmp_path / "s.sock"),
        "--state-dir", str(tmp_path), "--allow-root",
    )  # fmt: skip
    assert done.returncode == ExitCode.CONFIG
    assert done.stderr == (
        "tessera: the pkcs11 provider needs python-pkcs11, which is not installed: "
        f"pip install '{DISTRIBUTION}[pkcs11]'\n"
    )


def test_the_workload_api_without_the_spiffe_extra(tmp_path: Path) -> None:
    done = run_without(
        "grpclib", "identity", "--state-dir", str(tmp_path), "--socket",
        str(tmp_path / "i.sock"), "--service-socket", str(tmp_path / "s.sock"),
        "--workload-api-socket", str(tmp_path / "w.sock"), "--allow-root",
    )  # fmt: skip
    assert done.returncode == ExitCode.CONFIG
    assert done.stderr.count("\n") == 1
    assert f"needs grpclib, which is not installed: pip install '{DISTRIBUTION}[spiffe]'" in (
        done.stderr
    )


def test_only_the_extras_own_package_counts_as_missing() -> None:
    for extra, (module, _, _) in EXTRAS.items():
        assert missing_extra(extra, ModuleNotFoundError(name=f"{module}.sub")) is not None
        assert missing_extra(extra, ImportError("elsewhere", name="something_else")) is None
    bug = ImportError("a bug in our own module", name="tessera.service.nothing")
    with pytest.raises(ImportError) as raised:
        require_extra("pkcs11", bug, ValueError)
    assert raised.value is bug
