"""The service's state on disk, checked before anything is read from it (docs/security.md).

The state directory holds the key-encryption key and, by default, the key store; a key store
configured elsewhere (`key_manager.store_path`) puts its directory under the same rule. The
files themselves are checked where they are opened (keystore/kek.py, keystore/sqlite.py), the
socket directory where the socket is bound (daemon/socket_file.py).
"""

from __future__ import annotations

from tessera.daemon.private_state import ensure_private_directory
from tessera.service.config import ServiceConfig


def prepare_state(config: ServiceConfig) -> None:
    """Create the state directories 0700, or refuse (ConfigError) ones others could use."""
    # With a client group, the default socket directory lies inside the state directory: the
    # group must be able to pass through it.
    grouped = config.socket_group is not None
    ensure_private_directory(config.state_dir, "state directory", group_may_read=grouped)
    store_dir = config.key_store_path.parent
    if store_dir != config.state_dir:
        ensure_private_directory(store_dir, "key store directory")
