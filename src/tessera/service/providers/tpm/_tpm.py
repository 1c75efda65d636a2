"""A small typed wrapper around `tpm2-pytss` (with `_public`, which reads stored public parts, and
`_parsec`, which loads the keys Parsec made: the only modules that import it).

One ESAPI context serves the provider; it is not thread-safe, so every call holds a lock. At
start the provider creates a primary storage key under the owner hierarchy from a fixed template:
the TPM derives it from its owner seed, so it is the same key on every start and never stored.
Child keys are created under it; the TPM returns their private part wrapped (TPM2B_PRIVATE,
encrypted and integrity-protected by the parent, loadable only by this TPM) with their public part
(TPM2B_PUBLIC). Both, serialized, are all that is stored. A child is loaded on use; a few loaded
handles are cached (a TPM has few transient slots) and flushed when evicted, destroyed, or at
close. Keys Parsec made are children of Parsec's storage key instead, re-created for the moment
one of them loads (`_parsec`), and are used with their own auth value.

TSS errors become StatusError here, at one boundary: a failed decryption is InvalidPadding,
anything else HardwareFailure with the TSS error text (never key material or the owner auth).
"""

from __future__ import annotations

import os

# The TSS C libraries log TPM error responses to stderr themselves; errors are reported here.
os.environ.setdefault("TSS2_LOG", "all+none")

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from tpm2_pytss import ESAPI, TSS2_Exception
from tpm2_pytss.constants import (
    ESYS_TR,
    TPM2_ALG,
    TPM2_CAP,
    TPM2_HT,
    TPM2_RH,
    TPM2_SE,
    TPM2_ST,
    TPM2_SU,
)
from tpm2_pytss.types import (
    TPM2B_ENCRYPTED_SECRET,
    TPM2B_ID_OBJECT,
    TPM2B_PRIVATE,
    TPM2B_PUBLIC,
    TPM2B_SENSITIVE_CREATE,
    TPMS_RSA_PARMS,
    TPMS_SCHEME_HASH,
    TPMT_PUBLIC_PARMS,
    TPMT_RSA_DECRYPT,
    TPMT_RSA_SCHEME,
    TPMT_SIG_SCHEME,
    TPMT_SYM_DEF,
    TPMT_SYM_DEF_OBJECT,
    TPMT_TK_HASHCHECK,
    TPMU_ASYM_SCHEME,
    TPMU_PUBLIC_PARMS,
    TPMU_SIG_SCHEME,
)
from tpm2_pytss.utils import NoSuchIndex, create_ek_template

from tessera.config import ConfigError
from tessera.psa.algorithms import Hash
from tessera.service.providers.tpm._parsec import ParsecParents
from tessera.service.providers.tpm._public import CURVES, coordinate_size, public_area
from tessera.service.providers.tpm.caps import Capabilities, WrappedKey
from tessera.service.providers.tpm.config import TpmSettings, TpmUnavailable
from tessera.wire.status import Status, StatusError

#: Loaded child keys kept (swtpm and most TPMs have 3 transient slots; the primary takes one).
MAX_LOADED = 2
#: The per-call ceiling of TPM2_GetRandom (the largest digest; the TPM may return less).
_RANDOM_CHUNK = 32

_HASH_ALGS: dict[Hash, Any] = {
    Hash.SHA_1: TPM2_ALG.SHA1,
    Hash.SHA_256: TPM2_ALG.SHA256,
    Hash.SHA_384: TPM2_ALG.SHA384,
    Hash.SHA_512: TPM2_ALG.SHA512,
}
_PRIMARY_ATTRIBUTES = (
    "userwithauth|restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|noda"
)
_CHILD_ATTRIBUTES = "userwithauth|fixedtpm|fixedparent|sensitivedataorigin|noda"


def _failure(error: Exception) -> StatusError:
    return StatusError(Status.PSA_ERROR_HARDWARE_FAILURE, f"TPM error: {error}")


class Tpm:
    """One TPM, through one ESAPI context, for the life of the provider."""

    def __init__(self, settings: TpmSettings) -> None:
        try:
            self._esapi: Any = ESAPI(settings.tcti)
        except TSS2_Exception as error:
            raise TpmUnavailable(
                f"tpm provider: cannot reach the TPM at {settings.tcti!r} ({error})"
            ) from None
        self._lock = threading.Lock()
        self._loaded: OrderedDict[bytes, Any] = OrderedDict()
        self._primary: Any = None
        self._parsec = ParsecParents()
        try:
            with suppress(TSS2_Exception):  # a TPM already started (the usual case) refuses
                self._esapi.startup(TPM2_SU.CLEAR)
            self._flush_stale()
            self.capabilities = self._capabilities()
            if settings.owner_hierarchy_auth:
                self._esapi.tr_set_auth(ESYS_TR.OWNER, settings.owner_hierarchy_auth)
            self._primary = self._create_primary()
        except TSS2_Exception as error:
            self._esapi.close()
            raise ConfigError(
                f"tpm provider: cannot create the storage key on {settings.tcti!r} ({error})"
            ) from None

    def _flush_stale(self) -> None:
        """Flush transient objects a previous process left loaded (a TPM without a resource
        manager keeps them; behind one, this process sees none)."""
        first = int(TPM2_HT.TRANSIENT) << 24
        _, data = self._esapi.get_capability(TPM2_CAP.HANDLES, first, 64)
        for handle in list(data.data.handles):
            with suppress(TSS2_Exception):
                self._esapi.flush_context(self._esapi.tr_from_tpmpublic(handle))

    def _capabilities(self) -> Capabilities:
        _, data = self._esapi.get_capability(TPM2_CAP.ALGS, 0, 256)
        algs = {int(a.alg) for a in data.data.algorithms}
        _, data = self._esapi.get_capability(TPM2_CAP.ECC_CURVES, 0, 64)
        curves = {int(c) for c in data.data.eccCurves}
        rsa_bits = frozenset(bits for bits in (2048, 3072, 4096) if self._rsa_size_works(bits))
        return Capabilities(
            ecc_bits=frozenset(bits for curve, bits in CURVES.items() if int(curve) in curves),
            rsa_bits=rsa_bits if int(TPM2_ALG.RSA) in algs else frozenset(),
            hashes=frozenset(h for h, alg in _HASH_ALGS.items() if int(alg) in algs),
            rsassa=int(TPM2_ALG.RSASSA) in algs,
            rsapss=int(TPM2_ALG.RSAPSS) in algs,
            ecdsa=int(TPM2_ALG.ECDSA) in algs,
            rsaes=int(TPM2_ALG.RSAES) in algs,
            oaep=int(TPM2_ALG.OAEP) in algs,
        )

    def _rsa_size_works(self, bits: int) -> bool:
        parms = TPMT_PUBLIC_PARMS(
            type=TPM2_ALG.RSA,
            parameters=TPMU_PUBLIC_PARMS(
                rsaDetail=TPMS_RSA_PARMS(
                    symmetric=TPMT_SYM_DEF_OBJECT(algorithm=TPM2_ALG.NULL),
                    scheme=TPMT_RSA_SCHEME(scheme=TPM2_ALG.NULL),
                    keyBits=bits,
                    exponent=0,
                )
            ),
        )
        try:
            self._esapi.test_parms(parms)
        except TSS2_Exception:
            return False
        return True

    def _create_primary(self) -> Any:
        curve = "ecc256:aes128cfb" if 256 in self.capabilities.ecc_bits else "rsa2048:aes128cfb"
        template = TPM2B_PUBLIC.parse(curve, objectAttributes=_PRIMARY_ATTRIBUTES)
        handle, _, _, _, _ = self._esapi.create_primary(
            TPM2B_SENSITIVE_CREATE(), template, ESYS_TR.OWNER
        )
        return handle

    def close(self) -> None:
        """Flush every loaded key and the primary, and finalize the context."""
        with self._lock:
            handles = [*self._loaded.values(), self._primary]
            self._loaded.clear()
            for handle in handles:
                if handle is not None:
                    with suppress(TSS2_Exception):
                        self._esapi.flush_context(handle)
            self._primary = None
            with suppress(TSS2_Exception):
                self._esapi.close()

    @contextmanager
    def _locked(self) -> Iterator[Any]:
        with self._lock:
            if self._primary is None:
                raise StatusError(Status.PSA_ERROR_BAD_STATE, "the TPM provider is closed")
            try:
                yield self._esapi
            except StatusError:
                raise
            except TSS2_Exception as error:
                raise _failure(error) from None

    def _make_room(self, esapi: Any, keep: int = MAX_LOADED - 1) -> None:
        """Flush the least recently used keys until at most `keep` stay loaded (loading a key
        and creating one each need a free transient slot)."""
        while len(self._loaded) > keep:
            _, oldest = self._loaded.popitem(last=False)
            with suppress(TSS2_Exception):
                esapi.flush_context(oldest)

    def _handle(self, esapi: Any, key: WrappedKey) -> Any:
        """The loaded handle of a child key (loading it, evicting the oldest, as needed)."""
        handle = self._loaded.get(key.private)
        if handle is not None:
            self._loaded.move_to_end(key.private)
        else:
            try:
                private, _ = TPM2B_PRIVATE.unmarshal(key.private)
                public, _ = TPM2B_PUBLIC.unmarshal(key.public)
            except (TSS2_Exception, ValueError, TypeError):
                raise StatusError(
                    Status.PSA_ERROR_DATA_CORRUPT, "the key blob is malformed"
                ) from None
            if key.parent:  # Parsec's storage key takes a slot while its child loads
                self._make_room(esapi, keep=MAX_LOADED - 2)
                handle = self._parsec.load(esapi, key.parent, private, public)
            else:
                self._make_room(esapi)
                handle = esapi.load(self._primary, private, public)
            self._loaded[key.private] = handle
        if key.parent:  # set on every use: the handle serves the row that asks, with its auth
            esapi.tr_set_auth(handle, key.auth)
        return handle

    # Key management

    def create(self, template: str) -> WrappedKey:
        """A child key of the storage key ("rsa2048", "ecc256", ...), returned wrapped."""
        attributes = _CHILD_ATTRIBUTES + (
            "|sign|decrypt" if template.startswith("rsa") else "|sign"
        )
        public = TPM2B_PUBLIC.parse(f"{template}:null", objectAttributes=attributes)
        with self._locked() as esapi:
            self._make_room(esapi)
            private, out_public, _, _, _ = esapi.create(
                self._primary, TPM2B_SENSITIVE_CREATE(), public
            )
        return WrappedKey(bytes(out_public.marshal()), bytes(private.marshal()))

    def forget(self, key: WrappedKey) -> None:
        """Flush the key if it is loaded (its blob is deleted by the caller)."""
        with self._lock:
            handle = self._loaded.pop(key.private, None)
            if handle is not None:
                with suppress(TSS2_Exception):
                    self._esapi.flush_context(handle)

    # Operations

    def sign(self, key: WrappedKey, scheme: str, hash_alg: Hash, digest: bytes) -> bytes:
        """Sign `digest` on the TPM: scheme "ecdsa" (r || s, each as long as the order),
        "rsassa" (PKCS#1 v1.5) or "rsapss" (salt as the TPM chooses: the hash's length)."""
        details = TPMS_SCHEME_HASH(hashAlg=_HASH_ALGS[hash_alg])
        if scheme == "ecdsa":
            sig_scheme = TPMT_SIG_SCHEME(
                scheme=TPM2_ALG.ECDSA, details=TPMU_SIG_SCHEME(ecdsa=details)
            )
        elif scheme == "rsassa":
            sig_scheme = TPMT_SIG_SCHEME(
                scheme=TPM2_ALG.RSASSA, details=TPMU_SIG_SCHEME(rsassa=details)
            )
        else:
            sig_scheme = TPMT_SIG_SCHEME(
                scheme=TPM2_ALG.RSAPSS, details=TPMU_SIG_SCHEME(rsapss=details)
            )
        ticket = TPMT_TK_HASHCHECK(tag=TPM2_ST.HASHCHECK, hierarchy=TPM2_RH.NULL)
        with self._locked() as esapi:
            signature = esapi.sign(self._handle(esapi, key), digest, sig_scheme, ticket)
        if scheme == "ecdsa":
            size = coordinate_size(key.public)
            r = bytes(signature.signature.ecdsa.signatureR.buffer).rjust(size, b"\x00")
            s = bytes(signature.signature.ecdsa.signatureS.buffer).rjust(size, b"\x00")
            return r + s
        if scheme == "rsassa":
            return bytes(signature.signature.rsassa.sig.buffer)
        return bytes(signature.signature.rsapss.sig.buffer)

    def rsa_decrypt(self, key: WrappedKey, ciphertext: bytes, oaep_hash: Hash | None) -> bytes:
        """RSAES-PKCS1-v1_5 or OAEP (empty label) decryption; any failure is InvalidPadding."""
        if oaep_hash is None:
            scheme = TPMT_RSA_DECRYPT(scheme=TPM2_ALG.RSAES)
        else:
            scheme = TPMT_RSA_DECRYPT(
                scheme=TPM2_ALG.OAEP,
                details=TPMU_ASYM_SCHEME(oaep=TPMS_SCHEME_HASH(hashAlg=_HASH_ALGS[oaep_hash])),
            )
        with self._locked() as esapi:
            handle = self._handle(esapi, key)
            try:
                message = esapi.rsa_decrypt(handle, ciphertext, scheme)
            except TSS2_Exception:
                raise StatusError(Status.PSA_ERROR_INVALID_PADDING, "decryption failed") from None
        return bytes(message.buffer)

    # Key attestation (TPM2_ActivateCredential with the endorsement key)

    def _endorsement_key(self, esapi: Any) -> tuple[Any, Any]:
        """Create the standard RSA 2048 endorsement key (TCG EK profile template L-1; derived
        from the endorsement seed, so the same each time): (handle, TPM2B_PUBLIC)."""

        def no_nv(index: Any) -> bytes:
            raise NoSuchIndex(index)

        _, template = create_ek_template("EK-RSA2048", no_nv)
        self._make_room(esapi, keep=1)  # the attested key, loaded just before, stays
        handle, public, _, _, _ = esapi.create_primary(
            TPM2B_SENSITIVE_CREATE(), template, ESYS_TR.ENDORSEMENT
        )
        return handle, public

    def attestation_inputs(self, key: WrappedKey) -> tuple[bytes, bytes, bytes]:
        """(the key's TPM name, its TPMT_PUBLIC, the endorsement key's TPMT_PUBLIC), marshalled:
        what a verifier needs for TPM2_MakeCredential."""
        with self._locked() as esapi:
            handle = self._handle(esapi, key)
            name = bytes(esapi.tr_get_name(handle))
            ek, ek_public = self._endorsement_key(esapi)
            with suppress(TSS2_Exception):
                esapi.flush_context(ek)
        public = public_area(key.public)
        return name, bytes(public.marshal()), bytes(ek_public.publicArea.marshal())

    def activate_credential(self, key: WrappedKey, blob: bytes, secret: bytes) -> bytes:
        """TPM2_ActivateCredential: the credential a verifier bound to this key's name and the
        endorsement key (InvalidArgument if it does not open)."""
        try:
            id_object = TPM2B_ID_OBJECT(credential=blob)
            encrypted = TPM2B_ENCRYPTED_SECRET(secret=secret)
        except (ValueError, TypeError, OverflowError):
            raise StatusError(
                Status.PSA_ERROR_INVALID_ARGUMENT, "credential blob or secret too large"
            ) from None
        with self._locked() as esapi:
            handle = self._handle(esapi, key)  # first: a Parsec key's parent needs a slot too
            ek, _ = self._endorsement_key(esapi)
            session = None
            try:
                session = esapi.start_auth_session(
                    ESYS_TR.NONE,
                    ESYS_TR.NONE,
                    TPM2_SE.POLICY,
                    TPMT_SYM_DEF(algorithm=TPM2_ALG.NULL),
                    TPM2_ALG.SHA256,
                )
                esapi.policy_secret(ESYS_TR.ENDORSEMENT, session)
                try:
                    credential = esapi.activate_credential(
                        handle, ek, id_object, encrypted, session2=session
                    )
                except TSS2_Exception as error:
                    raise StatusError(
                        Status.PSA_ERROR_INVALID_ARGUMENT, f"the credential does not open ({error})"
                    ) from None
            finally:
                for transient in (session, ek):
                    if transient is not None:
                        with suppress(TSS2_Exception):
                            esapi.flush_context(transient)
        return bytes(credential.buffer)

    def random(self, size: int) -> bytes:
        """`size` random bytes from TPM2_GetRandom, asked for in chunks."""
        out = bytearray()
        with self._locked() as esapi:
            while len(out) < size:
                chunk = bytes(esapi.get_random(min(_RANDOM_CHUNK, size - len(out))).buffer)
                if not chunk:
                    raise StatusError(Status.PSA_ERROR_HARDWARE_FAILURE, "the TPM gave no bytes")
                out += chunk
        return bytes(out[:size])
