"""Migration from Parsec's on-disk state: its key-info store and Mbed Crypto's key files.

`parsec_attributes` decodes the records Parsec's key-info managers hold, `parsec_kim` reads both
kinds of store, `parsec_state` finds them (and refuses while Parsec is running), `mbed_storage`
reads Mbed TLS's persistent key files, and `migrate` brings each key into Tessera's key store.
"""

from tessera.service.migrate.errors import FormatError, MigrationError

__all__ = ["FormatError", "MigrationError"]
