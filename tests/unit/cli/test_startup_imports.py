"""What `tessera` imports before it runs a command: the client path stays free of the daemons.

Structural, not timed (benchmarks/cli_startup.py times it): each check runs a fresh interpreter
and looks at sys.modules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[3] / "src"
DAEMON_PARTS = ("tessera.service", "tessera.identity", "tessera.orchestrator", "tessera.daemon")
HEAVY = (
    "pkcs11",
    "tpm2_pytss",
    "asyncio",
    "cryptography.x509",
    "cryptography.hazmat.primitives.serialization",
    "jwt",
    "tessera.trust",
)


def probe_environment() -> dict[str, str]:
    """Ours, without coverage.py's: under scripts/test every Python process started would load
    coverage (and the standard modules it needs) before the code probed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
    return env


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    env = probe_environment()
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def offending(modules: set[str], prefixes: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(f"{p}.") for p in prefixes))


def test_the_entry_point_imports_no_daemon_and_no_client() -> None:
    modules = loaded_after("import tessera.cli.main")
    assert offending(modules, DAEMON_PARTS + HEAVY + ("tessera.client._client",)) == []
    assert not any("pkcs11" in m or "tpm" in m for m in modules)


@pytest.mark.parametrize(
    "argv",
    [
        ["--endpoint", "/nonexistent/parsec.sock", "ping"],
        ["--endpoint", "/nonexistent/s", "list-keys"],
        ["--endpoint", "/nonexistent/s", "sign", "-k", "k", "hello"],
        ["--endpoint", "/nonexistent/s", "create-ecc-key", "-k", "k"],
        ["--endpoint", "/nonexistent/s", "delete-key", "-k", "k"],
    ],
)
def test_a_client_command_imports_the_client_path_only(argv: list[str]) -> None:
    code = f"from tessera.cli.main import main\nmain({argv!r})"
    modules = loaded_after(code)
    assert "tessera.client._operations" in modules  # it did run the command
    assert offending(modules, DAEMON_PARTS + HEAVY) == []
    assert not any("pkcs11" in m or "tpm" in m for m in modules)


# The commands whose operations carry no PSA structure: encoded without protobuf (protowire).
PROTOBUF_FREE = [
    ["ping"],
    ["list-providers"],
    ["list-authenticators"],
    ["list-opcodes"],
    ["list-clients"],
    ["list-keys"],
    ["--json", "list-keys"],
    ["delete-client", "-c", "someone"],
    ["generate-random", "-n", "4"],
    # the commands on a key: the flows of `Key`'s methods on the encoded attributes (their
    # successes are probed against a service in tests/integration/test_cli.py)
    ["sign", "-k", "k", "hello"],
    ["verify", "-k", "k", "-s", "AAAA", "hello"],
    ["encrypt", "-k", "k", "hello"],
    ["decrypt", "-k", "k", "AAAA"],
    ["mac", "-k", "k", "hello"],
    ["verify-mac", "-k", "k", "-m", "AAAA", "hello"],
    ["delete-key", "-k", "k"],
]
# protobuf's abstract Message class (the operation registry's annotations) is not its runtime.
PROTOBUF_RUNTIME = ("google._upb", "google.protobuf.internal", "google.protobuf.descriptor")


@pytest.mark.parametrize("argv", PROTOBUF_FREE, ids=lambda argv: argv[0])
def test_simple_commands_load_neither_protobuf_nor_cryptography(argv: list[str]) -> None:
    # (every one fails to connect here: an error's path must stay as light as a success's)
    modules = loaded_after(
        f"from tessera.cli.main import main\nmain(['--endpoint', '/nonexistent/s', *{argv!r}])"
    )
    assert "tessera.client._operations" in modules  # it did run the command
    assert offending(modules, (*PROTOBUF_RUNTIME, "cryptography", "tessera.wire.proto")) == []
    # The wire's and the client's value classes are plain classes (tessera.wire._values), twins
    # read their signatures on demand, `typing` is for type checkers only
    # (tessera.wire._runtime_typing) and endpoints are resolved as text (client/_endpoint.py):
    # none of these loads on the way.
    # (and threading: the client's locks are _thread's, which threading.Lock is)
    lean = ("dataclasses", "inspect", "ast", "dis", "tokenize", "typing", "pathlib", "urllib")
    assert offending(modules, ("threading", "google")) == []
    assert offending(modules, lean) == []
    # The blocking transport's sockets are `_socket`'s: `socket` (its enums, `selectors`) loads
    # with the asyncio transport only.
    assert offending(modules, ("socket", "selectors")) == []


@pytest.mark.parametrize("argv", PROTOBUF_FREE, ids=lambda argv: argv[0])
def test_simple_commands_load_no_argparse_and_no_importlib(argv: list[str]) -> None:
    # argparse, with re, gettext and locale (the quick reader: test_quick.py), and the package
    # importlib with warnings (the wire contracts import protobuf's modules by name only when
    # their classes are wanted); printed without json, which imports re
    probe = (
        "import sys\nfrom tessera.cli.main import main\n"
        f"main(['--endpoint', '/nonexistent/s', *{argv!r}])\nprint(' '.join(sys.modules))"
    )
    env = probe_environment()
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    modules = set(done.stdout.split())
    assert "tessera.client._operations" in modules  # it did run the command
    assert not modules & {"argparse", "re", "gettext", "locale", "importlib", "warnings"}


@pytest.mark.parametrize(
    "environment",
    [{"PARSEC_SERVICE_ENDPOINT": "unix:/nonexistent/s"}, {"TESSERA_STATE_DIR": "~/nowhere"}],
    ids=["variable", "default"],
)
def test_finding_the_service_loads_no_pathlib(environment: dict[str, str]) -> None:
    env = probe_environment()
    env.pop("PARSEC_SERVICE_ENDPOINT", None)
    env.update(environment)
    probe = (
        "import sys\nfrom tessera.cli.main import main\ntry:\n    main(['ping'])\n"
        "except SystemExit:\n    pass\nprint('\\n'.join(sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert "cannot reach the service at" in done.stderr  # it did try
    modules = set(done.stdout.split())
    assert "tessera.client._endpoint" in modules
    assert offending(modules, ("pathlib", "urllib")) == []


def test_help_imports_no_command_module() -> None:
    modules = loaded_after(
        "from tessera.cli.main import main\nimport contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n    main(['--help'])"
    )
    commands = sorted(m for m in modules if m.startswith("tessera.cli.") and m.endswith("_cmd"))
    assert commands == []
    assert "tessera.client._operations" not in modules


def test_sign_loads_no_cryptography() -> None:
    """(DER signatures are encoded here; hashes load only for a message signed as a digest.)"""
    modules = loaded_after(
        "from tessera.cli.main import main\n"
        "main(['--endpoint', '/nonexistent/s', 'sign', '-k', 'k', 'hello'])"
    )
    assert "tessera.cli.crypto_cmd" in modules
    assert offending(modules, ("cryptography", "hashlib")) == []
    # the service's algorithm policies load for a digest computed by the provider only
    assert "tessera.psa.algorithms" not in modules
    # the PSA names describe keys (list-keys) and name `hash`'s choices: not for signing
    assert "tessera.cli._psa_names" not in modules


# Standard modules that every command used to import and none needs to (benchmarks/README.md).
STARTUP_FREE = ("typing", "shutil", "pathlib", "json", "base64", "contextlib")


def test_help_and_the_parser_of_a_client_command_import_little_of_the_standard_library() -> None:
    probe = (  # (printed without json: the probe must not import what it looks for)
        "import io, sys\nfrom tessera.cli.main import main, build_parser\n"
        "build_parser(only='ping')\n"
        "sys.stdout = io.StringIO()\nmain(['--help'])\nsys.stdout = sys.__stdout__\n"
        "print('\\n'.join(sys.modules))"
    )
    env = probe_environment()
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    modules = set(done.stdout.split())
    assert "tessera.cli.admin_cmd" in modules
    assert offending(modules, STARTUP_FREE) == []
