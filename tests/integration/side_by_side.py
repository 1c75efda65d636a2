"""Helpers for running the documented examples against two services and comparing what they
give: the `tessera` command in-process, the documentation's code blocks, and checks that turn
randomized results (signatures, ciphertexts) into comparable facts."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tessera.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Target:
    """One service under comparison."""

    name: str  # "parsec" or "tessera"
    endpoint: str


@dataclass(frozen=True)
class Result:
    """One run of the command: exit code, stdout, stderr."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        """stdout as the one JSON line it must be."""
        assert self.code == 0 and self.out.count("\n") == 1, self
        return json.loads(self.out)

    def failure(self) -> tuple[int, str]:
        """(exit code, message) of a failure, checked to be one stderr line and no stdout."""
        assert self.code != 0 and self.out == "", self
        assert self.err.startswith("tessera: ") and self.err.count("\n") == 1, self
        return self.code, self.err.removeprefix("tessera: ").strip()


class Cli:
    """`tessera ARGS...` in-process against one target, found through PARSEC_SERVICE_ENDPOINT
    as docs/cli.md sets it up; `app` adds `--app-name`."""

    def __init__(
        self,
        target: Target,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
        app: str | None = None,
    ) -> None:
        self.target = target
        self._capsys = capsys
        self._monkeypatch = monkeypatch
        self._app = app

    def __call__(self, *args: str) -> Result:
        self._monkeypatch.setenv("PARSEC_SERVICE_ENDPOINT", self.target.endpoint)
        prefix = ["--app-name", self._app] if self._app else []
        self._capsys.readouterr()
        code = main([*prefix, *args])
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def ok(self, *args: str) -> str:
        """Run a command that must succeed quietly on stderr; its stdout."""
        result = self(*args)
        assert (result.code, result.err) == (0, ""), (self.target.name, args, result)
        return result.out


def code_block(document: str, heading: str, language: str, index: int = 0) -> str:
    """The `index`th ```language block under `heading` in a document of the repository."""
    text = (ROOT / document).read_text()
    section = text.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    return section.split(f"```{language}\n")[index + 1].split("```", 1)[0]


def public_pem(pem: str) -> tuple[str, int]:
    """What a PEM public key is: ("ec", bits) with the curve's name, or ("rsa", bits)."""
    key = serialization.load_pem_public_key(pem.encode())
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ec {key.curve.name}", key.curve.key_size
    assert isinstance(key, rsa.RSAPublicKey), key
    return "rsa", key.key_size


def check_signature(pem: str, signature_b64: str, message: bytes, scheme: str) -> str:
    """'valid' if `signature_b64` (as `tessera sign` prints it) verifies with cryptography
    alone, as openssl would check it; else 'invalid'."""
    key = serialization.load_pem_public_key(pem.encode())
    signature = base64.b64decode(signature_b64)
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey) and scheme == "pss":
            pss = padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.AUTO)
            key.verify(signature, message, pss, hashes.SHA256())
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise AssertionError(f"no check for {type(key).__name__}")
    except InvalidSignature:
        return "invalid"
    return "valid"


def csr_facts(pem: str) -> tuple[bool, str, list[str]]:
    """A PEM certificate request: signature valid, subject, subject alternative names."""
    csr = x509.load_pem_x509_csr(pem.encode())
    try:
        names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        alternative = [str(name.value) for name in names]
    except x509.ExtensionNotFound:
        alternative = []
    return csr.is_signature_valid, csr.subject.rfc4514_string(), alternative


RANDOM_HEX = re.compile(r"^(?:[0-9A-F]{2} )+$")
