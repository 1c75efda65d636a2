"""Key-encryption keys: how the software provider's key material is protected at rest.

A `KeyEncryptionKey` wraps and unwraps bytes under associated data. The one implementation here,
`AesGcmKek`, is AES-256-GCM under 32 random bytes kept in the file `<state_dir>/kek`, outside the
key database, so a copied database alone reveals no key. The file is the unit a PKCS#11 or TPM
backend would later seal; the protocol stays the same.

Wrapped blob layout: version (1 byte) || nonce (12 bytes) || ciphertext || tag (16 bytes).

The file is created once, atomically: 32 random bytes go to a private temporary file, which is
fsynced and then hard-linked to `kek` (link fails if the name exists, like O_EXCL, and never
exposes a partly written file), then the directory is fsynced. A start-up refuses (ConfigError)
a `kek` that is not a regular file owned by us with mode 0600 or stricter and exactly 32 bytes.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tessera.daemon.private_state import check_private_file
from tessera.service.config import ConfigError
from tessera.wire.status import Status, StatusError

KEK_FILE_NAME = "kek"
KEK_SIZE = 32
_VERSION = 1
_NONCE_SIZE = 12


class KeyEncryptionKey(Protocol):
    """Protects key material at rest."""

    def wrap(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Encrypt and authenticate `plaintext`, bound to `associated_data`."""
        ...

    def unwrap(self, blob: bytes, associated_data: bytes) -> bytes:
        """The plaintext of `blob`; PsaErrorDataCorrupt if it or the binding was altered."""
        ...


class AesGcmKek:
    """AES-256-GCM with a random 96-bit nonce per wrap."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEK_SIZE:
            raise ValueError("a key-encryption key is 32 bytes")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "AesGcmKek(<secret>)"

    def wrap(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """version || nonce || AES-GCM(plaintext) || tag."""
        nonce = os.urandom(_NONCE_SIZE)
        header = bytes([_VERSION])
        sealed = self._aead.encrypt(nonce, plaintext, header + associated_data)
        return header + nonce + sealed

    def unwrap(self, blob: bytes, associated_data: bytes) -> bytes:
        """Check and decrypt a blob made by `wrap` with the same associated data."""
        if len(blob) < 1 + _NONCE_SIZE + 16 or blob[0] != _VERSION:
            raise StatusError(Status.PSA_ERROR_DATA_CORRUPT, "stored key material is malformed")
        nonce = blob[1 : 1 + _NONCE_SIZE]
        try:
            return self._aead.decrypt(nonce, blob[1 + _NONCE_SIZE :], blob[:1] + associated_data)
        except InvalidTag:
            raise StatusError(
                Status.PSA_ERROR_DATA_CORRUPT, "stored key material failed authentication"
            ) from None


def read_kek_file(path: Path) -> AesGcmKek:
    """A KEK from a file that must be ours, 0600 and 32 bytes (ConfigError otherwise)."""
    return AesGcmKek(_read_checked(path))


def create_kek_file(path: Path) -> AesGcmKek:
    """Write a fresh KEK to `path` atomically; ConfigError if the file already exists."""
    if not _create(path):
        raise ConfigError(f"{path} already exists")
    return read_kek_file(path)


def replace_kek_file(source: Path, target: Path) -> None:
    """Make `source` the KEK at `target` in one atomic rename, durable before returning."""
    os.replace(source, target)
    _fsync_directory(target.parent)


def load_or_create_file_kek(state_dir: Path) -> tuple[AesGcmKek, bool]:
    """The KEK from `<state_dir>/kek`, made on first use; also whether it was just created."""
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = state_dir / KEK_FILE_NAME
    created = False
    if not path.exists():
        created = _create(path)
    return AesGcmKek(_read_checked(path)), created


def _create(path: Path) -> bool:
    """Write a fresh KEK atomically; False if another process created it first."""
    fd, temporary = tempfile.mkstemp(prefix=".kek-", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(os.urandom(KEK_SIZE))
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        _fsync_directory(path.parent)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_checked(path: Path) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as error:
        raise ConfigError(f"cannot open the key-encryption key {path}: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        check_private_file(path, "key-encryption key", info)
        if info.st_size != KEK_SIZE:
            raise ConfigError(
                f"the key-encryption key {path} is {info.st_size} bytes, not {KEK_SIZE}"
            )
        data = os.read(fd, KEK_SIZE + 1)
    finally:
        os.close(fd)
    if len(data) != KEK_SIZE:
        raise ConfigError(f"the key-encryption key {path} could not be read whole")
    return data
