"""Crypto providers: one folder each, all implementing `tessera.service.providers.base.Provider`."""

from tessera.service.providers.base import Provider, ProviderInfo, RequestContext

__all__ = ["Provider", "ProviderInfo", "RequestContext"]
