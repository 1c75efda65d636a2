"""The token: found by label, slot or serial, logged in as the user, for the provider's life.

`Token` joins the session (`_token_session`), key objects (`_token_objects`) and mechanisms
(`_token_crypto`); those modules and this one are the only ones that import `python-pkcs11`.
"""

from __future__ import annotations

from typing import Any

import pkcs11

from tessera.config import ConfigError
from tessera.service.providers.pkcs11._token_crypto import (
    TOKEN_CIPHER_MODES,
    TOKEN_HASHES,
    TokenCrypto,
)
from tessera.service.providers.pkcs11._token_objects import TokenObjects
from tessera.service.providers.pkcs11.config import Pkcs11Settings

__all__ = ["TOKEN_CIPHER_MODES", "TOKEN_HASHES", "Token"]


class Token(TokenObjects, TokenCrypto):
    """One token, logged in as the user, for the life of the provider."""

    def __init__(self, settings: Pkcs11Settings) -> None:
        if not settings.library_path.is_file():
            raise ConfigError(f"pkcs11 provider: no PKCS#11 library at {settings.library_path}")
        try:
            library = pkcs11.lib(str(settings.library_path))
        except Exception as error:  # the loader raises several kinds
            raise ConfigError(
                f"pkcs11 provider: cannot load {settings.library_path}: {type(error).__name__}"
            ) from None
        token = self._find_token(library, settings)
        try:
            session = token.open(rw=True, user_pin=settings.user_pin)
        except pkcs11.PKCS11Error as error:
            raise ConfigError(
                f"pkcs11 provider: login to token {token.label!r} failed ({type(error).__name__})"
            ) from None
        super().__init__(session)
        self.label: str = token.label

    @staticmethod
    def _find_token(library: Any, settings: Pkcs11Settings) -> Any:
        named = (settings.token_label, settings.slot_number, settings.serial_number)
        if all(value is None for value in named):
            return Token._only_token(library)
        try:
            for slot in library.get_slots(token_present=True):
                token = slot.get_token()
                if settings.slot_number is not None and slot.slot_id != settings.slot_number:
                    continue
                if settings.token_label is not None and token.label != settings.token_label:
                    continue
                serial = token.serial.decode("ascii", "replace").strip()
                if settings.serial_number is not None and serial != settings.serial_number:
                    continue
                return token
        except pkcs11.PKCS11Error as error:
            raise ConfigError(
                f"pkcs11 provider: cannot list slots ({type(error).__name__})"
            ) from None
        wanted = [
            f"{what} {value!r}"
            for what, value in (
                ("label", settings.token_label),
                ("slot", settings.slot_number),
                ("serial", settings.serial_number),
            )
            if value is not None
        ]
        raise ConfigError(f"pkcs11 provider: no token with {' and '.join(wanted)}")

    @staticmethod
    def _only_token(library: Any) -> Any:
        """The one initialized token, when the configuration names none (Parsec's rule)."""
        try:
            tokens = [slot.get_token() for slot in library.get_slots(token_present=True)]
        except pkcs11.PKCS11Error as error:
            raise ConfigError(
                f"pkcs11 provider: cannot list slots ({type(error).__name__})"
            ) from None
        ready = [t for t in tokens if t.flags & pkcs11.TokenFlag.TOKEN_INITIALIZED]
        if len(ready) != 1:
            raise ConfigError(
                f"pkcs11 provider: {len(ready)} initialized tokens and none named: "
                "set slot_number, serial_number or token_label"
            )
        return ready[0]
