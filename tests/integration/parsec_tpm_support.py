"""A temporary swtpm, and TPM keys made as Parsec's TPM provider makes them (migration tests).

Written from the facts of Parsec 1.x and tss-esapi's TransientKeyContext, independently of
Tessera's own code for them (`parsec_keys`, `parsec_tpm`), so the two check each other: Parsec's
storage key is an RSA 2048 restricted-decryption primary of the owner hierarchy (AES-256-CFB for
its children when the TPM has it, else AES-128-CFB) with a random 32-byte auth value; each key is
its child with its own random 32-byte auth value; and Parsec's key-info store keeps, per key, the
bincode `PasswordContext` (a zeroed legacy context, the auth value, the public key as the TPM
returned it, the TPM2B_PRIVATE's buffer).
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TSS2_LOG", "all+none")


def free_port_pair() -> int:
    """A port p with p and p + 1 both free (swtpm's server and control ports)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port >= 65535:
            continue
        with socket.socket() as second:
            try:
                second.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair")


def start_swtpm(state: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A swtpm with its state in `state`, listening when this returns; and its TCTI."""
    state.mkdir(parents=True, exist_ok=True)
    port = free_port_pair()
    server = f"type=tcp,port={port},bindaddr=127.0.0.1"
    control = f"type=tcp,port={port + 1},bindaddr=127.0.0.1"
    command = ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={state}", "--server", server]
    process = subprocess.Popen(
        [*command, "--ctrl", control, "--flags", "startup-clear"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        if process.poll() is not None or time.monotonic() > deadline:
            stop_swtpm(process)
            raise RuntimeError("swtpm did not start")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            break
        time.sleep(0.02)
    return process, f"swtpm:host=127.0.0.1,port={port}"


def stop_swtpm(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _vector(data: bytes) -> bytes:
    return struct.pack("<Q", len(data)) + data


@dataclass(frozen=True)
class MadeKey:
    """A key as Parsec would have stored it, and its public key for checking."""

    key_id: bytes  # the bincode PasswordContext
    auth: bytes
    modulus: int | None = None
    point: bytes | None = None  # uncompressed


class ParsecTpm:
    """Parsec's TPM provider's side: its storage key, and keys created under it."""

    def __init__(self, tcti: str) -> None:
        from tpm2_pytss import ESAPI

        self.esapi: Any = ESAPI(tcti)
        self.aes_bits = 256 if self._has_aes(256) else 128
        self._primaries: list[Any] = []
        self.primary = self.create_primary(self.aes_bits, os.urandom(32))

    def _has_aes(self, bits: int) -> bool:
        from tpm2_pytss import TSS2_Exception
        from tpm2_pytss.constants import TPM2_ALG
        from tpm2_pytss.types import (
            TPMS_SYMCIPHER_PARMS,
            TPMT_PUBLIC_PARMS,
            TPMT_SYM_DEF_OBJECT,
            TPMU_PUBLIC_PARMS,
            TPMU_SYM_KEY_BITS,
            TPMU_SYM_MODE,
        )

        sym = TPMT_SYM_DEF_OBJECT(
            algorithm=TPM2_ALG.AES,
            keyBits=TPMU_SYM_KEY_BITS(aes=bits),
            mode=TPMU_SYM_MODE(aes=TPM2_ALG.CFB),
        )
        parms = TPMT_PUBLIC_PARMS(
            type=TPM2_ALG.SYMCIPHER,
            parameters=TPMU_PUBLIC_PARMS(symDetail=TPMS_SYMCIPHER_PARMS(sym=sym)),
        )
        try:
            self.esapi.test_parms(parms)
        except TSS2_Exception:
            return False
        return True

    def create_primary(self, aes_bits: int, auth: bytes, *, endorsement: bool = False) -> Any:
        """Parsec's storage key (under the endorsement hierarchy: a stand-in for another TPM)."""
        from tpm2_pytss.constants import ESYS_TR, TPM2_ALG, TPMA_OBJECT
        from tpm2_pytss.types import (
            TPM2B_PUBLIC,
            TPMS_RSA_PARMS,
            TPMT_PUBLIC,
            TPMT_RSA_SCHEME,
            TPMT_SYM_DEF_OBJECT,
            TPMU_PUBLIC_PARMS,
            TPMU_SYM_KEY_BITS,
            TPMU_SYM_MODE,
        )

        attrs = (
            TPMA_OBJECT.FIXEDTPM
            | TPMA_OBJECT.FIXEDPARENT
            | TPMA_OBJECT.SENSITIVEDATAORIGIN
            | TPMA_OBJECT.USERWITHAUTH
            | TPMA_OBJECT.RESTRICTED
            | TPMA_OBJECT.DECRYPT
        )
        sym = TPMT_SYM_DEF_OBJECT(
            algorithm=TPM2_ALG.AES,
            keyBits=TPMU_SYM_KEY_BITS(aes=aes_bits),
            mode=TPMU_SYM_MODE(aes=TPM2_ALG.CFB),
        )
        rsa = TPMS_RSA_PARMS(
            symmetric=sym, scheme=TPMT_RSA_SCHEME(scheme=TPM2_ALG.NULL), keyBits=2048, exponent=0
        )
        template = TPM2B_PUBLIC(
            publicArea=TPMT_PUBLIC(
                type=TPM2_ALG.RSA,
                nameAlg=TPM2_ALG.SHA256,
                objectAttributes=attrs,
                parameters=TPMU_PUBLIC_PARMS(rsaDetail=rsa),
            )
        )
        hierarchy = ESYS_TR.ENDORSEMENT if endorsement else ESYS_TR.OWNER
        handle, _, _, _, _ = self.esapi.create_primary(_sensitive(auth), template, hierarchy)
        self.esapi.tr_set_auth(handle, auth)
        self._primaries.append(handle)
        return handle

    def primary_name(self) -> bytes:
        return bytes(self.esapi.tr_get_name(self.primary))

    def create(self, kind: str, hash_alg: str = "sha256", *, parent: Any = None) -> MadeKey:
        """A child: kind "ecdsa" (P-256), "rsassa", "rsapss" (2048) or "decrypt" (RSA 2048)."""
        from tpm2_pytss.constants import TPM2_ALG, TPM2_ECC, TPMA_OBJECT
        from tpm2_pytss.types import (
            TPM2B_PUBLIC,
            TPMS_ECC_PARMS,
            TPMS_RSA_PARMS,
            TPMS_SCHEME_HASH,
            TPMT_ECC_SCHEME,
            TPMT_KDF_SCHEME,
            TPMT_PUBLIC,
            TPMT_RSA_SCHEME,
            TPMT_SYM_DEF_OBJECT,
            TPMU_ASYM_SCHEME,
            TPMU_PUBLIC_PARMS,
        )

        digest = getattr(TPM2_ALG, hash_alg.upper())
        hashed = TPMU_ASYM_SCHEME(anySig=TPMS_SCHEME_HASH(hashAlg=digest))
        attrs = (
            TPMA_OBJECT.FIXEDTPM
            | TPMA_OBJECT.FIXEDPARENT
            | TPMA_OBJECT.SENSITIVEDATAORIGIN
            | TPMA_OBJECT.USERWITHAUTH
            | TPMA_OBJECT.SIGN_ENCRYPT
        )
        no_sym = TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.NULL)
        if kind == "ecdsa":
            scheme = TPMT_ECC_SCHEME(scheme=TPM2_ALG.ECDSA, details=hashed)
            ecc = TPMS_ECC_PARMS(
                symmetric=no_sym,
                scheme=scheme,
                curveID=TPM2_ECC.NIST_P256,
                kdf=TPMT_KDF_SCHEME(scheme=TPM2_ALG.NULL),
            )
            area = TPMT_PUBLIC(type=TPM2_ALG.ECC, parameters=TPMU_PUBLIC_PARMS(eccDetail=ecc))
        else:
            if kind == "decrypt":
                attrs |= TPMA_OBJECT.DECRYPT
                rsa_scheme = TPMT_RSA_SCHEME(scheme=TPM2_ALG.NULL)
            else:
                alg = TPM2_ALG.RSASSA if kind == "rsassa" else TPM2_ALG.RSAPSS
                rsa_scheme = TPMT_RSA_SCHEME(scheme=alg, details=hashed)
            rsa = TPMS_RSA_PARMS(symmetric=no_sym, scheme=rsa_scheme, keyBits=2048, exponent=0)
            area = TPMT_PUBLIC(type=TPM2_ALG.RSA, parameters=TPMU_PUBLIC_PARMS(rsaDetail=rsa))
        area.nameAlg = TPM2_ALG.SHA256
        area.objectAttributes = attrs
        auth = os.urandom(32)
        private, public, _, _, _ = self.esapi.create(
            self.primary if parent is None else parent,
            _sensitive(auth),
            TPM2B_PUBLIC(publicArea=area),
        )
        made = public.publicArea
        blob = bytes(private.buffer)
        if kind == "ecdsa":
            x, y = bytes(made.unique.ecc.x.buffer), bytes(made.unique.ecc.y.buffer)
            key_id = password_context(auth, struct.pack("<I", 1) + _vector(x) + _vector(y), blob)
            return MadeKey(key_id, auth, point=b"\x04" + x.rjust(32, b"\0") + y.rjust(32, b"\0"))
        modulus = bytes(made.unique.rsa.buffer)
        key_id = password_context(auth, struct.pack("<I", 0) + _vector(modulus), blob)
        return MadeKey(key_id, auth, modulus=int.from_bytes(modulus, "big"))

    def flush(self, handle: Any) -> None:
        """Flush a storage key made with `create_primary` (swtpm has three transient slots)."""
        self._primaries.remove(handle)
        self.esapi.flush_context(handle)

    def close(self) -> None:
        from tpm2_pytss import TSS2_Exception

        for handle in self._primaries:  # a TPM without a resource manager keeps them otherwise
            with contextlib.suppress(TSS2_Exception):
                self.esapi.flush_context(handle)
        self.esapi.close()


def _sensitive(auth: bytes) -> Any:
    from tpm2_pytss.types import TPM2B_AUTH, TPM2B_SENSITIVE_CREATE, TPMS_SENSITIVE_CREATE

    return TPM2B_SENSITIVE_CREATE(sensitive=TPMS_SENSITIVE_CREATE(userAuth=TPM2B_AUTH(auth)))


def password_context(auth: bytes, public: bytes, private: bytes) -> bytes:
    """Parsec's key id: the zeroed legacy context, the auth value, then the key material."""
    legacy = struct.pack("<QII", 0, 0, 0) + _vector(b"")
    return legacy + _vector(auth) + public + _vector(private)


def imported_rsa(modulus: bytes) -> bytes:
    """The key id Parsec keeps for an imported RSA public key (no auth, no private part)."""
    return password_context(b"", struct.pack("<I", 0) + _vector(modulus), b"")


def legacy_context() -> bytes:
    """A pre-1.0 entry: a saved context (opaque here) and an auth value, nothing else."""
    return struct.pack("<QII", 7, 0x80000001, 0x40000001) + _vector(b"ctx" * 20) + _vector(b"a")
