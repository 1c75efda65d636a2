"""The `tessera` command against the real daemon: every client command in text and JSON form,
and every failure as one stderr line with its own exit code (docs/cli.md)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtensionOID, NameOID

import tessera.client as tessera
from tessera.cli import _errors
from tessera.cli._errors import ExitCode
from tessera.cli.main import main
from tests.support import RunningService, running_service
from tests.unit.cli.test_startup_imports import offending, probe_environment

pytestmark = pytest.mark.integration


@dataclass
class Result:
    """What one run of the command printed, and its exit code."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout as the one JSON object it must be."""
        assert self.out.count("\n") == 1, self.out
        return json.loads(self.out)

    def failed(self, code: ExitCode) -> str:
        """Check a failure: the code, nothing on stdout, one `tessera:` line on stderr."""
        assert (self.code, self.out) == (code, ""), (self.code, self.out, self.err)
        assert self.err.startswith("tessera: ") and self.err.count("\n") == 1, self.err
        assert "Traceback" not in self.err
        return self.err


Run = Callable[..., Result]


@pytest.fixture(scope="module")
def service() -> Iterator[RunningService]:
    """One daemon for the module: direct and Unix-peer authentication, `admin` administers."""
    state = Path(tempfile.mkdtemp(prefix="ts-", dir="/tmp"))
    try:
        with running_service(
            state, "--auth", "direct,unix-peer", "--admin", "direct:admin"
        ) as running:
            yield running
    finally:
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def endpoint(service: RunningService) -> str:
    """The daemon's endpoint URI."""
    return f"unix:{service.socket_path}"


@pytest.fixture
def cli(endpoint: str, capsys: pytest.CaptureFixture[str]) -> Run:
    """Run `tessera --endpoint <daemon> ARGS...` in-process."""

    def run(*args: str) -> Result:
        code = main(["--endpoint", endpoint, *args])
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


def subprocess_cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run the command as its own process."""
    return subprocess.run(
        [sys.executable, "-m", "tessera.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


# service information


def test_bare_command_prints_help_not_an_error() -> None:
    bare = subprocess_cli()
    assert bare.returncode == 0 and bare.stderr == ""
    assert "COMMAND" in bare.stdout and "list-keys" in bare.stdout


def test_verbose_says_which_endpoint_and_authentication_the_client_chose(
    cli: Run, endpoint: str
) -> None:
    pinged = cli("-v", "ping")
    assert (pinged.code, pinged.out) == (ExitCode.OK, "1.0\n")
    assert pinged.err.splitlines() == [
        f"tessera: endpoint {endpoint} (given by --endpoint)",  # endpoint: unix:/path
        f"tessera: authentication: Unix peer credentials (uid {os.getuid()}) "
        "(the best the service offers)",
    ]
    listed = cli("--app-name", "someone", "list-keys", "--verbose", "--json")
    assert listed.json() == {"keys": []}
    assert "authentication: direct authentication as 'someone' (given by --app-name)" in listed.err
    quiet = cli("ping")
    assert quiet.err == ""


def test_list_keys_of_a_provider_the_service_lacks(cli: Run) -> None:
    assert "no provider 7" in cli("-p", "7", "list-keys").failed(ExitCode.NOT_FOUND)


def test_ping(cli: Run) -> None:
    assert cli("ping") == Result(0, "1.0\n", "")
    assert cli("--json", "ping").json() == {"wire_protocol_version": "1.0", "major": 1, "minor": 0}


def test_list_providers(cli: Run) -> None:
    text = cli("list-providers").out
    assert "ID: 0x01 (Tessera software provider)\nDescription: " in text
    assert "ID: 0x00 (Tessera core provider)" in text
    assert re.search(r"^UUID: [0-9a-f-]{36}$", text, re.MULTILINE)
    providers = cli("--json", "list-providers").json()["providers"]
    assert [p["id"] for p in providers] == [1, 0]
    assert {"name", "description", "version", "vendor", "uuid"} <= set(providers[0])


def test_list_authenticators(cli: Run) -> None:
    text = cli("list-authenticators").out
    assert "ID: 0x01 (Direct authentication)" in text
    assert "ID: 0x03 (Unix Peer Credentials authentication)" in text
    listed = cli("--json", "list-authenticators").json()["authenticators"]
    assert [a["id"] for a in listed] == [1, 3]


def test_list_opcodes(cli: Run) -> None:
    software = cli("list-opcodes").out.splitlines()
    assert "0x0d (PsaGenerateRandom)" in software and "0x02 (PsaGenerateKey)" in software
    core = cli("list-opcodes", "-p", "0").out.splitlines()
    assert "0x01 (Ping)" in core and "0x02 (PsaGenerateKey)" not in core
    assert cli("-p", "0", "list-opcodes").out.splitlines() == core  # the global --provider
    listed = cli("--json", "list-opcodes", "--provider", "0").json()
    assert listed["provider"] == 0 and {"id": 26, "name": "ListKeys"} in listed["opcodes"]


def test_generate_random(cli: Run) -> None:
    assert re.fullmatch(r"([0-9A-F]{2} ){15}[0-9A-F]{2}\n", cli("generate-random", "-n", "16").out)
    data = cli("--json", "generate-random", "--nbytes", "24").json()
    assert len(base64.b64decode(data["random"])) == 24


def test_hash(cli: Run) -> None:
    assert cli("hash", "abc").out == hashlib.sha256(b"abc").hexdigest() + "\n"
    assert cli("hash", "--alg", "sha512", "abc").out == hashlib.sha512(b"abc").hexdigest() + "\n"
    data = cli("--json", "hash", "-a", "sha3-256", "abc").json()
    assert data == {
        "algorithm": "sha3-256",
        "digest": base64.b64encode(hashlib.sha3_256(b"abc").digest()).decode(),
    }


def test_sign_verify_and_hash_files_over_the_request_limit(cli: Run, short_tmp: Path) -> None:
    """Issue 10: files over the service's 1 MiB body limit are hashed here (parsec-tool's way)."""
    big = short_tmp / "big.bin"
    data = os.urandom(5_000_000)
    big.write_bytes(data)
    assert cli("hash", "-f", os.fspath(big)).out == hashlib.sha256(data).hexdigest() + "\n"
    name = f"big-{os.getpid()}"
    assert cli("create-ecc-key", "-k", name).code == 0
    try:
        signature = cli("sign", "-k", name, "-f", os.fspath(big)).out.strip()
        assert cli("verify", "-k", name, "-s", signature, "-f", os.fspath(big)).out == (
            "Verified OK\n"
        )
        public = serialization.load_pem_public_key(
            cli("export-public-key", "-k", name).out.encode()
        )
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(base64.b64decode(signature), data, ec.ECDSA(hashes.SHA256()))
        assert cli("create-key", "-k", f"{name}-mac", "--spec", "hmac-sha256").code == 0
        refused = cli("mac", "-k", f"{name}-mac", "-f", os.fspath(big)).failed(ExitCode.SERVICE)
        assert "input is 5000000 bytes, the service accepts requests of at most 1048576" in refused
    finally:
        cli("delete-key", "-k", name)
        cli("delete-key", "-k", f"{name}-mac")


# keys and their operations


def test_ecc_key_sign_verify_export_delete(cli: Run) -> None:
    assert cli("create-ecc-key", "--key-name", "cli-ecc") == Result(0, "", "")
    line = next(x for x in cli("list-keys").out.splitlines() if x.startswith("* cli-ecc "))
    assert line == (
        "* cli-ecc (provider 1): ECC key pair (secp256r1), 256 bits; "
        "permitted algorithm: ECDSA with SHA-256; "
        "usage: sign_message, verify_message, sign_hash, verify_hash"
    )
    listed = {k["name"]: k for k in cli("--json", "list-keys").json()["keys"]}
    assert listed["cli-ecc"] == {
        "name": "cli-ecc",
        "provider": 1,
        "type": {"kind": "ecc_key_pair", "curve_family": "secp_r1"},
        "bits": 256,
        "algorithm": {"category": "asymmetric_signature", "scheme": "ecdsa", "hash": "sha256"},
        "usage": ["sign_message", "verify_message", "sign_hash", "verify_hash"],
    }

    pem = cli("export-public-key", "-k", "cli-ecc").out
    public = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    assert cli("--json", "export-public-key", "-k", "cli-ecc").json()["pem"] == pem

    signature = cli("sign", "-k", "cli-ecc", "hello world").out.strip()
    der = base64.b64decode(signature)
    public.verify(der, b"hello world", ec.ECDSA(hashes.SHA256()))  # what openssl checks
    assert cli("verify", "-k", "cli-ecc", "-s", signature, "hello world").out == "Verified OK\n"
    wrong = cli("verify", "-k", "cli-ecc", "-s", signature, "hello world!")
    assert wrong.failed(ExitCode.INVALID_SIGNATURE) == (
        "tessera: the signature does not verify with key 'cli-ecc'\n"
    )
    r, s = decode_dss_signature(der)  # PSA's raw r || s is accepted too
    raw = base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
    assert cli("verify", "-k", "cli-ecc", "--signature", raw, "hello world").code == 0
    signed = cli("--json", "sign", "-k", "cli-ecc", "json").json()
    assert signed["name"] == "cli-ecc"
    verified = cli("--json", "verify", "-k", "cli-ecc", "-s", signed["signature"], "json")
    assert verified.json() == {"name": "cli-ecc", "valid": True}

    assert cli("delete-key", "-k", "cli-ecc") == Result(0, "", "")
    assert "cli-ecc" not in cli("list-keys").out
    cli("create-ecc-key", "-k", "cli-ecc")
    assert cli("--json", "delete-key", "-k", "cli-ecc").json() == {
        "deleted_key": "cli-ecc",
        "provider": 1,
    }


def test_rsa_encryption_and_pkcs1_export(cli: Run) -> None:
    created = cli("--json", "create-rsa-key", "-k", "cli-rsa").json()  # the one RSA key
    assert (created["bits"], created["algorithm"]) == (
        2048,
        {"category": "asymmetric_encryption", "scheme": "rsa_pkcs1v15_crypt"},
    )
    assert created["usage"] == ["encrypt", "decrypt"]
    assert cli("export-public-key", "-k", "cli-rsa", "--pkcs1").out.startswith(
        "-----BEGIN RSA PUBLIC KEY-----\n"
    )
    public = serialization.load_pem_public_key(
        cli("export-public-key", "-k", "cli-rsa").out.encode()
    )
    assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048

    ciphertext = cli("encrypt", "-k", "cli-rsa", "secret text").out.strip()
    assert cli("decrypt", "-k", "cli-rsa", ciphertext).out == "secret text\n"
    outside = base64.b64encode(public.encrypt(b"from openssl", padding.PKCS1v15())).decode()
    assert cli("decrypt", "--key-name", "cli-rsa", outside).out == "from openssl\n"
    sealed = cli("--json", "encrypt", "-k", "cli-rsa", "json").json()["ciphertext"]
    opened = cli("--json", "decrypt", "-k", "cli-rsa", sealed).json()
    assert opened == {"name": "cli-rsa", "plaintext": base64.b64encode(b"json").decode()}


def test_create_csr(cli: Run) -> None:
    cli("create-ecc-key", "-k", "cli-csr")
    args = ["create-csr", "-k", "cli-csr", "--cn", "parallaxsecond.com", "--o", "Example"]
    args += ["--c", "GB", "--serialNumber", "EZ4U2CIXL", "--san", "localhost", "--san", "::1"]
    pem = cli(*args).out
    csr = x509.load_pem_x509_csr(pem.encode())
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == (
        "2.5.4.5=EZ4U2CIXL,C=GB,O=Example,CN=parallaxsecond.com"
    )
    assert csr.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == "EZ4U2CIXL"
    alt = csr.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    assert isinstance(alt, x509.SubjectAlternativeName)
    assert alt.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in alt.get_values_for_type(x509.IPAddress)] == ["::1"]
    public = serialization.load_pem_public_key(
        cli("export-public-key", "-k", "cli-csr").out.encode()
    )
    assert csr.public_key() == public

    plain = x509.load_pem_x509_csr(
        cli("--json", "create-csr", "-k", "cli-csr").json()["pem"].encode()
    )
    assert plain.is_signature_valid and len(plain.subject) == 0 and len(plain.extensions) == 0


def test_mac_and_export_key(cli: Run) -> None:
    created = cli("--json", "create-key", "-k", "cli-hmac", "--spec", "hmac-sha256", "--exportable")
    assert created.json()["algorithm"] == {"category": "mac", "scheme": "hmac", "hash": "sha256"}
    assert "export" in created.json()["usage"]
    secret = base64.b64decode(cli("export-key", "-k", "cli-hmac").out)
    assert cli("--json", "export-key", "-k", "cli-hmac").json() == {
        "name": "cli-hmac",
        "format": "base64",
        "data": base64.b64encode(secret).decode(),
    }
    tag = cli("mac", "-k", "cli-hmac", "data").out.strip()
    assert base64.b64decode(tag) == hmac.digest(secret, b"data", "sha256")
    assert cli("verify-mac", "-k", "cli-hmac", "-m", tag, "data").out == "Verified OK\n"
    assert cli("--json", "mac", "-k", "cli-hmac", "data").json()["mac"] == tag
    assert cli("--json", "verify-mac", "-k", "cli-hmac", "--mac", tag, "data").json()["valid"]
    cli("verify-mac", "-k", "cli-hmac", "-m", tag, "datA").failed(ExitCode.INVALID_SIGNATURE)

    cli("create-key", "-k", "cli-ecc-x", "--spec", "ecdsa-p256", "--exportable")
    exported = cli("--json", "export-key", "-k", "cli-ecc-x").json()
    assert exported["format"] == "pem"
    private = serialization.load_pem_private_key(exported["data"].encode(), None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)


def test_aead_encrypt_decrypt(cli: Run) -> None:
    cli("create-key", "-k", "cli-aes", "--spec", "aes-256-gcm")
    sealed = cli("encrypt", "-k", "cli-aes", "aead text").out.strip()
    assert cli("decrypt", "-k", "cli-aes", sealed).out == "aead text\n"
    tampered = bytearray(base64.b64decode(sealed))
    tampered[-1] ^= 1
    altered = cli("decrypt", "-k", "cli-aes", base64.b64encode(bytes(tampered)).decode())
    assert "altered" in altered.failed(ExitCode.INVALID_SIGNATURE)


def test_import_key(cli: Run, tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    imported = cli("--json", "import-key", "-k", "cli-imported", os.fspath(key_file)).json()
    assert imported["type"] == {"kind": "ecc_key_pair", "curve_family": "secp_r1"}
    signature = base64.b64decode(cli("sign", "-k", "cli-imported", "mine").out)
    private.public_key().verify(signature, b"mine", ec.ECDSA(hashes.SHA256()))

    public_file = tmp_path / "public.der"
    public_file.write_bytes(
        private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    assert cli("import-key", "-k", "cli-public", os.fspath(public_file)).code == 0
    outside = base64.b64encode(private.sign(b"theirs", ec.ECDSA(hashes.SHA256()))).decode()
    assert cli("verify", "-k", "cli-public", "-s", outside, "theirs").code == 0

    secret_file = tmp_path / "secret.bin"
    secret_file.write_bytes(bytes(range(32)))
    assert (
        cli("import-key", "-k", "cli-raw", "--spec", "hmac-sha256", os.fspath(secret_file)).code
        == 0
    )
    tag = base64.b64decode(cli("mac", "-k", "cli-raw", "x").out)
    assert tag == hmac.digest(bytes(range(32)), b"x", "sha256")
    message = cli("import-key", "-k", "cli-bad", os.fspath(secret_file)).failed(ExitCode.USAGE)
    assert "not a PEM or DER key" in message


def test_input_from_file_and_stdin(
    cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data.bin"
    data.write_bytes(b"\x00\xffbinary")
    assert cli("hash", "--input-file", os.fspath(data)).out.strip() == (
        hashlib.sha256(b"\x00\xffbinary").hexdigest()
    )
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"from stdin")))
    assert cli("hash", "-f", "-").out.strip() == hashlib.sha256(b"from stdin").hexdigest()


def test_admin_list_and_delete_client(cli: Run) -> None:
    assert cli("--app-name", "cli-alice", "create-ecc-key", "-k", "alice-key").code == 0
    assert "cli-alice" in cli("--app-name", "admin", "list-clients").out.splitlines()
    assert "cli-alice" in cli("--json", "--app-name", "admin", "list-clients").json()["clients"]
    assert cli("--app-name", "admin", "delete-client", "-c", "cli-alice") == Result(0, "", "")
    assert cli("--app-name", "cli-alice", "list-keys") == Result(0, "", "")
    assert cli("--json", "--app-name", "cli-alice", "list-keys").json() == {"keys": []}
    cli("--app-name", "cli-bob", "create-ecc-key", "-k", "bob-key")
    deleted = cli("--json", "--app-name", "admin", "delete-client", "--client", "cli-bob")
    assert deleted.json() == {"deleted_client": "cli-bob"}


# failures: one line on stderr, one exit code per family


@pytest.fixture(scope="module")
def signing_key(service: RunningService) -> str:
    """An ECC key for the failure tests (made once)."""
    assert (
        main(["--endpoint", f"unix:{service.socket_path}", "create-ecc-key", "-k", "cli-err"]) == 0
    )
    return "cli-err"


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["sign", "-k", "nope", "x"], ExitCode.NOT_FOUND, "no key named 'nope'"),
        (["-p", "1", "sign", "-k", "nope", "x"], ExitCode.NOT_FOUND, "in provider 1"),
        (["--app-name", "admin", "delete-client", "-c", "nobody"], ExitCode.NOT_FOUND, ""),
        (["create-ecc-key", "-k", "cli-err"], ExitCode.ALREADY_EXISTS, "already exists"),
        (["export-key", "-k", "cli-err"], ExitCode.NOT_PERMITTED, "PsaExportKey"),
        (["list-clients"], ExitCode.NOT_PERMITTED, "administrators"),
        (["-p", "9", "create-ecc-key", "-k", "x"], ExitCode.NOT_SUPPORTED, "provider"),
        (["verify", "-k", "cli-err", "-s", "A" * 88, "x"], ExitCode.INVALID_SIGNATURE, "'cli-err'"),
        (["decrypt", "-k", "cli-err", "not base64!"], ExitCode.USAGE, "DATA is not valid base64"),
        (["verify", "-k", "cli-err", "-s", "@@", "x"], ExitCode.USAGE, "--signature is not valid"),
        (["sign", "-k", "cli-err", "-f", "/nonexistent/x"], ExitCode.USAGE, "cannot read"),
        (["sign", "-k", "cli-err", "-f", "-", "x"], ExitCode.USAGE, "not both"),
        (["sign", "-k", "cli-err"], ExitCode.USAGE, "either as DATA"),
        (["encrypt", "-k", "cli-err", "x"], ExitCode.USAGE, "cannot encrypt"),
        (["export-public-key", "-k", "cli-err", "--pkcs1"], ExitCode.USAGE, "RSA keys only"),
        (["create-csr", "-k", "cli-err", "--c", "GBR"], ExitCode.USAGE, "--c"),
        (["sign", "x"], ExitCode.USAGE, "sign: the following arguments are required"),
        (["no-such-command"], ExitCode.USAGE, "invalid choice"),
        (["-p", "256", "ping"], ExitCode.USAGE, "provider ids are 0-255"),
        (["-t", "-1", "ping"], ExitCode.USAGE, "timeout"),
        (["create-rsa-key", "-k", "x", "--bits", "0"], ExitCode.USAGE, "positive"),
        (["--app-name", "", "list-keys"], ExitCode.USAGE, "app_name"),
    ],
)
def test_failures(cli: Run, signing_key: str, args: list[str], code: ExitCode, text: str) -> None:
    assert text in cli(*args).failed(code)


def test_bad_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--endpoint", "http://localhost/", "ping"]) == ExitCode.USAGE
    assert capsys.readouterr().err.startswith("tessera: endpoint 'http://localhost/'")


def test_timeout_and_malformed_answers(short_tmp: Path, capsys: pytest.CaptureFixture[str]) -> None:
    silent = socket.socket(socket.AF_UNIX)
    silent.bind(os.fspath(short_tmp / "silent.sock"))
    silent.listen()  # connections complete in the backlog, nobody answers
    noisy = socket.socket(socket.AF_UNIX)
    noisy.bind(os.fspath(short_tmp / "noisy.sock"))
    noisy.listen()

    def answer_garbage() -> None:
        connection, _ = noisy.accept()
        with connection:
            connection.recv(4096)
            connection.sendall(b"\xde\xad\xbe\xef" * 16)

    thread = threading.Thread(target=answer_garbage, daemon=True)
    thread.start()
    try:
        assert (
            main(["--endpoint", f"{short_tmp}/silent.sock", "-t", "0.2", "ping"])
            == ExitCode.TRANSPORT
        )
        assert capsys.readouterr().err.count("\n") == 1
        assert main(["--endpoint", f"{short_tmp}/noisy.sock", "ping"]) == ExitCode.PROTOCOL
        assert "malformed" in capsys.readouterr().err
    finally:
        thread.join(5)
        silent.close()
        noisy.close()


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_interrupt_broken_pipe_and_bugs_print_no_traceback(
    cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(self: tessera.OperationClient) -> tuple[int, int]:
        raise KeyboardInterrupt

    def buggy(self: tessera.OperationClient) -> tuple[int, int]:
        raise RuntimeError("boom")

    # `tessera ping` uses the operation client alone (quicker to import than Client).
    monkeypatch.setattr(tessera.OperationClient, "ping", interrupted)
    assert cli("ping") == Result(ExitCode.INTERRUPTED, "", "")
    monkeypatch.setattr(tessera.OperationClient, "ping", buggy)
    assert cli("ping").failed(ExitCode.INTERNAL) == "tessera: internal error: RuntimeError: boom\n"
    monkeypatch.undo()
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    closed = cli("generate-random", "-n", "8")
    assert (closed.code, closed.err) == (ExitCode.BROKEN_PIPE, "")


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "create-ecc-key" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("tessera ")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (tessera.AuthenticationError(), ExitCode.AUTHENTICATION),
        (tessera.NotAuthenticatedError(), ExitCode.AUTHENTICATION),
        (tessera.AuthenticatorNotRegisteredError(), ExitCode.AUTHENTICATION),
        (tessera.OpcodeDoesNotExistError(), ExitCode.NOT_SUPPORTED),
        (tessera.DeprecatedPrimitiveError(), ExitCode.NOT_SUPPORTED),
        (tessera.InvalidArgumentError(), ExitCode.SERVICE),
        (tessera.GenericError(), ExitCode.SERVICE),
        (tessera.CallTimeoutError("slow"), ExitCode.TRANSPORT),
        (tessera.ProtocolError("bad"), ExitCode.PROTOCOL),
        (tessera.UsageError("wrong"), ExitCode.USAGE),
        (ValueError("bug"), ExitCode.INTERNAL),
    ],
)
def test_exit_code_families(error: Exception, code: ExitCode) -> None:
    assert _errors.exit_code(error) == code


# as a process: exit codes and stderr end to end


def test_process_success_and_failures(endpoint: str, short_tmp: Path) -> None:
    done = subprocess_cli("--endpoint", endpoint, "--json", "ping")
    assert (done.returncode, json.loads(done.stdout), done.stderr) == (
        0,
        {"wire_protocol_version": "1.0", "major": 1, "minor": 0},
        "",
    )
    missing = subprocess_cli("--endpoint", endpoint, "sign", "-k", "absent", "data")
    assert (missing.returncode, missing.stdout) == (ExitCode.NOT_FOUND, "")
    assert missing.stderr == "tessera: no key named 'absent'\n"
    usage = subprocess_cli("--endpoint", endpoint, "sign", "data")
    assert usage.returncode == ExitCode.USAGE and usage.stderr.count("\n") == 1
    down = subprocess_cli("--endpoint", f"unix:{short_tmp}/absent.sock", "-t", "0.3", "ping")
    assert (down.returncode, down.stdout) == (ExitCode.TRANSPORT, "")
    assert (
        down.stderr.startswith("tessera: cannot reach the service") and down.stderr.count("\n") == 1
    )


def _spawn(*args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tessera.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_process_broken_pipe_is_quiet(endpoint: str) -> None:
    with _spawn("--endpoint", endpoint, "generate-random", "-n", "65536") as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # the reader goes away before the first byte is written
        stderr = process.stderr.read()
        assert process.wait(20) == ExitCode.BROKEN_PIPE
    assert stderr == b""


def test_process_interrupt_is_quiet(short_tmp: Path) -> None:
    silent = socket.socket(socket.AF_UNIX)
    silent.bind(os.fspath(short_tmp / "hang.sock"))
    silent.listen()
    silent.settimeout(20)
    with silent, _spawn("--endpoint", f"{short_tmp}/hang.sock", "ping") as process:
        connection, _ = silent.accept()  # the command now waits for an answer
        with connection:
            connection.recv(4096)
            process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=20)
    assert (process.returncode, stdout, stderr) == (ExitCode.INTERRUPTED, b"", b"")


def _as_other_user(state: Path) -> tuple[list[str], Callable[[], None]]:
    """How to run a process that may not enter `state` (the default state directory of a
    service run by someone else): as nobody when we are root, else with the directory closed."""
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("setpriv is needed to run a client as another user")
        return [setpriv, "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"], lambda: None
    state.chmod(0)
    return [], lambda: state.chmod(0o700)


def test_unreadable_default_socket_is_one_line(service: RunningService) -> None:
    """Issue 10: a user who may not use the default socket gets one line, no traceback."""
    assert service.socket_path == service.state_dir / "run" / "parsec.sock"
    prefix, restore = _as_other_user(service.state_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARSEC_", "TESSERA_"))}
    env["TESSERA_STATE_DIR"] = os.fspath(service.state_dir)
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    code = (
        "import tessera\n"
        "try:\n"
        "    tessera.Client().ping()\n"
        "except tessera.TesseraError as error:\n"
        "    print(type(error).__name__, error)\n"
    )

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, sys.executable, *args],
            capture_output=True,
            text=True,
            timeout=20,
            env=env,
            check=False,
        )

    try:
        done = run("-m", "tessera.cli.main", "ping")
        library = run("-c", code)
    finally:
        restore()
    assert (done.returncode, done.stdout) == (ExitCode.TRANSPORT, ""), done.stderr
    assert done.stderr.startswith(f"tessera: permission denied on {service.socket_path}: ")
    assert done.stderr.count("\n") == 1 and "group" in done.stderr
    assert (library.returncode, library.stderr) == (0, "")
    assert library.stdout.startswith(f"TransportError permission denied on {service.socket_path}")


def test_decrypt_keeps_binary_plaintext_intact(cli: Run, endpoint: str, tmp_path: Path) -> None:
    cli("create-key", "-k", "cli-aes-bin", "--spec", "aes-256-gcm")
    secret = bytes(range(256)) * 4  # not UTF-8
    source = tmp_path / "secret.bin"
    source.write_bytes(secret)
    sealed = cli("encrypt", "-k", "cli-aes-bin", "-f", os.fspath(source)).out.strip()
    written = tmp_path / "plain.bin"
    assert cli("decrypt", "-k", "cli-aes-bin", "-o", os.fspath(written), sealed).code == 0
    assert written.read_bytes() == secret
    assert written.stat().st_mode & 0o777 == 0o600
    command = [sys.executable, "-m", "tessera.cli.main", "--endpoint", endpoint, "decrypt"]
    piped = subprocess.run(
        [*command, "-k", "cli-aes-bin", sealed],
        capture_output=True,
        check=True,
    )
    assert piped.stdout == secret
    as_json = cli("--json", "decrypt", "-k", "cli-aes-bin", sealed).json()
    assert base64.b64decode(as_json["plaintext"]) == secret


def test_timeout_zero_waits_as_long_as_it_takes(cli: Run) -> None:
    assert cli("-t", "0", "ping").code == 0


@pytest.mark.parametrize(
    ("name", "reason"),
    [("", "cannot be empty"), ("a\x00b", "cannot contain NUL"), ("k" * 2000, "at most 1024")],
)
def test_a_key_name_the_service_refuses_is_explained(cli: Run, name: str, reason: str) -> None:
    refused = cli("create-ecc-key", "--key-name", name).failed(ExitCode.USAGE)
    assert reason in refused
    assert len(refused) < 200  # a 2000-character name is not echoed back whole


@pytest.mark.parametrize("bits", ["99999", "1000"])
def test_an_rsa_size_no_provider_holds_is_answered_with_the_sizes(cli: Run, bits: str) -> None:
    refused = cli("create-rsa-key", "--key-name", f"odd-{bits}", "--bits", bits)
    assert refused.code != 0 and refused.out == ""
    assert "2048, 3072 or 4096 bits" in refused.err and f"{bits} was asked for" in refused.err


def test_status_on_a_state_directory_closed_to_the_user_says_so(short_tmp: Path) -> None:
    """Issue 10: not 'no tessera up is running' when the user may not look."""
    state = short_tmp / "closed-state"
    state.mkdir(mode=0o700)
    prefix, restore = _as_other_user(state)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        for command in (["status"], ["down"], ["orchestrator", "status"]):
            where = ["--state-dir", os.fspath(state)]
            done = subprocess.run(
                [*prefix, sys.executable, "-m", "tessera.cli.main", *command, *where],
                capture_output=True,
                text=True,
                timeout=20,
                env=env,
                check=False,
            )
            assert done.returncode == ExitCode.NOT_PERMITTED, done
            assert "closed to uid" in done.stderr and done.stderr.count("\n") == 1
    finally:
        restore()


def test_random_over_the_buffer_limit_says_what_to_do(cli: Run) -> None:
    refused = cli("generate-random", "--nbytes", "2000000").failed(ExitCode.SERVICE)
    assert "buffer size limit" in refused and "2000000 bytes" in refused


def test_status_looks_where_the_exported_endpoint_points(
    service: RunningService, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The README exports the endpoint of a system on another state directory, then runs
    # `tessera status`: it looks there (a bare service is no `tessera up`: it says so, there).
    monkeypatch.setenv("PARSEC_SERVICE_ENDPOINT", f"unix:{service.socket_path}")
    assert main(["status"]) == ExitCode.NOT_FOUND
    said = capsys.readouterr().err
    assert f"no tessera up is running on {service.state_dir.resolve()}" in said


def test_rsa_encryption_of_too_much_says_how_much_fits(cli: Run, tmp_path: Path) -> None:
    cli("create-rsa-key", "--key-name", "cli-rsa-enc")
    data = tmp_path / "big.bin"
    data.write_bytes(b"x" * 3000)
    refused = cli("encrypt", "--key-name", "cli-rsa-enc", "-f", os.fspath(data))
    assert "at most 245 bytes" in refused.failed(ExitCode.USAGE)
    assert cli("encrypt", "--key-name", "cli-rsa-enc", "fits").code == 0


# The commands on a key, as a script runs them in a loop: each a fresh process that loads
# neither protobuf nor `cryptography` (benchmarks/cli_startup.py times them).
LEAN_FORBIDDEN = (
    "google",
    "cryptography",
    "tessera.wire.proto",
    "tessera.client._client",
    "tessera.client.specs",
    "dataclasses",
    "typing",
)


def _probed(endpoint: str, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the command in a fresh interpreter; what it printed, and the modules it loaded."""

    probe = (
        "import sys\nfrom tessera.cli.main import main\n"
        f"code = main(['--endpoint', {endpoint!r}, *{list(args)!r}])\n"
        "sys.stdout.flush()\nprint('MODULES', *sorted(sys.modules), file=sys.stderr)\n"
        "sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=probe_environment(),
        timeout=30,
        check=False,
    )
    err, _, modules = done.stderr.rpartition("MODULES ")
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout, err), set(
        modules.split()
    )


def test_commands_on_a_key_load_neither_protobuf_nor_cryptography(cli: Run, endpoint: str) -> None:
    cli("create-ecc-key", "-k", "lean-ecc")
    cli("create-key", "-k", "lean-aes", "--spec", "aes-256-gcm")
    cli("create-key", "-k", "lean-hmac", "--spec", "hmac-sha256")
    signature = cli("sign", "-k", "lean-ecc", "hello").out.strip()
    sealed = cli("encrypt", "-k", "lean-aes", "secret").out.strip()
    tag = cli("mac", "-k", "lean-hmac", "data").out.strip()
    runs = [
        (["sign", "-k", "lean-ecc", "hello"], 0, None),
        (["-p", "1", "sign", "-k", "lean-ecc", "hello"], 0, None),
        (["verify", "-k", "lean-ecc", "-s", signature, "hello"], 0, "Verified OK\n"),
        (["verify", "-k", "lean-ecc", "-s", signature, "hellO"], ExitCode.INVALID_SIGNATURE, ""),
        (["encrypt", "-k", "lean-aes", "secret"], 0, None),
        (["decrypt", "-k", "lean-aes", sealed], 0, "secret\n"),
        (["mac", "-k", "lean-hmac", "data"], 0, f"{tag}\n"),
        (["verify-mac", "-k", "lean-hmac", "-m", tag, "data"], 0, "Verified OK\n"),
        (["sign", "-k", "lean-nothing", "hello"], ExitCode.NOT_FOUND, ""),
        (["--json", "delete-key", "-k", "lean-hmac"], 0, None),
        (["delete-key", "-k", "lean-hmac"], ExitCode.NOT_FOUND, ""),
    ]
    for args, code, out in runs:
        done, modules = _probed(endpoint, *args)
        assert done.returncode == code, (args, done.stderr)
        assert out is None or done.stdout == out, args
        assert "tessera.client._keyflows" in modules  # it did run the key's flow
        forbidden: tuple[str, ...] = LEAN_FORBIDDEN
        if code == ExitCode.INVALID_SIGNATURE:  # the error is cryptography's InvalidSignature
            forbidden = ("google", "tessera.wire.proto", "tessera.client._client")
        assert offending(modules, forbidden) == [], args
    assert "lean-hmac" not in cli("list-keys").out  # (delete-key did delete it)
    # The signature a fresh process makes is a DER signature the key's public key verifies.
    done, _ = _probed(endpoint, "sign", "-k", "lean-ecc", "hello")
    public = serialization.load_pem_public_key(
        cli("export-public-key", "-k", "lean-ecc").out.encode()
    )
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(base64.b64decode(done.stdout), b"hello", ec.ECDSA(hashes.SHA256()))
