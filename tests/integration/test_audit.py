"""The service audits key use; `tessera audit` reads the log and reports the first break."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tessera.client.specs import ECDSA_P256
from tessera.wire.opcodes import Opcode
from tessera.wire.proto import psa_destroy_key_pb2, psa_sign_message_pb2
from tests.support import direct, request_bytes, running_service
from tests.unit.software.builders import A, sign


def tessera(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tessera.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_key_use_is_recorded_and_tampering_is_reported(short_tmp: Path) -> None:
    with running_service(short_tmp, "--auth", "direct") as service:
        service.generate_key("signing", ECDSA_P256.attributes(), direct("alice"))
        message = b"a message the log must never hold"
        body = psa_sign_message_pb2.Operation(
            key_name="signing", alg=sign("ecdsa", A.SHA_256), message=message
        )
        signed = service.call(
            request_bytes(Opcode.PSA_SIGN_MESSAGE, body, provider=1, **direct("alice"))
        )
        assert signed.header.status == 0
        refused = service.call(request_bytes(Opcode.LIST_CLIENTS, **direct("mallory")))
        assert refused.header.status != 0
        gone = psa_destroy_key_pb2.Operation(key_name="signing")
        service.call(request_bytes(Opcode.PSA_DESTROY_KEY, gone, provider=1, **direct("alice")))
        service.call(request_bytes(Opcode.PING))  # keyless: not audited
    state = ["--state-dir", str(short_tmp)]

    shown = tessera("--json", "audit", "show", "--app", "alice", *state)
    records = [json.loads(line) for line in shown.stdout.splitlines()]
    assert [(r["op"], r["status"]) for r in records] == [
        ("PsaGenerateKey", "SUCCESS"),
        ("PsaSignMessage", "SUCCESS"),
        ("PsaDestroyKey", "SUCCESS"),
    ]
    everything = (short_tmp / "audit").glob("audit-*.log")
    raw = b"".join(path.read_bytes() for path in everything)
    assert message not in raw and signed.body not in raw
    assert b"mallory" in raw and b"ADMIN_OPERATION" in raw

    verified = tessera("audit", "verify", *state)
    assert verified.returncode == 0, verified.stderr
    assert "the chain holds" in verified.stdout and "unsigned" not in verified.stdout

    log = next((short_tmp / "audit").glob("audit-*.log"))
    log.write_bytes(log.read_bytes().replace(b'"op":"PsaSignMessage"', b'"op":"PsaVerifyMessage"'))
    broken = tessera("audit", "verify", *state)
    assert broken.returncode == 10
    assert broken.stderr.startswith("tessera: the chain breaks at ")
    assert ", line 3: does not follow" in broken.stderr  # record 2 was edited
    assert broken.stderr.count("\n") == 1
