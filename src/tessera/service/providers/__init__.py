"""Crypto providers: one folder each, all implementing `tessera.service.providers.base.Provider`.

Nothing is imported here: the configuration reads the providers' settings modules
(`pkcs11/config.py`, `tpm/config.py`) without loading the providers themselves.
"""
