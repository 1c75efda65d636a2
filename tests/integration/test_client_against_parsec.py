"""Tessera's CLI and client library against Parsec's own service, side by side with Tessera's.

The documented examples run against both services and must give the same results: the README's
"Use it from the shell" and "Use it from Python" blocks as written, and the examples of
docs/cli.md and docs/client.md (transcribed: their blocks are illustrations, not one script).
Signatures and ciphertexts are random, so they are compared as facts checked with
`cryptography` alone (the signature verifies, the plaintext comes back).

Parsec 1.1.0 (Mbed Crypto provider) cannot do everything Tessera does. Each such case is named
below (PARSEC_CANNOT...) and checked to fail as the client documents it, in one line, so the
lists cannot go stale unnoticed. Both services are set up alike: direct authentication only,
administrator "root". Each test authenticates as its own application.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import shlex
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

import tessera
from tessera.client import specs
from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
from tests.integration.client_support import hash_of, psa_to_der, short_dir, verify_locally
from tests.integration.side_by_side import (
    RANDOM_HEX,
    Cli,
    Target,
    check_signature,
    code_block,
    csr_facts,
    public_pem,
)
from tests.interop import running_parsec
from tests.support import running_service

pytestmark = pytest.mark.integration

Observations = dict[str, Any]


@pytest.fixture(scope="module")
def targets() -> Iterator[tuple[Target, Target]]:
    """Parsec's service and Tessera's, each with direct authentication and admin "root"."""
    with (
        short_dir() as base,
        running_parsec(base / "parsec.sock", base / "parsec") as parsec,
        running_service(base / "tessera", "--auth", "direct", "--admin", "root") as ours,
    ):
        yield (
            Target("parsec", f"unix:{parsec.socket_path}"),
            Target("tessera", f"unix:{ours.socket_path}"),
        )


Clis = Callable[[str | None], tuple[Cli, Cli]]


@pytest.fixture
def clis(
    targets: tuple[Target, Target],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Clis:
    """(Parsec's, Tessera's) command runners, as application `app` (None: the CLI's default)."""

    def make(app: str | None) -> tuple[Cli, Cli]:
        parsec, ours = targets
        return Cli(parsec, capsys, monkeypatch, app), Cli(ours, capsys, monkeypatch, app)

    return make


def same(observe: Callable[[Any], Observations], parsec: Any, ours: Any) -> Observations:
    """Run one scenario against both services; they must observe the same things."""
    on_parsec, on_tessera = observe(parsec), observe(ours)
    assert on_parsec == on_tessera
    return on_tessera


# README: "Use it from the shell", as written


def test_readme_shell_example(clis: Clis) -> None:
    block = code_block("README.md", "## Use it from the shell", "sh")
    commands = [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]
    assert all(argv[0] == "tessera" for argv in commands)

    def observe(cli: Cli) -> Observations:
        out = {" ".join(argv[1:]): cli.ok(*argv[1:]) for argv in commands}
        pem = out["export-public-key --key-name signing"]
        seen = {
            "ping": out["ping"],
            "create": out["create-ecc-key --key-name signing"],
            "signature": check_signature(pem, out["sign --key-name signing hello"], b"hello", ""),
            "public key": public_pem(pem),
            "list-keys": cli("--json", "list-keys").json(),
        }
        assert out["--json list-keys"] == cli("--json", "list-keys").out
        cli.ok("delete-key", "--key-name", "signing")
        return seen

    seen = same(observe, *clis(None))
    assert seen["ping"] == "1.0\n" and seen["signature"] == "valid"
    assert seen["list-keys"] == {
        "keys": [
            {
                "name": "signing",
                "provider": 1,
                "type": {"kind": "ecc_key_pair", "curve_family": "secp_r1"},
                "bits": 256,
                "algorithm": {
                    "category": "asymmetric_signature",
                    "scheme": "ecdsa",
                    "hash": "sha256",
                },
                "usage": ["sign_message", "verify_message", "sign_hash", "verify_hash"],
            }
        ]
    }


# README: "Use it from Python", as written


def test_readme_python_example(
    targets: tuple[Target, Target], monkeypatch: pytest.MonkeyPatch
) -> None:
    example = code_block("README.md", "## Use it from Python", "python")
    named = example.replace("tessera.Client()", 'tessera.Client(app_name="readme-python")')
    assert named != example

    def observe(target: Target) -> Observations:
        monkeypatch.setenv("PARSEC_SERVICE_ENDPOINT", target.endpoint)
        # Both services take direct authentication only: without a name, the client says so.
        with pytest.raises(tessera.UsageError) as unnamed:
            exec(compile(example, "README.md", "exec"), {})
        names: dict[str, Any] = {}
        exec(compile(named, "README.md", "exec"), names)
        public = names["public"]
        assert isinstance(public, ec.EllipticCurvePublicKey)
        public.verify(psa_to_der(names["signature"]), b"hello", ec.ECDSA(hashes.SHA256()))
        # The example destroys its key, so it runs again as it is.
        with (
            tessera.Client(app_name="readme-python") as client,
            pytest.raises(tessera.DoesNotExistError),
        ):
            client.key("greeting")
        exec(compile(named, "README.md", "exec"), {})
        return {"unnamed": str(unnamed.value), "curve": public.curve.name}

    seen = same(observe, *targets)
    assert "pass app_name=" in seen["unnamed"]


# docs/cli.md


def test_cli_service_information(clis: Clis) -> None:
    def observe(cli: Cli) -> Observations:
        cli.ok("create-ecc-key", "--key-name", "signing")
        core = cli("--json", "list-opcodes", "--provider", "0").json()
        crypto = cli("--json", "list-opcodes").json()
        seen = {
            "ping": cli.ok("ping"),
            "json ping": cli("--json", "ping").json(),
            "providers": [p["id"] for p in cli("--json", "list-providers").json()["providers"]],
            "authenticators": cli("--json", "list-authenticators").json(),
            "core opcodes": core,
            "crypto provider": crypto["provider"],
            "list-keys": cli.ok("list-keys"),
        }
        for authenticator in seen["authenticators"]["authenticators"]:
            del authenticator["description"], authenticator["version"]  # the service's own
        text = cli.ok("list-opcodes", "--provider", "0").splitlines()
        assert text == [f"0x{op['id']:02x} ({op['name']})" for op in core["opcodes"]]
        assert {"PsaSignHash", "PsaVerifyHash", "PsaHashCompute", "CanDoCrypto"} <= {
            op["name"] for op in crypto["opcodes"]
        }
        return seen

    seen = same(observe, *clis("cli-info"))
    assert seen["json ping"] == {"wire_protocol_version": "1.0", "major": 1, "minor": 0}
    assert seen["providers"] == [1, 0] and seen["crypto provider"] == 1
    assert seen["authenticators"] == {
        "authenticators": [{"id": 1, "name": "Direct authentication"}]
    }
    assert seen["list-keys"] == (
        "* signing (provider 1): ECC key pair (secp256r1), 256 bits; permitted algorithm: "
        "ECDSA with SHA-256; usage: sign_message, verify_message, sign_hash, verify_hash\n"
    )


def _key_files(directory: Path) -> tuple[Path, Path]:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = directory / "key.pem"
    pem.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    secret = directory / "secret.bin"
    secret.write_bytes(bytes(range(32)))
    return pem, secret


# What Parsec 1.1.0 cannot do among docs/cli.md's examples: (exit code, start of the message).
PARSEC_CANNOT_CLI = {
    # Mbed Crypto makes RSA keys of 1024, 2048 and 4096 bits only.
    "create oaep": (9, "no provider can generate key 'oaep': CanDoCrypto said no (provider 1)"),
    # No MAC operations in Parsec's Mbed Crypto provider (nor in parsec-interface 0.27).
    "mac": (9, "PsaMacCompute on key 'mac' failed: the opcode is unknown"),
}


def _cli_keys(cli: Cli, files: tuple[Path, Path]) -> Observations:
    """docs/cli.md "Keys", in its order (the deletion moved to the end)."""
    key_pem, secret = files
    outcome = {
        "create signing": cli("create-ecc-key", "--key-name", "signing"),
        "create decrypting": cli("create-rsa-key", "--key-name", "decrypting"),
        "create oaep": cli("create-rsa-key", "-k", "oaep", "--oaep", "--bits", "3072"),
        "create rsa-sign": cli("create-rsa-key", "-k", "rsa-sign", "--for-signing"),
        "create rsa-pss": cli("create-rsa-key", "-k", "rsa-pss", "--for-signing-pss"),
        "create mac": cli(
            "create-key", "--key-name", "mac", "--spec", "hmac-sha256", "--exportable"
        ),
        "import": cli("import-key", "--key-name", "imported", str(key_pem)),
        "import secret": cli(
            "import-key", "--key-name", "secret", "--spec", "aes-256-gcm", str(secret)
        ),
    }
    seen: Observations = {what: result for what, result in outcome.items()}
    seen["signing.pem"] = public_pem(cli.ok("export-public-key", "--key-name", "signing"))
    pkcs1 = cli.ok("export-public-key", "--key-name", "decrypting", "--pkcs1")
    seen["pkcs1"] = pkcs1.splitlines()[0]
    seen["export mac"] = len(base64.b64decode(cli.ok("export-key", "--key-name", "mac")))
    seen["imported"] = public_pem(cli.ok("export-public-key", "--key-name", "imported"))
    seen["keys"] = {k["name"]: k for k in cli("--json", "list-keys").json()["keys"]}
    return seen


def _cli_cryptography(cli: Cli) -> Observations:
    """docs/cli.md "Cryptography", with the other signing keys and the AEAD key too."""
    pem = cli.ok("export-public-key", "--key-name", "signing")
    signature = cli.ok("sign", "--key-name", "signing", "hello").strip()
    ciphertext = cli.ok("encrypt", "--key-name", "decrypting", "secret").strip()
    sealed = cli.ok("encrypt", "--key-name", "secret", "aead text").strip()
    tampered = bytearray(base64.b64decode(sealed))
    tampered[-1] ^= 1
    seen: Observations = {
        "random": bool(RANDOM_HEX.match(cli.ok("generate-random", "--nbytes", "16"))),
        "openssl check": check_signature(pem, signature, b"hello", ""),
        "verify": cli.ok("verify", "--key-name", "signing", "--signature", signature, "hello"),
        "forged": cli("verify", "-k", "signing", "-s", signature, "hellO").failure(),
        "decrypt": cli.ok("decrypt", "--key-name", "decrypting", ciphertext),
        "aead": cli.ok("decrypt", "--key-name", "secret", sealed),
        "aead tampered": cli(
            "decrypt", "-k", "secret", base64.b64encode(tampered).decode()
        ).failure(),
        "mac": cli("mac", "--key-name", "mac", "data"),
    }
    if seen["mac"].code == 0:  # not on Parsec: PARSEC_CANNOT_CLI
        secret = base64.b64decode(cli.ok("export-key", "--key-name", "mac"))
        tag = seen["mac"].out.strip()
        assert base64.b64decode(tag) == hmac.digest(secret, b"data", "sha256")
        assert cli.ok("verify-mac", "--key-name", "mac", "--mac", tag, "data") == "Verified OK\n"
    for algorithm in ("sha256", "sha512", "sha3-256", "sha512-256"):
        seen[f"hash {algorithm}"] = cli.ok("hash", "--alg", algorithm, "abc")
    for name, scheme in (("rsa-sign", "pkcs1v15"), ("rsa-pss", "pss"), ("imported", "")):
        key_pem = cli.ok("export-public-key", "--key-name", name)
        made = cli.ok("sign", "--key-name", name, "hello").strip()
        seen[f"sign {name}"] = check_signature(key_pem, made, b"hello", scheme)
        seen[f"verify {name}"] = cli.ok("verify", "-k", name, "-s", made, "hello")
    return seen


def test_cli_keys_and_cryptography(clis: Clis, tmp_path: Path) -> None:
    files = _key_files(tmp_path)
    parsec, ours = clis("cli-keys")
    on_parsec = {**_cli_keys(parsec, files), **_cli_cryptography(parsec)}
    on_tessera = {**_cli_keys(ours, files), **_cli_cryptography(ours)}

    for what, (code, start) in PARSEC_CANNOT_CLI.items():
        failure = on_parsec.pop(what).failure()
        assert failure[0] == code and failure[1].startswith(start), failure
        assert on_tessera.pop(what).code == 0
    on_parsec["keys"].pop("oaep", None)  # see PARSEC_CANNOT_CLI
    on_tessera["keys"].pop("oaep")
    assert on_parsec == on_tessera
    assert on_tessera["signing.pem"] == ("ec secp256r1", 256)
    assert on_tessera["pkcs1"] == "-----BEGIN RSA PUBLIC KEY-----"
    assert on_tessera["keys"]["mac"]["usage"][0] == "export" and on_tessera["export mac"] == 32
    assert on_tessera["hash sha3-256"] == hashlib.sha3_256(b"abc").hexdigest() + "\n"
    assert on_tessera["forged"] == (10, "the signature does not verify with key 'signing'")
    assert on_tessera["aead tampered"][0] == 10
    assert {on_tessera[f"sign {k}"] for k in ("rsa-sign", "rsa-pss", "imported")} == {"valid"}
    assert on_tessera["decrypt"] == "secret\n" and on_tessera["aead"] == "aead text\n"


def test_cli_certificate_request(clis: Clis) -> None:
    def observe(cli: Cli) -> Observations:
        cli.ok("create-ecc-key", "--key-name", "signing")
        pem = cli.ok(
            "create-csr", "--key-name", "signing", "--cn", "example.com", "--o", "Example Ltd",
            "--c", "GB", "--serialNumber", "EZ4U2CIXL", "--san", "example.com",
            "--san", "192.0.2.1",
        )  # fmt: skip
        return {"csr": csr_facts(pem)}

    seen = same(observe, *clis("cli-csr"))
    assert seen["csr"] == (
        True,
        "2.5.4.5=EZ4U2CIXL,C=GB,O=Example Ltd,CN=example.com",
        ["example.com", "192.0.2.1"],
    )


def test_cli_administration_and_exit_codes(clis: Clis) -> None:
    def observe(app: Cli, admin: Cli) -> Observations:
        app.ok("create-ecc-key", "-k", "signing")
        seen = {
            "exists": app("create-ecc-key", "-k", "signing").failure(),
            "missing": app("sign", "-k", "nothing", "x").failure(),
            "not admin": app("list-clients").failure()[0],
            "unknown provider": app("-p", "9", "hash", "abc").failure()[0],
            "listed": "cli-admin-app" in admin.ok("list-clients").splitlines(),
            "deleted": admin("--json", "delete-client", "--client", "cli-admin-app").json(),
        }
        seen["keys after"] = app.ok("list-keys")
        return seen

    parsec, ours = clis("cli-admin-app")
    parsec_admin, our_admin = clis("root")
    on_parsec, on_tessera = observe(parsec, parsec_admin), observe(ours, our_admin)
    assert on_parsec == on_tessera
    assert on_tessera == {
        "exists": (
            6,
            "PsaGenerateKey on key 'signing' failed: a key with this name already exists "
            "(PSA_ERROR_ALREADY_EXISTS)",
        ),
        "missing": (5, "no key named 'nothing'"),
        "not admin": 7,
        "unknown provider": 9,
        "listed": True,
        "deleted": {"deleted_client": "cli-admin-app"},
        "keys after": "",
    }


# docs/client.md


# What Parsec 1.1.0 cannot do among docs/client.md's keys: the exception each use raises.
PARSEC_CANNOT_KEYS = {
    "ecdsa-p384": "NotSupportedError",  # Mbed Crypto refuses to make the key
    "ed25519": "NotSupportedError",  # PSA 1.1's EdDSA: Parsec cannot even decode it
    "rsa-3072-pss": "NotSupportedError",  # RSA keys of 1024, 2048, 4096 bits only
    "rsa-3072-oaep": "NotSupportedError",
    "hmac-sha256": "OpcodeDoesNotExistError",  # made, but no MAC operations
}
SIGNING = [
    tessera.ECDSA_P256,
    tessera.ECDSA_P384,
    tessera.ECDSA_P521,
    tessera.ED25519,
    tessera.RSA_3072_PSS,
    specs.rsa_pss(2048),
    specs.rsa_pkcs1v15_sign(2048, Algorithm.SHA_384),
]
ENCRYPTING = [
    tessera.RSA_3072_OAEP,
    specs.rsa_oaep(2048),
    tessera.AES_256_GCM,
    specs.aes_gcm(128),
    tessera.CHACHA20_POLY1305,
]


def _signing(client: tessera.Client, spec: tessera.KeySpec) -> str:
    key = client.generate_key(spec.name, spec)
    public = key.public_key()
    signature = key.sign(b"message")
    key.verify(signature, b"message")
    verify_locally(public, spec, signature, b"message")
    with pytest.raises(tessera.InvalidSignatureError):
        key.verify(signature, b"messagE")
    if spec is not tessera.ED25519:  # hash-and-sign: the caller hashes with the key's hash
        message_digest = _digest(spec, b"message")
        made = key.sign_digest(message_digest)
        key.verify_digest(made, message_digest)
        verify_locally(public, spec, made, b"message")
    csr = key.certificate_request("CN=app,O=Example", ["app.example"])
    assert csr.is_signature_valid and csr.public_key() == public
    return "signed"


def _digest(spec: tessera.KeySpec, data: bytes) -> bytes:
    hasher = hashes.Hash(hash_of(spec))
    hasher.update(data)
    return hasher.finalize()


def _encrypting(client: tessera.Client, spec: tessera.KeySpec) -> str:
    key = client.generate_key(spec.name, spec)
    sealed = key.encrypt(b"plain", b"associated")
    assert key.decrypt(sealed, b"associated") == b"plain"
    if spec.algorithm.WhichOneof("variant") == "aead":
        with pytest.raises(tessera.InvalidSignatureError):
            key.decrypt(sealed[:-1] + bytes([sealed[-1] ^ 1]), b"associated")
    return "encrypted"


def _other_keys(client: tessera.Client) -> Observations:
    seen: Observations = {}
    try:
        key = client.generate_key("hmac-sha256", tessera.HMAC_SHA256)
        key.verify_mac(b"data", key.mac(b"data"))
        seen["hmac-sha256"] = "authenticated"
    except tessera.TesseraError as error:
        seen["hmac-sha256"] = type(error).__name__
    ecdh = client.generate_key("ecdh", tessera.ECDH_P256)
    peer = ec.generate_private_key(ec.SECP256R1())
    shared = peer.exchange(ec.ECDH(), ecdh.public_key())  # type: ignore[arg-type]
    seen["ecdh-p256"] = ecdh.agree(peer.public_key()) == shared
    x = client.generate_key("x25519", tessera.X25519)
    other = x25519.X25519PrivateKey.generate()
    public = x.public_key()
    assert isinstance(public, x25519.X25519PublicKey)
    seen["x25519"] = x.agree(other.public_key()) == other.exchange(public)
    exportable = client.generate_key("exportable", tessera.ECDSA_P256.exportable())
    private = serialization.load_der_private_key(_pkcs8_from_scalar(exportable.export()), None)
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    seen["export"] = private.public_key() == exportable.public_key()
    seen["random"] = len(client.random(16))
    seen["digest"] = client.digest(b"abc").hex()
    seen["sha3"] = client.digest(b"abc", Algorithm.SHA3_256).hex()
    seen["lookup"] = repr(client.key("ecdh"))
    with pytest.raises(tessera.DoesNotExistError):
        client.key("no-such-key")
    owned = client.keys()
    seen["keys"] = sorted(held.name for held in owned)
    for held in owned:
        held.destroy()
    seen["after destroy"] = client.keys()
    return seen


def _pkcs8_from_scalar(scalar: bytes) -> bytes:
    private = ec.derive_private_key(int.from_bytes(scalar, "big"), ec.SECP256R1())
    return private.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _client_table(target: Target) -> Observations:
    seen: Observations = {}
    with tessera.Client(target.endpoint, app_name="client-table") as client:
        for spec in SIGNING + ENCRYPTING:
            use = _signing if spec in SIGNING else _encrypting
            try:
                seen[spec.name] = use(client, spec)
            except tessera.TesseraError as error:
                assert "\n" not in str(error)
                seen[spec.name] = type(error).__name__
        seen.update(_other_keys(client))
    return seen


def test_client_key_table(targets: tuple[Target, Target]) -> None:
    on_parsec, on_tessera = (_client_table(target) for target in targets)
    for name, error in PARSEC_CANNOT_KEYS.items():
        assert on_parsec.pop(name) == error, name
        assert on_tessera.pop(name) in ("signed", "encrypted", "authenticated")
    unmade = {name for name, error in PARSEC_CANNOT_KEYS.items() if error == "NotSupportedError"}
    on_tessera["keys"] = [name for name in on_tessera["keys"] if name not in unmade]
    assert on_parsec == on_tessera
    assert on_tessera["after destroy"] == [] and on_tessera["export"] is True
    assert on_tessera["ecdh-p256"] is True and on_tessera["x25519"] is True
    assert on_tessera["sha3"] == hashlib.sha3_256(b"abc").hexdigest()


def test_parsec_cannot_make_what_the_table_says(targets: tuple[Target, Target]) -> None:
    parsec, _ = targets
    with tessera.Client(parsec.endpoint, app_name="parsec-limits") as client:
        with pytest.raises(tessera.NotSupportedError) as refused:
            client.generate_key("big", tessera.RSA_3072_OAEP)
        assert str(refused.value) == (
            "no provider can generate key 'big': CanDoCrypto said no (provider 1), and so did "
            "PsaGenerateKey in provider 1: an argument is invalid (PSA_ERROR_INVALID_ARGUMENT)"
        )


def test_async_client_does_the_same(targets: tuple[Target, Target]) -> None:
    async def observe(target: Target) -> Observations:
        async with tessera.AsyncClient(target.endpoint, app_name="async") as client:
            key = await client.generate_key("signing")
            signature = await key.sign(b"hello")
            await key.verify(signature, b"hello")
            public = await key.public_key()
            verify_locally(public, tessera.ECDSA_P256, signature, b"hello")
            csr = await key.certificate_request("CN=async")
            sealed_key = await client.generate_key("sealed", tessera.AES_256_GCM)
            sealed = await sealed_key.encrypt(b"plain")
            seen = {
                "csr": csr.is_signature_valid,
                "plain": await sealed_key.decrypt(sealed),
                "sha3": (await client.digest(b"abc", Algorithm.SHA3_256)).hex(),
                "keys": sorted(k.name for k in await client.keys()),
            }
            for each in await client.keys():
                await each.destroy()
            return seen

    same(lambda target: asyncio.run(observe(target)), *targets)


# PSA's usage rules: SIGN_HASH implies SIGN_MESSAGE, never the reverse


def _only(usage: str) -> tessera.KeySpec:
    """ECDSA P-256 with SHA-256, allowed one usage."""
    return tessera.KeySpec(
        f"{usage}-only", tessera.ECDSA_P256.key_type, 256, tessera.ECDSA_P256.algorithm, (usage,)
    )


def test_a_key_for_messages_only_is_not_signed_through_a_digest(
    targets: tuple[Target, Target],
) -> None:
    parsec, ours = targets
    digest = hashlib.sha256(b"message").digest()
    alg = tessera.ECDSA_P256.algorithm.asymmetric_signature
    with tessera.Client(parsec.endpoint, app_name="message-only") as client:
        key = client.generate_key("m", _only("sign_message"))
        with pytest.raises(tessera.NotSupportedError) as refused:
            key.sign(b"message")
        assert str(refused.value) == (
            "key 'm' cannot sign messages: provider 1 has no PsaSignMessage, and its policy "
            "permits sign_message but not sign_hash, which PsaSignHash on a digest made here "
            "would need"
        )
        with pytest.raises(tessera.NotPermittedError):  # what Parsec itself enforces
            client.operations.psa_sign_hash("m", alg, digest)
        key.destroy()
    with tessera.Client(ours.endpoint, app_name="message-only") as client:
        key = client.generate_key("m", _only("sign_message"))
        verify_locally(key.public_key(), tessera.ECDSA_P256, key.sign(b"message"), b"message")
        with pytest.raises(tessera.NotPermittedError):  # and so does Tessera
            client.operations.psa_sign_hash("m", alg, digest)
        key.destroy()


def test_a_key_for_digests_only_signs_messages_on_both(targets: tuple[Target, Target]) -> None:
    def observe(target: Target) -> Observations:
        with tessera.Client(target.endpoint, app_name="hash-only") as client:
            key = client.generate_key("h", _only("sign_hash"))
            verify_locally(key.public_key(), tessera.ECDSA_P256, key.sign(b"m"), b"m")
            key.destroy()
        return {"signed": True}

    same(observe, *targets)
