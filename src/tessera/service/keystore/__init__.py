"""The key info store: which keys exist, who owns them, their attributes and provider data."""

from tessera.service.keystore.sqlite import KeyRecord, KeyStore, Owner, StorageLimits, Usage

__all__ = ["KeyRecord", "KeyStore", "Owner", "StorageLimits", "Usage"]
