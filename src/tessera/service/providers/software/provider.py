"""The software provider's class: identity, settings, and the operations it serves.

Operation families live in their own modules; this class wires them to the provider interface.
"""

from __future__ import annotations

import hmac
import os

from tessera._version import VERSION_TUPLE
from tessera.psa.hashes import digest
from tessera.service.config import ServiceConfig
from tessera.service.keystore import KeyStore
from tessera.service.providers.base import Provider, ProviderInfo, RequestContext
from tessera.wire.proto import psa_generate_random_pb2, psa_hash_compare_pb2, psa_hash_compute_pb2
from tessera.wire.status import Status, StatusError

SOFTWARE_INFO = ProviderInfo(
    uuid="6f2d4a3e-93b1-4c57-8a0e-2b7c5d9e1f40",
    description="Tessera software provider: PSA Crypto on the cryptography library, "
    "keys encrypted at rest",
    vendor="Tessera",
    version=VERSION_TUPLE,
)


class SoftwareProvider(Provider):
    """PSA operations computed in this process with `cryptography`."""

    info = SOFTWARE_INFO
    blocking = True  # RSA key generation takes long enough to stall the event loop

    def __init__(
        self, provider_id: int, name: str, keystore: KeyStore, config: ServiceConfig
    ) -> None:
        super().__init__(provider_id, name, keystore)
        self._buffer_limit = config.buffer_size_limit
        self._allow_deprecated = config.allow_deprecated

    def psa_generate_random(
        self, ctx: RequestContext, op: psa_generate_random_pb2.Operation
    ) -> psa_generate_random_pb2.Result:
        if op.size > self._buffer_limit:
            # As Parsec: a buffer over the configured limit is ResponseTooLarge, checked first.
            raise StatusError(Status.RESPONSE_TOO_LARGE, "random buffer over the limit")
        return psa_generate_random_pb2.Result(random_bytes=os.urandom(op.size))

    def psa_hash_compute(
        self, ctx: RequestContext, op: psa_hash_compute_pb2.Operation
    ) -> psa_hash_compute_pb2.Result:
        return psa_hash_compute_pb2.Result(hash=digest(op.alg, op.input))

    def psa_hash_compare(
        self, ctx: RequestContext, op: psa_hash_compare_pb2.Operation
    ) -> psa_hash_compare_pb2.Result:
        if not hmac.compare_digest(digest(op.alg, op.input), op.hash):
            raise StatusError(Status.PSA_ERROR_INVALID_SIGNATURE, "hash does not match")
        return psa_hash_compare_pb2.Result()
