"""Cryptographic operations: generate-random, sign, verify, encrypt, decrypt, hash, mac,
verify-mac.

Formats are parsec-tool's: plaintext in and out as UTF-8 text, signatures and ciphertexts as
base64, ECDSA signatures DER-encoded (RFC 3279 Ecdsa-Sig-Value), random bytes as spaced hex.
`--input-file` takes raw bytes instead of the DATA argument.

The commands on a key run the flows of `tessera.Key`'s methods on the key's attributes as the
service sent them (`Context.key_ref`, `Context.run`): a script that signs in a loop loads
neither protobuf nor `cryptography` (DER is written and read by `tessera.client._der`).
"""

from __future__ import annotations

import os
import sys

import tessera.client as tessera
from tessera.cli._commands import add_command
from tessera.cli._common import (
    Context,
    add_data_argument,
    b64,
    command,
    decode_base64,
    invalid,
    read_data,
)
from tessera.cli._errors import CliError, ExitCode
from tessera.client import _der, _keyflows
from tessera.client._messages import ALGORITHM, ASYMMETRIC_SIGNATURE, HASH
from tessera.wire.protowire import which

TYPE_CHECKING = False  # typing, pathlib and protobuf are not imported at run time (start-up)
if TYPE_CHECKING:
    import argparse
    from pathlib import Path
    from typing import Any

    from tessera.cli._commands import Commands
    from tessera.client._keyref import KeyRef
    from tessera.wire.proto.psa_algorithm_pb2 import Algorithm


def hashes() -> dict[str, Algorithm.Hash]:
    """Algorithm.Hash's values by name, from the schema held to its descriptor (not protobuf's
    enum); made when `hash` is declared (the PSA names are not loaded for the other commands)."""
    from tessera.cli._psa_names import hash_name

    return {
        hash_name(value): value  # type: ignore[misc]  # Algorithm.Hash values are these ints
        for value in HASH.names
        if value != 0  # HASH_NONE
    }


def _path(text: str) -> Path:
    """An argument as a Path (pathlib imported by the commands that take one)."""
    from pathlib import Path

    return Path(text)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise invalid(f"not a number of bytes: {text!r}") from None
    if value < 0:
        raise invalid("the number of bytes cannot be negative")
    return value


def _keyed(
    commands: Any, name: str, description: str, examples: list[str], data_help: str
) -> argparse.ArgumentParser:
    parser = add_command(commands, name, description, examples, client=True)
    parser.add_argument("-k", "--key-name", required=True, help="the key's name")
    add_data_argument(parser, data_help)
    return parser


_SIZES = (
    "Input of any size: over the service's request limit the data is hashed here and the "
    "digest signed (PsaSignHash), where the key's policy permits it."
)


def register(commands: Commands) -> None:
    """Add the cryptographic sub-commands."""
    if commands.wants("generate-random"):
        parser = add_command(
            commands,
            "generate-random",
            "Print random bytes from the service as upper-case hex, as parsec-tool does "
            "(base64 in JSON).",
            ["tessera generate-random --nbytes 16"],
            client=True,
        )
        parser.add_argument("-n", "--nbytes", type=_count, required=True, help="how many bytes")
        parser.set_defaults(run=command(generate_random))
    if commands.wants("sign"):
        _keyed(
            commands,
            "sign",
            "Sign data with the key's own algorithm and hash; print the signature in base64 "
            f"(ECDSA: DER, what openssl verifies). {_SIZES}",
            [
                'tessera sign --key-name signing "hello" > sig.b64',
                "tessera sign --key-name signing -f firmware.bin",
            ],
            "UTF-8 text to sign",
        ).set_defaults(run=command(sign))
    if commands.wants("verify"):
        parser = _keyed(
            commands,
            "verify",
            "Check a signature made by `sign` (base64; ECDSA as DER or PSA's raw r || s). Exit "
            "status 0 and 'Verified OK' when it holds, 10 when it does not.",
            ['tessera verify --key-name signing --signature "$(cat sig.b64)" "hello"'],
            "the signed UTF-8 text",
        )
        parser.add_argument("-s", "--signature", required=True, help="the signature, base64")
        parser.set_defaults(run=command(verify))
    if commands.wants("encrypt"):
        _keyed(
            commands,
            "encrypt",
            "Encrypt data with the key's algorithm (RSA PKCS#1 v1.5 or OAEP, AES-GCM, "
            "ChaCha20-Poly1305: nonce, then ciphertext and tag) and print it in base64.",
            ['tessera encrypt --key-name decrypting "secret"'],
            "UTF-8 plaintext",
        ).set_defaults(run=command(encrypt))
    if commands.wants("decrypt"):
        parser = _keyed(
            commands,
            "decrypt",
            "Decrypt base64 ciphertext made by `encrypt` with the key's algorithm and print the "
            "plaintext: as text when it is UTF-8, else its raw bytes to a file or a pipe (never to "
            "a terminal, never altered). A tampered AEAD ciphertext is exit status 10.",
            [
                'tessera decrypt --key-name decrypting "$CIPHERTEXT"',
                "tessera decrypt --key-name decrypting -f secret.b64 -o secret.bin",
            ],
            "base64 ciphertext",
        )
        parser.add_argument(
            "-o", "--output-file", type=_path, help="write the plaintext's bytes here (mode 0600)"
        )
        parser.set_defaults(run=command(decrypt))
    if commands.wants("hash"):
        parser = add_command(
            commands,
            "hash",
            "Hash data in the service and print the hex digest; where the provider cannot, the "
            "client computes it (not for the legacy hashes).",
            ['tessera hash --alg sha256 "abc"', "tessera hash --alg sha3-256 -f file.bin"],
            client=True,
        )
        parser.add_argument(
            "-a", "--alg", choices=sorted(hashes()), default="sha256", help="hash (default sha256)"
        )
        add_data_argument(parser, "UTF-8 text to hash")
        parser.set_defaults(run=command(hash_data))
    if commands.wants("mac"):
        _keyed(
            commands,
            "mac",
            "Compute a MAC with an HMAC or CMAC key and print it in base64.",
            ['tessera mac --key-name mac "data"'],
            "UTF-8 text",
        ).set_defaults(run=command(mac))
    if commands.wants("verify-mac"):
        parser = _keyed(
            commands,
            "verify-mac",
            "Check a MAC made by `mac`. Exit status 0 when it holds, 10 when it does not.",
            ['tessera verify-mac --key-name mac --mac "$MAC" "data"'],
            "the authenticated text",
        )
        parser.add_argument("-m", "--mac", required=True, help="the MAC, base64")
        parser.set_defaults(run=command(verify_mac))


def generate_random(context: Context, args: argparse.Namespace) -> None:
    """Print `--nbytes` random bytes as parsec-tool does: `0A 1B ... ` (upper-case hex)."""
    try:
        # Client.random's call, through the operation client alone (no PSA messages to load)
        data = context.operations.psa_generate_random(args.nbytes)
    except tessera.ResponseTooLargeError:
        raise CliError(
            f"the service will not return {args.nbytes} bytes at once (over its buffer size "
            "limit, buffer_size_limit): ask for fewer, in several calls",
            ExitCode.SERVICE,
        ) from None
    text = " ".join(f"{byte:02X}" for byte in data)
    context.emit(text, {"random": b64(data)})


def _ecdsa_bytes(ref: KeyRef) -> int | None:
    """The size of r (and s) for an ECDSA key, None for other keys."""
    algorithm = ref.algorithm_fields
    if which(ALGORITHM, algorithm, "variant") != "asymmetric_signature":
        return None
    scheme = which(ASYMMETRIC_SIGNATURE, algorithm["asymmetric_signature"], "variant")
    if scheme not in ("ecdsa", "deterministic_ecdsa"):
        return None
    return (ref.key_bits + 7) // 8


def sign(context: Context, args: argparse.Namespace) -> None:
    """Sign; ECDSA signatures come out DER-encoded, as openssl expects them."""
    key = context.key_ref(args.key_name)
    signature = context.run(_keyflows.sign(key, read_data(args), context.capabilities))
    if _ecdsa_bytes(key) is not None:
        half = len(signature) // 2
        r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        # DER is canonical: the Ecdsa-Sig-Value `cryptography` would encode, without loading it.
        signature = _der.sequence(_der.integer(r), _der.integer(s))
    context.emit(b64(signature), {"name": key.name, "signature": b64(signature)})


def _psa_signature(key: KeyRef, signature: bytes) -> bytes:
    """A DER ECDSA signature as PSA's r || s; anything else as given."""
    size = _ecdsa_bytes(key)
    if size is None:
        return signature
    try:
        # (strict DER, read as `cryptography`'s decode_dss_signature reads it, without it)
        r, s = _der.ecdsa_signature(signature)
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")
    except (ValueError, OverflowError):
        return signature  # already r || s, or not a signature: the service decides


def verify(context: Context, args: argparse.Namespace) -> None:
    """Check a signature; exit code 10 if it does not verify."""
    signature = decode_base64(args.signature, "--signature")
    key = context.key_ref(args.key_name)
    data = read_data(args)
    flow = _keyflows.verify(key, _psa_signature(key, signature), data, context.capabilities)
    try:
        context.run(flow)
    except tessera.InvalidSignatureError:
        raise CliError(
            f"the signature does not verify with key {key.name!r}", ExitCode.INVALID_SIGNATURE
        ) from None
    context.emit("Verified OK", {"name": key.name, "valid": True})


def encrypt(context: Context, args: argparse.Namespace) -> None:
    """Encrypt (RSA: the key's scheme; AEAD: nonce || ciphertext || tag)."""
    key = context.key_ref(args.key_name)
    ciphertext = context.run(_keyflows.encrypt(key, read_data(args), b"", context.capabilities))
    context.emit(b64(ciphertext), {"name": key.name, "ciphertext": b64(ciphertext)})


def decrypt(context: Context, args: argparse.Namespace) -> None:
    """Decrypt and print the plaintext as UTF-8 (JSON: base64)."""
    ciphertext = read_data(args, base64_text=True)
    key = context.key_ref(args.key_name)
    try:
        plaintext = context.run(_keyflows.decrypt(key, ciphertext, b"", context.capabilities))
    except tessera.InvalidSignatureError:
        raise CliError(
            f"the ciphertext was altered or is not for key {key.name!r}",
            ExitCode.INVALID_SIGNATURE,
        ) from None
    if context.json:
        context.emit(None, {"name": key.name, "plaintext": b64(plaintext)})
    elif args.output_file is not None:
        write_private_file(args.output_file, plaintext)
    else:
        write_plaintext(plaintext)


def write_private_file(path: Path, data: bytes) -> None:
    """`data` into a new or truncated file only its owner can read (not through a symbolic
    link: one planted in a shared directory would send the plaintext elsewhere)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW
    try:
        descriptor = os.open(path, flags, 0o600)
        os.fchmod(descriptor, 0o600)  # an existing file keeps its mode otherwise
    except OSError as error:
        raise CliError(f"cannot write {path}: {error.strerror}", ExitCode.USAGE) from None
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)


def write_plaintext(plaintext: bytes) -> None:
    """UTF-8 text as a line; other bytes as they are, to a pipe or file but not a terminal."""
    try:
        print(plaintext.decode("utf-8"))
        return
    except UnicodeDecodeError:
        pass
    if sys.stdout.isatty():
        raise CliError(
            f"the plaintext is {len(plaintext)} bytes of binary data: write it with "
            "--output-file FILE, redirect the output, or use --json (base64)",
            ExitCode.USAGE,
        )
    sys.stdout.flush()
    sys.stdout.buffer.write(plaintext)
    sys.stdout.buffer.flush()


def hash_data(context: Context, args: argparse.Namespace) -> None:
    """Print the digest in hex (JSON: base64)."""
    digest = context.client.digest(read_data(args), hashes()[args.alg])
    context.emit(digest.hex(), {"algorithm": args.alg, "digest": b64(digest)})


def mac(context: Context, args: argparse.Namespace) -> None:
    """Print the MAC in base64."""
    key = context.key_ref(args.key_name)
    tag = context.run(_keyflows.mac(key, read_data(args), context.capabilities))
    context.emit(b64(tag), {"name": key.name, "mac": b64(tag)})


def verify_mac(context: Context, args: argparse.Namespace) -> None:
    """Check a MAC; exit code 10 if it does not verify."""
    tag = decode_base64(args.mac, "--mac")
    key = context.key_ref(args.key_name)
    try:
        context.run(_keyflows.verify_mac(key, read_data(args), tag, context.capabilities))
    except tessera.InvalidSignatureError:
        raise CliError(
            f"the MAC does not verify with key {key.name!r}", ExitCode.INVALID_SIGNATURE
        ) from None
    context.emit("Verified OK", {"name": key.name, "valid": True})
