"""Explicit assembly of the service from its configuration: no plugin discovery.

One function builds the key store, providers, authenticators, core provider and dispatcher, and
fails fast (ConfigError) on anything that cannot work. A reload (service/reload.py) builds a new
request path from the same pieces, keeping the key store, trust store, audit log and the
providers whose tables did not change.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tessera._extras import require_extra
from tessera.daemon.private_state import ensure_private_directory
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
from tessera.trust.shared import SharedTrustState
from tessera.trust.store import TrustPolicy, TrustStore
from tessera.wire.opcodes import AuthType

log = logging.getLogger(__name__)


# A provider with the `[[provider]]` table it was built from (a reload keeps it if unchanged).
Built = tuple[ProviderConfig, Provider]


@dataclass
class Assembly:
    """Everything the request path needs: built at start-up, its request path swapped by reloads."""

    config: ServiceConfig
    keystore: KeyStore
    providers: list[Provider]  # every provider open now: current ones and ones still draining
    dispatcher: Dispatcher  # the current request path
    audit: AuditLog | None = None
    # Shared by every request path: the identity provider's root and intermediate live here.
    trust: TrustStore | None = None
    quotas: Quotas | None = None
    active: list[Built] = field(default_factory=list)  # the current providers, in config order

    def close(self) -> None:
        """Release providers, the audit log and the key store."""
        providers, self.providers = self.providers, []
        for provider in providers:
            provider.close()
        if self.audit is not None:
            self.audit.close()
        if self.quotas is not None:
            self.quotas.close()
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
    """The store for the identity provider's root and intermediates, shared by every process
    of this run through the live directory (trust/shared.py)."""
    ensure_private_directory(config.live_directory, "live state directory")
    return TrustStore(
        TrustPolicy(uid=config.trust.allowed_uid, exe=config.trust.exe),
        shared=SharedTrustState(config.live_directory),
    )


def build_provider(entry: ProviderConfig, config: ServiceConfig, keystore: KeyStore) -> Provider:
    """The provider for one `[[provider]]` table."""
    if entry.provider_type == "software":
        from tessera.service.providers.software import SoftwareProvider

        return SoftwareProvider(entry.provider_id, entry.name, keystore, config)
    if entry.provider_type == "pkcs11":
        try:
            from tessera.service.providers.pkcs11.provider import Pkcs11Provider
        except ImportError as error:
            require_extra("pkcs11", error, ConfigError)

        assert entry.settings is None or isinstance(entry.settings, Pkcs11Settings)
        return Pkcs11Provider(entry.provider_id, entry.name, keystore, config, entry.settings)
    if entry.provider_type == "tpm":
        from tessera.service.providers.tpm.provider import TpmProvider

        assert entry.settings is None or isinstance(entry.settings, TpmSettings)
        return TpmProvider(entry.provider_id, entry.name, keystore, config, entry.settings)
    raise ConfigError(f"unknown provider type {entry.provider_type!r}")


def build_providers(
    config: ServiceConfig, keystore: KeyStore, kept: Mapping[int, Built] | None = None
) -> tuple[list[Built], list[Provider]]:
    """The providers of `config` in order, reusing `kept` ones whose table is unchanged; also
    the ones built here. On failure, those built here are closed and the error raised."""
    kept = kept or {}
    chosen: list[Built] = []
    added: list[Provider] = []
    try:
        for entry in config.providers:
            old = kept.get(entry.provider_id)
            if old is not None and old[0] == entry:
                chosen.append(old)  # not reopened: one instance per provider, one KEK read
                continue
            try:
                provider = build_provider(entry, config, keystore)
            except TpmUnavailable as error:
                if not (isinstance(entry.settings, TpmSettings) and entry.settings.skip_if_no_tpm):
                    raise
                log.warning("provider %d left out (skip_if_no_tpm): %s", entry.provider_id, error)
                continue
            added.append(provider)
            chosen.append((entry, provider))
    except BaseException:
        for provider in added:
            provider.close()
        raise
    return chosen, added


def build_authenticators(config: ServiceConfig, trust: TrustStore) -> dict[AuthType, Authenticator]:
    """The configured authenticators, in order."""
    return {t: build_authenticator(t, config, trust) for t in config.authenticators}


def build_dispatcher(
    config: ServiceConfig,
    keystore: KeyStore,
    providers: Sequence[Provider],
    authenticators: Mapping[AuthType, Authenticator],
    *,
    trust: TrustStore,
    audit: AuditLog | None,
    quotas: Quotas,
) -> Dispatcher:
    """The request path over already built parts (cannot fail)."""
    core = CoreProvider(providers, list(authenticators.values()), keystore)
    return Dispatcher(
        authenticators,
        config.admin_identities(),
        core,
        {p.provider_id: p for p in providers},
        TrustEndpoint(trust),
        log_error_details=config.log_error_details,
        audit=audit,
        quotas=quotas,
    )


def build(config: ServiceConfig) -> Assembly:
    """Assemble the service; the caller owns the result and must close it."""
    keystore = KeyStore(config.key_store_path)
    providers: list[Provider] = []
    audit: AuditLog | None = None
    try:
        if config.audit.enabled:
            audit = AuditLog(
                config.audit_directory,
                live=config.live_directory,
                max_file_bytes=config.audit.max_file_bytes,
                checkpoint_records=config.audit.checkpoint_records,
                checkpoint_seconds=config.audit.checkpoint_seconds,
            )
        active, providers = build_providers(config, keystore)
        trust = build_trust_store(config)
        authenticators = build_authenticators(config, trust)
        quotas = Quotas(config.quotas, keystore, live=config.live_directory)
        current = [provider for _, provider in active]
        dispatcher = build_dispatcher(
            config, keystore, current, authenticators, trust=trust, audit=audit, quotas=quotas
        )
    except BaseException:
        for provider in providers:
            provider.close()
        if audit is not None:
            audit.close()
        keystore.close()
        raise
    return Assembly(config, keystore, providers, dispatcher, audit, trust, quotas, active)
