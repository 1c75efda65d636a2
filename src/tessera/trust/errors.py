"""The exception raised when trust cannot be established or a signature cannot be accepted.

The tree is shallow::

    Exception
    ├── StatusError              (tessera.wire.status: carries a wire `Status`)
    │   └── TrustError           the peer's fault: a refused root, certificate, payload or token
    └── ValueError               our own misuse: a bad argument, a malformed bundle file

`TrustError.status` is one of the `TRUST_*` statuses. Messages say what was wrong, never with key
material, certificates or tokens in them, so they are safe to log and to send back to the peer.
"""

from __future__ import annotations

from tessera.wire.status import StatusError

__all__ = ["TrustError"]


class TrustError(StatusError):
    """Trust refused: a root, intermediate, signed payload or token did not pass a check."""
