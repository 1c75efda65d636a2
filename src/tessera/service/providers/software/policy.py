"""Checks every software operation makes before computing: policy, deprecation, output size."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tessera.psa.algorithms import Algorithm
from tessera.psa.policy import check_output_size, check_policy
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.software.rsa_keygen import RsaKeygenPool
from tessera.service.providers.software.vault import OpenKey, Vault

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settings:
    """What the operation modules need from the provider."""

    vault: Vault
    allow_deprecated: bool
    buffer_limit: int
    # Answer as Parsec's service where Tessera is otherwise stricter (docs/compatibility.md).
    parsec_compatible: bool = False
    # RSA key generation off the event loop's process (rsa_keygen.py); None: in this process.
    rsa_keygen: RsaKeygenPool | None = None

    @property
    def pkcs1v15_padding_errors(self) -> bool:
        """Report bad PKCS#1 v1.5 paddings (an oracle): Parsec's answer, a deprecated primitive."""
        return self.parsec_compatible and self.allow_deprecated


def open_for(settings: Settings, owner: Owner, name: str, usage: Usage, alg: Algorithm) -> OpenKey:
    """Open a key and check that its policy permits `usage` with `alg` (see `check_policy`;
    a use the opened key passed before is not checked again: `OpenKey.passed`)."""
    key = settings.vault.open(owner, name)
    verdict = (check_policy, usage, alg)
    if verdict not in key.passed:
        check_policy(key.attributes, usage, alg, allow_deprecated=settings.allow_deprecated)
        key.passed.add(verdict)
    return key


def check_output(settings: Settings, size: int) -> None:
    """ResponseTooLarge, before computing, when an output would exceed the buffer limit."""
    check_output_size(size, settings.buffer_limit)
