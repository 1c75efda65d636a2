"""The protobuf contracts: one per opcode, byte-compatible, and generated modules not stale."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tessera.wire.contracts import OPERATIONS, decode_operation
from tessera.wire.opcodes import PARSEC_OPCODES, TESSERA_OPCODES, Opcode
from tessera.wire.proto import list_opcodes_pb2, ping_pb2, psa_algorithm_pb2, psa_sign_hash_pb2
from tessera.wire.status import Status, StatusError

SRC = Path(__file__).resolve().parents[3] / "src"
PROTO_DIR = SRC / "tessera" / "wire" / "proto"


def test_every_opcode_has_a_contract() -> None:
    assert set(OPERATIONS) == set(Opcode)
    assert all(spec.opcode is op for op, spec in OPERATIONS.items())
    assert len(PARSEC_OPCODES) == 31
    assert all(op > 0xFFFF for op in TESSERA_OPCODES)  # outside Parsec's range


def test_known_encodings() -> None:
    assert ping_pb2.Result(wire_protocol_version_maj=1).SerializeToString() == b"\x08\x01"
    packed = list_opcodes_pb2.Result(opcodes=[1, 3, 2, 6]).SerializeToString()
    assert packed == bytes.fromhex("0a0401030206")


def test_nested_algorithm_encoding_matches_parsec_field_numbers() -> None:
    # sign_hash { key_name=1: "k", alg=2: { ecdsa=4: { hash_alg=1: { specific=2: SHA_256(7) }}}}
    op = psa_sign_hash_pb2.Operation(
        key_name="k",
        alg=psa_algorithm_pb2.Algorithm.AsymmetricSignature(
            ecdsa=psa_algorithm_pb2.Algorithm.AsymmetricSignature.Ecdsa(
                hash_alg=psa_algorithm_pb2.Algorithm.AsymmetricSignature.SignHash(
                    specific=psa_algorithm_pb2.Algorithm.SHA_256
                )
            )
        ),
        hash=b"\x01",
    )
    assert op.SerializeToString() == bytes.fromhex("0a016b120622040a0210071a0101")


def test_undecodable_body_is_deserializing_body_failed() -> None:
    with pytest.raises(StatusError) as caught:
        decode_operation(Opcode.LIST_OPCODES, b"\xff\xff\xff")
    assert caught.value.status is Status.DESERIALIZING_BODY_FAILED


def test_invalid_utf8_in_string_field_is_refused() -> None:
    with pytest.raises(StatusError) as caught:
        decode_operation(Opcode.DELETE_CLIENT, b"\x0a\x02\xff\xfe")
    assert caught.value.status is Status.DESERIALIZING_BODY_FAILED


def test_generated_modules_are_not_stale(tmp_path: Path) -> None:
    """Regenerate from the .proto files; the committed modules must be identical."""
    pytest.importorskip("grpc_tools")
    script = SRC.parent / "scripts" / "gen-proto"
    subprocess.run(
        [str(script), str(tmp_path)], check=True, env={**os.environ, "PYTHON": sys.executable}
    )
    generated = tmp_path / "tessera" / "wire" / "proto"
    names = sorted(p.name for p in generated.iterdir())
    committed = sorted(
        p.name for p in PROTO_DIR.iterdir() if p.name.endswith(("_pb2.py", "_pb2.pyi"))
    )
    assert names == committed, "run scripts/gen-proto: generated files are missing or extra"
    _, mismatch, errors = filecmp.cmpfiles(generated, PROTO_DIR, names, shallow=False)
    assert not mismatch and not errors, f"stale modules, run scripts/gen-proto: {mismatch}"
