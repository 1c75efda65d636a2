"""create-csr: a PKCS#10 certificate signing request signed by a key that stays in the service.

Options are parsec-tool's: the subject from `--cn --l --o --ou --st --c --serialNumber`, subject
alternative names from `--san` (repeatable; IP addresses or DNS names), the signature from the
key's own algorithm (ECDSA, RSA PKCS#1 v1.5, RSA-PSS or EdDSA). The client library builds the
request, the service signs it, and `cryptography` checks it before it is printed in PEM.
"""

from __future__ import annotations

import argparse
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

import tessera.client as tessera
from tessera.cli._commands import add_command
from tessera.cli._common import Context, command
from tessera.cli._errors import CliError, ExitCode

# parsec-tool's DN options, in the order it writes them into the subject.
_DN_OPTIONS = (
    ("--cn", "common_name", NameOID.COMMON_NAME, "common name"),
    ("--ou", "organizational_unit", NameOID.ORGANIZATIONAL_UNIT_NAME, "organizational unit"),
    ("--o", "organization", NameOID.ORGANIZATION_NAME, "organization"),
    ("--l", "locality", NameOID.LOCALITY_NAME, "locality"),
    ("--st", "state", NameOID.STATE_OR_PROVINCE_NAME, "state or province"),
    ("--c", "country", NameOID.COUNTRY_NAME, "two-letter country code"),
    ("--serialNumber", "serial_number", NameOID.SERIAL_NUMBER, "serial number"),
)


def register(commands: Any) -> None:
    """Add the create-csr sub-command."""
    parser = add_command(
        commands,
        "create-csr",
        "Create a PKCS#10 certificate signing request for a key, signed in the service with "
        "the key's own algorithm, and print it in PEM. Subject options come in the subject in "
        "this order: --cn, --ou, --o, --l, --st, --c, --serialNumber; --san is repeatable (IP "
        "addresses become IP entries, anything else DNS names).",
        [
            "tessera create-csr --key-name signing --cn example.com --san example.com > req.csr",
            "openssl req -in req.csr -noout -verify -text",
        ],
        client=True,
    )
    parser.add_argument("-k", "--key-name", required=True, help="the signing key's name")
    for flag, dest, _, what in _DN_OPTIONS:
        parser.add_argument(flag, dest=dest, metavar="TEXT", help=f"subject {what}")
    parser.add_argument(
        "--san", action="append", default=[], metavar="NAME", help="a subject alternative name"
    )
    parser.set_defaults(run=command(create_csr))


# the request


def subject(args: argparse.Namespace) -> x509.Name:
    """The subject from the DN options, in parsec-tool's order."""
    attributes = []
    for flag, dest, oid, _ in _DN_OPTIONS:
        value: str | None = getattr(args, dest)
        if value is not None:
            try:
                attributes.append(x509.NameAttribute(oid, value))
            except ValueError as error:
                raise CliError(f"{flag}: {error}") from None
    return x509.Name(attributes)


def create_csr(context: Context, args: argparse.Namespace) -> None:
    """Print a PEM certificate request signed by the key."""
    name = subject(args)
    key = context.key(args.key_name)
    if key.attributes.key_policy.key_algorithm.WhichOneof("variant") != "asymmetric_signature":
        raise CliError(f"key {key.name!r} is not a signing key")
    try:
        csr = key.certificate_request(name, args.san)
    except tessera.UsageError as error:
        raise CliError(str(error)) from None
    except tessera.ProtocolError as error:
        raise CliError(str(error), ExitCode.PROTOCOL) from None
    pem = csr.public_bytes(serialization.Encoding.PEM).decode("ascii")
    context.emit(pem.rstrip("\n"), {"name": key.name, "pem": pem})
