"""The software provider: PSA Crypto on `cryptography`, keys wrapped at rest."""

from tessera.service.providers.software.provider import SoftwareProvider

__all__ = ["SoftwareProvider"]
