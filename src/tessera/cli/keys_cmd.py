"""Key management: create-rsa-key, create-ecc-key, create-key, import-key, export-public-key,
export-key, delete-key.

create-rsa-key and create-ecc-key make the keys parsec-tool makes; create-key and import-key
take any of the client library's named specs.
"""

from __future__ import annotations

from tessera.cli._commands import add_command
from tessera.cli._common import Context, command, invalid, read_file
from tessera.cli._errors import CliError

# Start-up time: the specs and protobuf load with the commands that make or import a key, not
# with delete-key (a key's lookup and PsaDestroyKey, as sign's: no protobuf, no argparse).
TYPE_CHECKING = False
if TYPE_CHECKING:  # the key formats load with the commands reading or printing keys (_pem)
    import argparse

    import tessera.client as tessera
    from tessera.cli._commands import Commands
    from tessera.psa import formats

DEFAULT_RSA_BITS = 2048


def named_specs() -> dict[str, tessera.KeySpec]:
    """create-key / import-key --spec NAME."""
    from tessera.client import specs

    return {
        "ecdsa-p256": specs.ECDSA_P256,
        "ecdsa-p384": specs.ECDSA_P384,
        "ecdsa-p521": specs.ECDSA_P521,
        "ed25519": specs.ED25519,
        "rsa-3072-pss": specs.RSA_3072_PSS,
        "rsa-3072-oaep": specs.RSA_3072_OAEP,
        "aes-256-gcm": specs.AES_256_GCM,
        "chacha20-poly1305": specs.CHACHA20_POLY1305,
        "hmac-sha256": specs.HMAC_SHA256,
        "ecdh-p256": specs.ECDH_P256,
        "x25519": specs.X25519,
    }


_ASYMMETRIC = {
    "rsa_key_pair",
    "rsa_public_key",
    "ecc_key_pair",
    "ecc_public_key",
    "dh_key_pair",
    "dh_public_key",
}


def _bits(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise invalid(f"not a number of bits: {text!r}") from None
    if value <= 0:
        raise invalid("the key size must be positive")
    return value


def _key_name(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", "--key-name", required=True, help="the key's name")


def register(commands: Commands) -> None:
    """Add the key management sub-commands."""
    if commands.wants("create-rsa-key"):
        parser = add_command(
            commands,
            "create-rsa-key",
            "Create an RSA key pair in the service, as parsec-tool does: for encryption with "
            "PKCS#1 v1.5 by default, with OAEP (SHA-256) with --oaep, or for signing with -s "
            "(PKCS#1 v1.5) or -r (PSS), SHA-256. The service decides which sizes it supports.",
            [
                "tessera create-rsa-key --key-name decrypting",
                "tessera create-rsa-key -k oaep --oaep --bits 3072",
                "tessera create-rsa-key -k rsa-pss --for-signing-pss",
            ],
            client=True,
        )
        _key_name(parser)
        parser.add_argument(
            "-s",
            "--for-signing",
            action="store_true",
            help="a signing key (PKCS#1 v1.5 with SHA-256); wins over --for-signing-pss",
        )
        parser.add_argument(
            "-r", "--for-signing-pss", action="store_true", help="a signing key (PSS with SHA-256)"
        )
        parser.add_argument(
            "-b", "--bits", type=_bits, default=DEFAULT_RSA_BITS, help="key size (default 2048)"
        )
        parser.add_argument(
            "-o", "--oaep", action="store_true", help="encrypt with OAEP (SHA-256), not PKCS#1 v1.5"
        )
        parser.set_defaults(run=command(create_rsa_key))
    if commands.wants("create-ecc-key"):
        parser = add_command(
            commands,
            "create-ecc-key",
            "Create an ECC key pair on P-256 for ECDSA signatures with SHA-256, as parsec-tool "
            "does.",
            ["tessera create-ecc-key --key-name signing"],
            client=True,
        )
        _key_name(parser)
        parser.set_defaults(run=command(create_ecc_key))
    if commands.wants("create-key"):
        parser = add_command(
            commands,
            "create-key",
            "Create a key from one of the client library's named specs: its type, size, "
            "algorithm and usage.",
            [
                "tessera create-key --key-name mac --spec hmac-sha256",
                "tessera create-key --key-name sealing --spec aes-256-gcm --exportable",
            ],
            client=True,
        )
        _key_name(parser)
        parser.add_argument(
            "--spec", required=True, choices=sorted(named_specs()), help="what key to make"
        )
        parser.add_argument(
            "--exportable", action="store_true", help="allow the key material to be exported"
        )
        parser.set_defaults(run=command(create_key))
    if commands.wants("import-key"):
        parser = add_command(
            commands,
            "import-key",
            "Import a PEM or DER private key (PKCS#8 or traditional) or public key "
            "(SubjectPublicKeyInfo), which gets the default spec for its type unless --spec says "
            "otherwise, or raw secret bytes with --spec. Encrypted PEM files are refused.",
            [
                "tessera import-key --key-name imported key.pem",
                "tessera import-key --key-name secret --spec aes-256-gcm secret.bin",
            ],
            client=True,
        )
        _key_name(parser)
        parser.add_argument("file", metavar="FILE", help="the key file ('-' for stdin)")
        parser.add_argument(
            "--spec",
            choices=sorted(named_specs()),
            help="the key's spec (required for raw secrets)",
        )
        parser.add_argument(
            "--exportable", action="store_true", help="allow export again (needs --spec)"
        )
        parser.set_defaults(run=command(import_key))
    if commands.wants("export-public-key"):
        parser = add_command(
            commands,
            "export-public-key",
            "Print the public part of a key pair in PEM: SubjectPublicKeyInfo, or PKCS#1 for RSA "
            "with --pkcs1.",
            [
                "tessera export-public-key --key-name signing > signing.pem",
                "tessera export-public-key --key-name decrypting --pkcs1",
            ],
            client=True,
        )
        _key_name(parser)
        parser.add_argument(
            "--pkcs1", action="store_true", help="RSA keys in PKCS#1 (RSA PUBLIC KEY) format"
        )
        parser.set_defaults(run=command(export_public_key))
    if commands.wants("export-key"):
        parser = add_command(
            commands,
            "export-key",
            "Print a key created or imported --exportable: key pairs as PKCS#8 PEM, public keys "
            "as SubjectPublicKeyInfo PEM, symmetric keys as base64. Nothing else prints key "
            "material.",
            ["tessera export-key --key-name mac"],
            client=True,
        )
        _key_name(parser)
        parser.set_defaults(run=command(export_key))
    if commands.wants("delete-key"):
        parser = add_command(
            commands,
            "delete-key",
            "Destroy a key in the service; its material is erased.",
            ["tessera delete-key --key-name signing", "tessera -p 1 delete-key -k signing"],
            client=True,
        )
        _key_name(parser)
        parser.set_defaults(run=command(delete_key))


def _created(context: Context, key: tessera.Key) -> None:
    from tessera.cli import _describe

    context.emit(None, _describe.key_summary(key.name, key.provider, key.attributes))


def rsa_spec(args: argparse.Namespace) -> tessera.KeySpec:
    """The RSA key parsec-tool makes for these flags."""
    import tessera.client as tessera
    from tessera.client import specs
    from tessera.wire.proto.psa_algorithm_pb2 import Algorithm
    from tessera.wire.proto.psa_key_attributes_pb2 import KeyType

    bits: int = args.bits
    if args.for_signing:
        return specs.rsa_pkcs1v15_sign(bits)
    if args.for_signing_pss:
        return specs.rsa_pss(bits)
    if args.oaep:
        return specs.rsa_oaep(bits)
    pkcs1v15 = Algorithm.AsymmetricEncryption(
        rsa_pkcs1v15_crypt=Algorithm.AsymmetricEncryption.RsaPkcs1v15Crypt()
    )
    return tessera.KeySpec(
        f"rsa-{bits}-pkcs1v15-crypt",
        KeyType(rsa_key_pair=KeyType.RsaKeyPair()),
        bits,
        Algorithm(asymmetric_encryption=pkcs1v15),
        specs.ENCRYPT,
    )


def create_rsa_key(context: Context, args: argparse.Namespace) -> None:
    """Create an RSA key: encryption by default, signing with -s or -r."""
    _created(context, context.client.generate_key(args.key_name, rsa_spec(args)))


def create_ecc_key(context: Context, args: argparse.Namespace) -> None:
    """Create a P-256 ECDSA (SHA-256) signing key."""
    from tessera.client import specs

    _created(context, context.client.generate_key(args.key_name, specs.ECDSA_P256))


def create_key(context: Context, args: argparse.Namespace) -> None:
    """Create a key from a named spec."""
    spec = named_specs()[args.spec]
    if args.exportable:
        spec = spec.exportable()
    _created(context, context.client.generate_key(args.key_name, spec))


def import_key(context: Context, args: argparse.Namespace) -> None:
    """Import a PEM/DER private or public key, or raw secret bytes with --spec."""
    data = read_file(args.file)
    spec = named_specs()[args.spec] if args.spec else None
    if args.exportable:
        if spec is None:
            raise CliError("--exportable needs --spec")
        spec = spec.exportable()
    material: formats.PrivateKey | formats.PublicKey | bytes
    if spec is not None and spec.key_type.WhichOneof("variant") not in _ASYMMETRIC:
        material = data
    else:
        from tessera.cli._pem import load_key

        material = load_key(data, args.file)
    _created(context, context.client.import_key(args.key_name, material, spec))


def export_public_key(context: Context, args: argparse.Namespace) -> None:
    """Print the public key: SubjectPublicKeyInfo PEM, or PKCS#1 PEM for RSA with --pkcs1."""
    from tessera.cli._pem import public_pem

    key = context.key(args.key_name)
    pem = public_pem(key.public_key(), pkcs1=args.pkcs1)
    context.emit(
        pem.rstrip("\n"),
        {"name": key.name, "format": "pkcs1" if args.pkcs1 else "spki", "pem": pem},
    )


def export_key(context: Context, args: argparse.Namespace) -> None:
    """Print the key material (the key must have been created exportable)."""
    key = context.key(args.key_name)
    from tessera.cli._pem import pem_or_base64

    encoding, text = pem_or_base64(key, key.export())
    context.emit(text.rstrip("\n"), {"name": key.name, "format": encoding, "data": text})


def delete_key(context: Context, args: argparse.Namespace) -> None:
    """Delete a key (`Key.destroy`'s flow on the key found as sign finds it: no protobuf)."""
    from tessera.client import _keyflows

    ref = context.key_ref(args.key_name)
    context.run(_keyflows.destroy(ref))
    context.emit(None, {"deleted_key": ref.name, "provider": ref.provider})
