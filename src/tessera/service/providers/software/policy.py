"""Checks every software operation makes before computing: policy, deprecation, output size."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tessera.psa.algorithms import DEPRECATED_HASHES, Algorithm, Hash, SignAlgorithm, hashes_in
from tessera.psa.usage import Usage
from tessera.service.keystore import Owner
from tessera.service.providers.software.vault import OpenKey, Vault
from tessera.wire.status import Status, StatusError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settings:
    """What the operation modules need from the provider."""

    vault: Vault
    allow_deprecated: bool
    buffer_limit: int


def open_for(settings: Settings, owner: Owner, name: str, usage: Usage, alg: Algorithm) -> OpenKey:
    """Open a key and check that its policy permits `usage` with `alg`.

    PsaErrorNotPermitted for a missing usage flag or an algorithm the policy does not permit.
    A deprecated hash reached only through an any-hash wildcard policy is DeprecatedPrimitive
    unless deprecated primitives are allowed: the wildcard must not silently admit SHA-1.
    """
    key = settings.vault.open(owner, name)
    key.attributes.require(usage, alg)
    if (
        not settings.allow_deprecated
        and isinstance(key.attributes.algorithm, SignAlgorithm)
        and key.attributes.algorithm.hash is Hash.ANY
        and any(h in DEPRECATED_HASHES for h in hashes_in(alg))
    ):
        raise StatusError(
            Status.DEPRECATED_PRIMITIVE, "deprecated hash requested through a wildcard policy"
        )
    return key


def check_output(settings: Settings, size: int) -> None:
    """ResponseTooLarge, before computing, when an output would exceed the buffer limit."""
    if size > settings.buffer_limit:
        raise StatusError(Status.RESPONSE_TOO_LARGE, "the output would exceed the buffer limit")
