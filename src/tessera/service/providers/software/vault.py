"""Where the software provider keeps keys: rows in the key store, material wrapped by the KEK.

A key's row holds its attributes (with the actual size filled in) and, as material, the PSA
export format of the key encrypted with the key-encryption key. The associated data binds the
owner's name and authenticator, the provider id, the key name and the attribute bytes, so a row
copied to another owner or name, or with edited attributes, fails to open (PsaErrorDataCorrupt).

Creation and destruction are one SQLite transaction each (`KeyStore.insert` / `delete`), and
nothing else is written, so a crash leaves the whole key or none.
"""

from __future__ import annotations

import struct
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TypeVar

from tessera.psa.attributes import KeyAttributes, decode_attributes, parse_attributes
from tessera.psa.formats import PrivateKey, PublicKey, private_key, public_key
from tessera.service.keystore import KeyRecord, KeyStore, Owner
from tessera.service.keystore.kek import KeyEncryptionKey
from tessera.wire.status import Status, StatusError

_BINDING_LABEL = b"tessera software key v1"
_T = TypeVar("_T")
_RowFields = tuple[Owner, str, bytes]  # owner, key name, stored attributes


def binding(owner: Owner, provider_id: int, name: str, attributes: bytes) -> bytes:
    """The associated data that ties wrapped material to its row (length-prefixed fields)."""
    parts = [
        _BINDING_LABEL,
        owner.name.encode("utf-8", "surrogatepass"),
        struct.pack(">I", owner.auth_type),
        struct.pack(">I", provider_id),
        name.encode("utf-8", "surrogatepass"),
        attributes,
    ]
    return b"".join(struct.pack(">I", len(part)) + part for part in parts)


@dataclass(frozen=True, slots=True)
class OpenKey:
    """A key ready for use: its attributes and its plaintext PSA-format bytes."""

    name: str
    attributes: KeyAttributes
    data: bytes = field(repr=False)
    #: The wrapped form: unique per key incarnation, so it keys the object cache safely.
    wrapped: bytes = field(repr=False)
    #: Checks this key passed, as (check, usage, algorithm): they depend only on the key's
    #: attributes (fixed for this incarnation) and the provider's settings, so a use passed
    #: once is not checked again on the next request (policy.py, sign.py).
    passed: set[tuple[object, ...]] = field(default_factory=set, repr=False, compare=False)

    @property
    def bits(self) -> int:
        """The key's size."""
        return self.attributes.bits


class Vault:
    """Stores, opens and destroys one provider's keys."""

    def __init__(self, keystore: KeyStore, provider_id: int, kek: KeyEncryptionKey) -> None:
        self._keystore = keystore
        self._provider_id = provider_id
        self._kek = kek
        self._objects = _ObjectCache()
        self._lock = threading.Lock()
        # wrapped blob -> (the row fields it is bound to, the opened key)
        self._opened: OrderedDict[bytes, tuple[_RowFields, OpenKey]] = OrderedDict()

    def exists(self, owner: Owner, name: str) -> bool:
        """True when the owner has a key of that name here."""
        try:
            self._keystore.get(owner, self._provider_id, name)
        except StatusError as error:
            if error.status is Status.PSA_ERROR_DOES_NOT_EXIST:
                return False
            raise
        return True

    def store(self, owner: Owner, name: str, attributes: bytes, data: bytes) -> None:
        """Wrap and insert a new key (PsaErrorAlreadyExists if the name is taken)."""
        wrapped = self._kek.wrap(data, binding(owner, self._provider_id, name, attributes))
        self._keystore.insert(KeyRecord(owner, self._provider_id, name, attributes, wrapped))

    def open(self, owner: Owner, name: str) -> OpenKey:
        """The owner's key, unwrapped (PsaErrorDoesNotExist if the owner has none of that name).

        The row is read every time (another process may have destroyed the key); unwrapping
        and parsing are skipped when this exact row (same wrapped blob, same binding) was
        opened before, which is equivalent since the blob authenticates that binding.
        """
        record = self._keystore.get(owner, self._provider_id, name)
        # The fields the binding is made of: equal fields mean an equal binding, without
        # building it (public data: no need for a constant-time comparison).
        fields: _RowFields = (owner, name, record.attributes)
        cached = self._opened.get(record.material)  # reads need no lock (one dict operation)
        if cached is not None and cached[0] == fields:
            return cached[1]
        bound = binding(owner, self._provider_id, name, record.attributes)
        data = self._kek.unwrap(record.material, bound)
        attributes = parse_attributes(decode_attributes(record.attributes))
        opened = OpenKey(name, attributes, data, record.material)
        with self._lock:
            _remember(self._opened, record.material, (fields, opened), _ObjectCache.SIZE)
        return opened

    def destroy(self, owner: Owner, name: str) -> None:
        """Delete the owner's key (PsaErrorDoesNotExist if there is none)."""
        self._keystore.delete(owner, self._provider_id, name)

    def private_key(self, key: OpenKey) -> PrivateKey:
        """The `cryptography` private key object of a key pair (cached)."""
        return self._objects.private(key)

    def public_key(self, key: OpenKey) -> PublicKey:
        """The `cryptography` public key object of a key pair or public key (cached)."""
        return self._objects.public(key)


class _ObjectCache:
    """Parsed key objects by wrapped blob: parsing RSA DER on every request is slow."""

    SIZE = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._private: OrderedDict[bytes, PrivateKey] = OrderedDict()
        self._public: OrderedDict[bytes, PublicKey] = OrderedDict()

    def private(self, key: OpenKey) -> PrivateKey:
        if not key.attributes.key_type.is_key_pair:
            raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "the key is not a key pair")
        found = self._private.get(key.wrapped)
        if found is None:
            found = private_key(key.attributes.key_type, key.bits, key.data, trusted=True)
            with self._lock:
                _remember(self._private, key.wrapped, found, self.SIZE)
        return found

    def public(self, key: OpenKey) -> PublicKey:
        key_type = key.attributes.key_type
        if not key_type.is_asymmetric:
            raise StatusError(Status.PSA_ERROR_INVALID_ARGUMENT, "the key is not asymmetric")
        found = self._public.get(key.wrapped)
        if found is None:
            if key_type.is_key_pair:
                found = self.private(key).public_key()
            else:
                found = public_key(key_type, key.bits, key.data)
            with self._lock:
                _remember(self._public, key.wrapped, found, self.SIZE)
        return found


def _remember(entries: OrderedDict[bytes, _T], slot: bytes, value: _T, size: int) -> None:
    """Add an entry (under the cache's lock), forgetting the oldest beyond `size`."""
    entries[slot] = value
    while len(entries) > size:
        entries.popitem(last=False)
