"""Parsec's own end-to-end suite against the PKCS#11 provider, on a temporary SoftHSM2 token.

Set up as `test_parsec_e2e.py` sets up the software provider (direct authentication, admin
"root", `allow_deprecated`, `parsec_compatible`, an empty key store), with the PKCS#11 provider
as provider 1 and `allow_export = true` (the suite exports keys it made with the export flag).
Everything the token can do passes; exactly the tests needing what SoftHSM2 lacks fail, and
docs/compatibility.md lists each of them with the reason.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.client_support import short_dir
from tests.integration.pkcs11_support import make_token, require_softhsm
from tests.integration.test_parsec_e2e import PARSEC_REFERENCE_PASSED, failures, run_suite
from tests.interop import require
from tests.support import start_service, stop_service

pytestmark = pytest.mark.integration

_DOCS = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
_AEAD = "per_provider::normal_tests::aead::"
_ASYM = "per_provider::normal_tests::asym_encryption::"

# The suite's tests that need what SoftHSM2 does not implement, and why.
TOKEN_LIMITS = {
    _AEAD + "simple_aead_encrypt_ccm": "no AES-CCM",
    _AEAD + "aead_encrypt_ccm_encrypt": "no AES-CCM",
    _AEAD + "aead_encrypt_ccm_encrypt_not_equal": "no AES-CCM",
    _AEAD + "aead_encrypt_ccm_decrypt": "no AES-CCM",
    _AEAD + "aead_encrypt_ccm_decrypt_not_equal": "no AES-CCM",
    _AEAD + "aead_encrypt_ccm_encrypt_decrypt": "no AES-CCM",
    _ASYM + "simple_asym_decrypt_oaep_with_salt": "OAEP decryption with SHA-1 only, no label",
    _ASYM + "asym_encrypt_verify_decrypt_with_rsa_crate_oaep": "OAEP decryption: SHA-1 only",
}

CONFIG = """\
[core_settings]
allow_deprecated = true
parsec_compatible = true

[authenticator]
auth_types = ["direct"]
admins = [{ name = "root" }]

"""


def documented_token_limits() -> set[str]:
    """The suite's test names docs/compatibility.md lists as the token's limits."""
    text = _DOCS.read_text(encoding="utf-8")
    section = text.split("### Against the PKCS#11 provider", 1)[1].split("\n## ", 1)[0]
    return {_AEAD + name for name in re.findall(r"`aead::(\w+)`", section)} | {
        _ASYM + name for name in re.findall(r"`asym_encryption::(\w+)`", section)
    }


def test_the_documented_limits_are_the_expected_failures() -> None:
    assert documented_token_limits() == set(TOKEN_LIMITS)


def test_parsec_normal_tests_against_softhsm2() -> None:
    require("parsec-e2e")
    require_softhsm()
    with short_dir() as state:
        token = make_token(state / "hsm")
        config = state / "config.toml"
        config.write_text(CONFIG + token.provider_table(provider_id=1, allow_export=True))
        socket_path = state / "run" / "parsec.sock"
        service = start_service(state / "d", config=config, socket_path=socket_path, env=token.env)
        try:
            counts, output = run_suite(socket_path, "normal_tests", "--test-threads=2")
            assert service.alive()
        finally:
            stop_service(service)
    failed = set(failures(output))
    assert failed == set(TOKEN_LIMITS), (
        f"unexpected failures: {sorted(failed - set(TOKEN_LIMITS))}; "
        f"unexpected passes: {sorted(set(TOKEN_LIMITS) - failed)}\n{output[-6000:]}"
    )
    assert counts["passed"] == PARSEC_REFERENCE_PASSED - len(TOKEN_LIMITS)
