"""A demo application: creates its keys, signs and verifies, and shows what it cannot reach.

Both demo applications use the same key names. Each sees, uses and lists only its own keys:
the service partitions keys by the application identity the orchestrator proved.
"""

from __future__ import annotations

import hashlib
import signal
import sys
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import tessera

KEY = "demo-signing"
SEALING = "demo-sealing"
PERIOD = 5.0


def fingerprint(key: tessera.Key) -> str:
    """A short fingerprint of a key's public half."""
    public = key.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def ensure_key(client: tessera.Client, name: str, spec: tessera.KeySpec) -> tessera.Key:
    """The application's key of that name, created on first run (and kept across restarts)."""
    try:
        return client.key(name)
    except tessera.DoesNotExistError:
        return client.generate_key(name, spec)


def main() -> int:
    me = sys.argv[1] if len(sys.argv) > 1 else "demo"
    peer = sys.argv[2] if len(sys.argv) > 2 else "peer"

    def say(text: str) -> None:
        print(f"[{me}] {text}", flush=True)

    with tessera.Client() as client:
        signing = ensure_key(client, KEY, tessera.ECDSA_P256)
        secret = ensure_key(client, SEALING, tessera.AES_256_GCM)
        say(f"my identity works; {KEY!r} has public key fingerprint {fingerprint(signing)}")
        ensure_key(client, f"{me}-only", tessera.ECDSA_P256)
        visible = sorted(k.name for k in client.keys())  # noqa: SIM118 - a method, not a dict
        say(f"keys I can see: {visible}")
        try:
            client.key(f"{peer}-only")
            say(f"UNEXPECTED: I can reach {peer}'s key")
        except tessera.DoesNotExistError:
            say(f"{peer}'s key {peer + '-only'!r} does not exist for me: keys are per application")
        try:
            secret.export()
            say("UNEXPECTED: exported a non-exportable key")
        except tessera.NotPermittedError:
            say("exporting my AES key is refused: it never leaves the service")
        sealed = secret.encrypt(f"a note from {me}".encode())
        say(f"encrypted and decrypted: {secret.decrypt(sealed).decode()!r}")
        rounds = 0
        while True:
            message = f"{me} round {rounds}".encode()
            signing.verify(signing.sign(message), message)
            if rounds % 12 == 0:
                say(f"signed and verified round {rounds}")
            rounds += 1
            time.sleep(PERIOD)


if __name__ == "__main__":
    # As a container's first process (pid 1) SIGTERM would be ignored: stop on it explicitly.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
