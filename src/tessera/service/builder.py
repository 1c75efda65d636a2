"""Explicit assembly of the service from its configuration: no plugin discovery.

One function builds the key store, providers, authenticators, core provider and dispatcher, and
fails fast (ConfigError) on anything that cannot work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from tessera.service.audit import AuditLog
from tessera.service.authenticators import (
    Authenticator,
    DirectAuthenticator,
    UnixPeerAuthenticator,
)
from tessera.service.authenticators.jwt_svid import JwtSvidAuthenticator
from tessera.service.authenticators.jwt_token import TokenAuthenticator
from tessera.service.config import ConfigError, ProviderConfig, ServiceConfig
from tessera.service.core_provider import CoreProvider
from tessera.service.dispatch import Dispatcher
from tessera.service.keystore import KeyStore
from tessera.service.providers.base import Provider
from tessera.service.providers.pkcs11.config import Pkcs11Settings
from tessera.service.providers.tpm.config import TpmSettings, TpmUnavailable
from tessera.service.quotas import Quotas
from tessera.service.trust_endpoint import TrustEndpoint
from tessera.trust.store import TrustPolicy, TrustStore
from tessera.wire.opcodes import AuthType

log = logging.getLogger(__name__)


@dataclass
class Assembly:
    """Everything the request path needs, built once at start-up."""

    config: ServiceConfig
    keystore: KeyStore
    providers: list[Provider]
    dispatcher: Dispatcher
    audit: AuditLog | None = None

    def close(self) -> None:
        """Release providers, the audit log and the key store."""
        for provider in self.providers:
            provider.close()
        if self.audit is not None:
            self.audit.close()
        self.keystore.close()


def build_authenticator(
    auth_type: AuthType, config: ServiceConfig, store: TrustStore
) -> Authenticator:
    """The authenticator for one configured auth type."""
    if auth_type is AuthType.DIRECT:
        return DirectAuthenticator()
    if auth_type is AuthType.UNIX_PEER_CREDENTIALS:
        return UnixPeerAuthenticator()
    if auth_type is AuthType.JWT:
        trust = config.trust
        return TokenAuthenticator(store, audience=trust.audience, leeway=trust.leeway)
    if config.jwt_svid is None:
        raise ConfigError("the jwt-svid authenticator needs authenticator.jwt_svid_bundle")
    svid = config.jwt_svid
    return JwtSvidAuthenticator(
        svid.bundle,
        audience=svid.audience,
        leeway=config.trust.leeway,
        trust_domain=svid.trust_domain,
    )


def build_trust_store(config: ServiceConfig) -> TrustStore:
    """The store for the identity provider's root and intermediates."""
    return TrustStore(TrustPolicy(uid=config.trust.allowed_uid, exe=config.trust.exe))


def build_provider(entry: ProviderConfig, config: ServiceConfig, keystore: KeyStore) -> Provider:
    """The provider for one `[[provider]]` table."""
    if entry.provider_type == "software":
        from tessera.service.providers.software import SoftwareProvider

        return SoftwareProvider(entry.provider_id, entry.name, keystore, config)
    if entry.provider_type == "pkcs11":
        from tessera.service.providers.pkcs11.provider import Pkcs11Provider

        assert entry.settings is None or isinstance(entry.settings, Pkcs11Settings)
        return Pkcs11Provider(entry.provider_id, entry.name, keystore, config, entry.settings)
    if entry.provider_type == "tpm":
        from tessera.service.providers.tpm.provider import TpmProvider

        assert entry.settings is None or isinstance(entry.settings, TpmSettings)
        return TpmProvider(entry.provider_id, entry.name, keystore, config, entry.settings)
    raise ConfigError(f"unknown provider type {entry.provider_type!r}")


def build(config: ServiceConfig) -> Assembly:
    """Assemble the service; the caller owns the result and must close it."""
    keystore = KeyStore(config.key_store_path)
    providers: list[Provider] = []
    audit: AuditLog | None = None
    try:
        if config.audit.enabled:
            audit = AuditLog(
                config.audit_directory,
                max_file_bytes=config.audit.max_file_bytes,
                checkpoint_records=config.audit.checkpoint_records,
                checkpoint_seconds=config.audit.checkpoint_seconds,
            )
        for entry in config.providers:
            try:
                providers.append(build_provider(entry, config, keystore))
            except TpmUnavailable as error:
                if not (isinstance(entry.settings, TpmSettings) and entry.settings.skip_if_no_tpm):
                    raise
                log.warning("provider %d left out (skip_if_no_tpm): %s", entry.provider_id, error)
        trust = build_trust_store(config)
        authenticators = {t: build_authenticator(t, config, trust) for t in config.authenticators}
        core = CoreProvider(providers, list(authenticators.values()), keystore)
        dispatcher = Dispatcher(
            authenticators,
            config.admin_identities(),
            core,
            {p.provider_id: p for p in providers},
            TrustEndpoint(trust),
            log_error_details=config.log_error_details,
            audit=audit,
            quotas=Quotas(config.quotas, keystore),
        )
    except BaseException:
        for provider in providers:
            provider.close()
        if audit is not None:
            audit.close()
        keystore.close()
        raise
    return Assembly(config, keystore, providers, dispatcher, audit)
