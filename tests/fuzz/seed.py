"""Build the seed corpora from real inputs: `python -m tests.fuzz.seed [TARGET...]`.

Seeds are the files named `seed-*` in tests/fuzz/corpus/TARGET/; this rewrites them (and only
them: inputs a long run added and `crash-*` regressions stay). The output is deterministic, so a
re-run changes nothing unless a source changed. Sources:

- frames, dispatch: the parsec-mock wire vectors (tests/vectors/parsec-mock), well-typed
  operations of every opcode as the request-path random test builds them, tokens of the fuzz
  trust chain, pipelined and truncated streams;
- certificates: the fuzz chain's root and intermediate, each in the other's place, and a
  forger's;
- tokens: JWT-SVIDs and signed payloads as the identity provider issues them, JWT-SVIDs for a
  SPIRE bundle, and the forgeries the trust tests refuse (alg none, HMAC, foreign signer, extra
  headers, expired, wrong audience, non-canonical base64url);
- service_config, identity_config, orchestrator_config, manifest: Parsec's and Tessera's config
  files under tests/, the TOML examples in docs/ and in the loaders' docstrings, the TOML
  strings the tests write, and the demo manifest.
"""

from __future__ import annotations

import ast
import hashlib
import hmac
import json
import random
import re
import sys
import tomllib
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import yaml

from tessera.trust._jose import b64url_encode
from tessera.wire.contracts import OPERATIONS
from tessera.wire.framing import encode_request
from tessera.wire.header import FLAG_KEEP_ALIVE, Header
from tessera.wire.opcodes import TESSERA_OPCODES, AuthType, Opcode
from tessera.wire.proto import share_trust_bundle_pb2
from tests.fuzz import _trust
from tests.fuzz._input import sized
from tests.fuzz.run import CORPUS, TARGETS

ROOT = Path(__file__).resolve().parents[2]
Seeds = dict[str, bytes]


def _mock_vectors() -> Iterator[tuple[str, bytes, bytes]]:
    for path in sorted((ROOT / "tests/vectors/parsec-mock").glob("*.test.yaml")):
        data = yaml.safe_load(path.read_text())["test_data"]
        name = path.name.removesuffix(".test.yaml")
        yield name, bytes.fromhex(data["request_hex"]), bytes.fromhex(data["response_hex"])


def _typed_requests() -> Iterator[tuple[str, bytes]]:
    """One well-typed operation per opcode, as the request-path random test makes them."""
    from tests.unit.service.test_request_path_fuzz import fill

    rng = random.Random(20261202)
    for opcode in sorted(OPERATIONS):
        operation = OPERATIONS[opcode].request()
        fill(operation, rng)
        provider = 0 if opcode.is_core or opcode in TESSERA_OPCODES else 1
        caller = b"fuzz-admin" if opcode.needs_admin else b"app"
        header = Header(provider=provider, opcode=int(opcode), auth_type=int(AuthType.DIRECT))
        body = operation.SerializeToString(deterministic=True)
        yield opcode.name.lower(), encode_request(header, body, caller)


def frames() -> Seeds:
    seeds: Seeds = {}
    requests = []
    for name, request, response in _mock_vectors():
        seeds[f"request-{name}"] = b"\x00\x00" + request
        seeds[f"response-{name}"] = b"\x01\x00" + response
        requests.append(request)
    seeds["pipelined-chunked"] = b"\x00\x03\x05\x1f\x40" + b"".join(requests)
    seeds["truncated"] = b"\x00\x00" + requests[0][:-3]
    for name, request in list(_typed_requests())[:8]:
        seeds[f"typed-{name}"] = b"\x00\x00" + request
    token = _trust.service_token("spiffe://tessera.local/app")
    header = Header(opcode=int(Opcode.PING), auth_type=int(AuthType.JWT), flags=FLAG_KEEP_ALIVE)
    seeds["jwt-auth-small-limits"] = b"\x1a\x00" + encode_request(header, b"", token)
    return seeds


def dispatch() -> Seeds:
    seeds: Seeds = {}
    for name, request, _ in _mock_vectors():
        seeds[f"mock-{name}"] = request
    typed = dict(_typed_requests())
    for name, request in typed.items():
        seeds[f"typed-{name}"] = request
    seeds["keep-alive-stream"] = b"".join(list(typed.values())[:6])
    for who, subject in (("app", "app"), ("admin", "fuzz-admin")):
        token = _trust.service_token(f"spiffe://{_trust.TRUST_DOMAIN}/{subject}")
        for opcode in (Opcode.LIST_KEYS, Opcode.LIST_CLIENTS, Opcode.PSA_GENERATE_RANDOM):
            header = Header(provider=0 if opcode.is_core else 1, opcode=int(opcode), auth_type=2)
            body = b"\x08\x20" if opcode is Opcode.PSA_GENERATE_RANDOM else b""
            seeds[f"jwt-{who}-{opcode.name.lower()}"] = encode_request(header, body, token)
    header = Header(provider=0, opcode=int(Opcode.LIST_KEYS), auth_type=3)
    seeds["unix-peer-list-keys"] = encode_request(header, b"", b"")
    chain = _trust.shared()
    share = share_trust_bundle_pb2.Operation(certificate=chain.intermediate.der)
    header = Header(opcode=int(Opcode.SHARE_TRUST_BUNDLE))
    seeds["share-intermediate-again"] = encode_request(header, share.SerializeToString())
    seeds["trust-status"] = encode_request(Header(opcode=int(Opcode.TRUST_STATUS)), b"")
    return seeds


def tokens() -> Seeds:
    chain, now = _trust.shared(), int(_trust.NOW.timestamp())
    app = f"spiffe://{_trust.TRUST_DOMAIN}/app"
    token_header = _trust.header_for(chain.kid)
    seeds: Seeds = {}

    def compact(claims: dict[str, object]) -> bytes:
        return json.dumps(claims, separators=(",", ":")).encode()

    def signed(mode: int, header: bytes, claims: dict[str, object], alg: int = 0) -> bytes:
        prefix = bytes([mode, alg]) if mode == 3 else bytes([mode])
        return prefix + sized(header) + compact(claims)

    # What the identity provider issues (its claims; our deterministic signature).
    issued = chain.intermediate.issue_token(
        subject=app, audience="tessera", lifetime=timedelta(minutes=5), token_id="seed-jti"
    )
    issued_claims = json.loads(_b64(issued.split(".")[1]))
    seeds["issued-token"] = signed(1, token_header, issued_claims)
    seeds["issued-token-raw"] = (
        b"\x00"
        + _trust.sign_compact(token_header, compact(issued_claims), chain.key, "ES256").encode()
    )
    definition = {"name": "app", "user": "alice", "host": "h", "iat": now}
    seeds["signed-payload"] = signed(1, _trust.header_for(chain.kid, "JOSE"), definition)
    seeds["token-audience-list-nbf"] = signed(
        1, token_header, _trust.claims_for(app, ["parsec", "tessera"], nbf=now - 1)
    )
    seeds["token-expired"] = signed(1, token_header, _trust.claims_for(app, "tessera", exp=now))
    seeds["token-revoked"] = signed(
        1, token_header, _trust.claims_for(app, "tessera", jti="revoked-grant.1")
    )
    seeds["token-wrong-audience"] = signed(1, token_header, _trust.claims_for(app, "other"))
    seeds["token-x5c-header"] = signed(
        1,
        json.dumps({"alg": "ES256", "kid": chain.kid, "typ": "JWT", "x5c": []}).encode(),
        _trust.claims_for(app, "tessera"),
    )
    seeds["forged-same-kid"] = signed(2, token_header, _trust.claims_for(app, "tessera"))
    svid = _trust.claims_for(app, "parsec")
    seeds["svid-ec"] = signed(3, _trust.header_for(_trust.BUNDLE_EC_KID), svid, 0)
    rsa_header = _trust.header_for(_trust.BUNDLE_RSA_KID, alg="RS256")
    seeds["svid-rsa"] = signed(3, rsa_header, svid, 1)
    seeds["svid-rsa-pss"] = signed(
        3, _trust.header_for(_trust.BUNDLE_RSA_KID, alg="PS256"), svid, 2
    )
    seeds["svid-alg-mismatch"] = signed(3, rsa_header, svid, 2)
    claims = b64url_encode(compact(_trust.claims_for(app, "tessera")))
    none = b64url_encode(json.dumps({"alg": "none", "kid": chain.kid, "typ": "JWT"}).encode())
    seeds["alg-none"] = f"\x00{none}.{claims}.".encode()
    hs = b64url_encode(json.dumps({"alg": "HS256", "kid": chain.kid, "typ": "JWT"}).encode())
    mac = hmac.new(chain.intermediate.der, f"{hs}.{claims}".encode(), hashlib.sha256).digest()
    seeds["alg-hs256-key-confusion"] = f"\x00{hs}.{claims}.{b64url_encode(mac)}".encode()
    good = _trust.sign_compact(
        token_header, compact(_trust.claims_for(app, "tessera")), chain.key, "ES256"
    )
    seeds["padded-base64"] = b"\x00" + good.replace(".", "=.", 1).encode()
    seeds["signature-truncated"] = b"\x00" + good[:-4].encode()
    return seeds


def _b64(segment: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def certificates() -> Seeds:
    chain, forger = _trust.shared(), _trust.forger()
    return {
        "root": b"\x00" + chain.root.der,
        "intermediate": b"\x01" + chain.intermediate.der,
        "intermediate-as-root": b"\x00" + chain.intermediate.der,
        "root-as-intermediate": b"\x01" + chain.root.der,
        "forger-intermediate": b"\x01" + forger.intermediate.der,
        "forger-root": b"\x00" + forger.root.der,
    }


# -- TOML: files, documentation blocks, docstrings and strings in tests

_TOML_BLOCK = re.compile(r"```toml\n(.*?)```", re.DOTALL)


def _is_toml(text: str) -> bool:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return False
    return True


def _test_strings(marker: str) -> Iterator[tuple[str, str]]:
    """TOML documents written as plain string literals in tests/ (those holding `marker`)."""
    for path in sorted((ROOT / "tests").rglob("*.py")):
        if "fuzz" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and marker in text and _is_toml(text):
                yield f"{path.stem}-{hashlib.sha256(text.encode()).hexdigest()[:8]}", text


def _docs(marker: str) -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "docs").glob("*.md")):
        for index, block in enumerate(_TOML_BLOCK.findall(path.read_text())):
            if marker in block:
                yield f"{path.stem}-{index}", block


def _docstring(module: str) -> str:
    """The TOML example a loader's module docstring opens with."""
    import importlib

    doc = importlib.import_module(module).__doc__ or ""
    return doc.split("\n", 2)[2]


def _toml_seeds(markers: tuple[str, ...], extra: dict[str, str]) -> Seeds:
    seeds: Seeds = {name: text.encode() for name, text in extra.items()}
    for marker in markers:
        for name, text in [*_docs(marker), *_test_strings(marker)]:
            seeds.setdefault(f"{name}", text.encode())
    return seeds


def service_config() -> Seeds:
    files = sorted((ROOT / "tests/unit/service/parsec_files").glob("*.toml"))
    extra = {f"parsec-{path.stem}": path.read_text() for path in files}
    extra["empty"] = ""
    return _toml_seeds(("[core_settings]", "[listener]", "[[provider]]", "[authenticator]"), extra)


def identity_config() -> Seeds:
    extra = {"docstring": _docstring("tessera.identity.config"), "empty": ""}
    return _toml_seeds(("[identity]",), extra)


def orchestrator_config() -> Seeds:
    extra = {
        "docstring": _docstring("tessera.orchestrator.config"),
        "demo-manifest": (ROOT / "src/tessera/demo/manifest.toml").read_text(),
    }
    return _toml_seeds(("[orchestrator]", "[[app]]"), extra)


def manifest() -> Seeds:
    doc = _docstring("tessera.orchestrator.config")
    extra = {
        "demo-manifest": (ROOT / "src/tessera/demo/manifest.toml").read_text(),
        "docstring-apps": doc[doc.index("[[app]]") :],
    }
    return _toml_seeds(("[[app]]",), extra)


BUILDERS: dict[str, Callable[[], Seeds]] = {
    "frames": frames,
    "dispatch": dispatch,
    "tokens": tokens,
    "certificates": certificates,
    "service_config": service_config,
    "identity_config": identity_config,
    "orchestrator_config": orchestrator_config,
    "manifest": manifest,
}


def write(target: str) -> int:
    """Rewrite the seeds of one target; returns how many there are."""
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("seed-*"):
        old.unlink()
    seeds = BUILDERS[target]()
    for name, data in seeds.items():
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        (directory / f"seed-{safe}").write_bytes(data)
    return len(seeds)


def main(names: list[str]) -> None:
    assert set(BUILDERS) == set(TARGETS)
    for target in names or TARGETS:
        print(f"{target}: {write(target)} seeds")


if __name__ == "__main__":
    main(sys.argv[1:])
