"""The helper process behind `RsaKeygenPool`: generates RSA key pairs on request.

Protocol on stdin/stdout, little-endian: the parent writes the key size (u32); the child answers
with the key's PSA encoding (PKCS#1 DER) prefixed by its length (u32), or a length of 0 when it
could not. End of input (the service closed the pipe or died) ends the process.

The pool runs this file as a script in isolated mode (`python -I FILE`): it imports only the
standard library and `cryptography`, nothing of Tessera, so the process holds no key-encryption
key, no database handle and no configuration, and starts in tens of milliseconds.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from typing import BinaryIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

_SIZE = struct.Struct("<I")
# Sizes a request may name; anything else is refused without allocating (the parent checked).
_ALLOWED_BITS = frozenset({1024, 2048, 3072, 4096})
# The service's event loop must win the CPU from key generation (nice levels; Linux applies
# them to a process's threads too).
_NICENESS = 10


def generate_rsa(bits: int) -> bytes:
    """A fresh RSA key pair in its PSA encoding (PKCS#1 DER); also the pool's fallback."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer requests until end of input."""
    while True:
        request = requests.read(_SIZE.size)
        if len(request) < _SIZE.size:
            return
        (bits,) = _SIZE.unpack(request)
        data = generate_rsa(bits) if bits in _ALLOWED_BITS else b""
        answers.write(_SIZE.pack(len(data)) + data)
        answers.flush()


def main() -> None:
    with contextlib.suppress(OSError):  # a lower priority is a courtesy, not a requirement
        os.nice(_NICENESS)
    # A broken pipe: the service went away, there is nobody to hand the key to.
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    main()
