"""What the CLI computes without the standard modules it no longer imports at start-up gives
what those modules give (tests/unit/cli/test_startup_imports.py checks they stay unimported)."""

from __future__ import annotations

import base64
import binascii
import os
import random
import shutil

import pytest

from tessera.cli._commands import terminal_width
from tessera.cli._common import b64, decode_base64, read_file
from tessera.cli._errors import CliError
from tessera.cli._psa_names import hash_name
from tessera.cli.crypto_cmd import hashes
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm


def test_hash_choices_are_protobufs_hash_values() -> None:
    from_protobuf = {
        hash_name(value): value for value in Algorithm.Hash.values() if value != Algorithm.HASH_NONE
    }
    assert from_protobuf == hashes()
    assert hashes()["sha256"] == Algorithm.SHA_256


@pytest.mark.parametrize("columns", [None, "", "abc", "0", "-3", "1", "132"])
def test_terminal_width_is_shutils(monkeypatch: pytest.MonkeyPatch, columns: str | None) -> None:
    if columns is None:
        monkeypatch.delenv("COLUMNS", raising=False)
    else:
        monkeypatch.setenv("COLUMNS", columns)
    assert terminal_width() == shutil.get_terminal_size().columns


def test_base64_input_is_read_as_base64_validating_reads_it() -> None:
    rng = random.Random(7)
    texts = ["", "AAAA", "AA==", "AA=", "A===", "AAAA====", "QUJD\nREVG", " QUJD ", "QU JD"]
    texts += ["é", "AA\u00e9=", "A-_B", "AB+/", "AB+/=", "====", "YQ", "YQ=x", "\x00"]
    alphabet = "ABCZabcz019+/=-_ \n.é"
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(12))) for _ in range(3000)]
    texts += [base64.b64encode(rng.randbytes(rng.randrange(40))).decode() for _ in range(300)]
    for text in texts:
        try:
            expected: bytes | None = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError):
            expected = None
        try:
            got: bytes | None = decode_base64(text, "DATA")
        except CliError as error:
            assert str(error) == "DATA is not valid base64"
            got = None
        assert got == expected, repr(text)


def test_base64_output_is_base64s() -> None:
    for data in (b"", b"a", b"ab", b"abc", bytes(range(256)), os.urandom(1000)):
        assert b64(data) == base64.b64encode(data).decode("ascii")


def test_read_file_reads_bytes_and_refuses_in_one_line(tmp_path: os.PathLike[str]) -> None:
    path = os.path.join(tmp_path, "in.bin")
    with open(path, "wb") as file:
        file.write(b"\x00\xffdata")
    assert read_file(path) == b"\x00\xffdata"
    with pytest.raises(CliError, match=r"^cannot read .*missing: No such file or directory$"):
        read_file(os.path.join(tmp_path, "missing"))
    with pytest.raises(CliError, match="Is a directory"):
        read_file(os.fspath(tmp_path))
