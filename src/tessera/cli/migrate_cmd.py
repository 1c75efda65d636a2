"""`tessera migrate-parsec`: bring a Parsec installation's keys into Tessera's key store.

Prints one line per key with its outcome, then which plaintext files to shred. Exit status: 0
when every key is usable from Tessera (or would be, with --dry-run); 4 when some key is not
(each line says why); 3 when the run cannot start (no store found, Parsec still running,
Tessera's configuration refused); 2 for usage errors. Never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tessera.cli._commands import add_command
from tessera.cli._errors import ExitCode

if TYPE_CHECKING:
    from tessera.service.migrate.migrate import Report

_AUTH_NAMES = {"direct": 1, "unix-peer": 3, "jwt-svid": 4}


def register(commands: Any) -> None:
    """Add the `migrate-parsec` sub-command."""
    parser = add_command(
        commands,
        "migrate-parsec",
        "Import the keys of a stopped Parsec service (its key-info store and Mbed "
        "Crypto key files) into Tessera's key store, under the same application and key names. "
        "Safe to run again: keys Tessera already holds are reported and skipped.",
        [
            "tessera migrate-parsec --parsec-dir /var/lib/parsec --dry-run",
            "tessera migrate-parsec --parsec-dir /var/lib/parsec --state-dir /var/lib/tessera",
        ],
    )
    parser.add_argument(
        "--parsec-dir",
        type=Path,
        required=True,
        metavar="DIR",
        help="Parsec's working directory, where Mbed Crypto keeps its key files "
        "(/var/lib/parsec for the packaged service)",
    )
    parser.add_argument(
        "--parsec-config",
        type=Path,
        metavar="FILE",
        help="Parsec's config.toml, to find its key-info stores and socket "
        "(default: DIR/config.toml, else /etc/parsec/config.toml)",
    )
    parser.add_argument(
        "--kim",
        type=Path,
        metavar="PATH",
        help="Parsec's key-info store: a SQLite file, or an on-disk mappings directory "
        "(default: those Parsec's config names)",
    )
    parser.add_argument(
        "--auth-type",
        choices=sorted(_AUTH_NAMES),
        help="for an on-disk store (which does not record it): the authenticator Parsec used "
        "(default: Parsec's config, else direct)",
    )
    parser.add_argument("--config", type=Path, help="Tessera's service configuration file")
    parser.add_argument("--state-dir", type=Path, help="Tessera's state directory")
    parser.add_argument(
        "--dry-run", action="store_true", help="check and report everything, write nothing"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Locate, check, migrate, report."""
    from tessera.service.config import ConfigError, load_config
    from tessera.service.migrate import MigrationError
    from tessera.service.migrate.migrate import migrate
    from tessera.service.migrate.parsec_state import locate
    from tessera.wire.status import StatusError

    try:
        config = load_config(args.config).with_overrides(state_dir=args.state_dir)
        parsec = locate(
            args.parsec_dir,
            config=args.parsec_config,
            kim=args.kim,
            auth_type=_AUTH_NAMES[args.auth_type] if args.auth_type else None,
        )
        report = migrate(parsec, config, dry_run=args.dry_run)
    except (MigrationError, ConfigError) as error:
        return _fail(str(error), ExitCode.CONFIG)
    except (StatusError, sqlite3.Error) as error:
        return _fail(f"Tessera's key store: {error}", ExitCode.CONFIG)
    except OSError as error:
        return _fail(f"{error.strerror}: {error.filename}", ExitCode.CONFIG)
    except Exception as error:  # a bug: still one line, never a traceback
        return _fail(f"internal error: {type(error).__name__}: {error}", ExitCode.INTERNAL)
    _print_report(report)
    return ExitCode.OK if report.complete else ExitCode.SERVICE


def _fail(message: str, code: ExitCode) -> int:
    print("tessera: migrate-parsec: " + " ".join(message.split()), file=sys.stderr)
    return code


def _quoted(text: str) -> str:
    """A name as a JSON string: control characters in it cannot disturb the terminal."""
    return json.dumps(text, ensure_ascii=False)


def _print_report(report: Report) -> None:
    for store in report.stores:
        print(f"Parsec key-info store: {store.path} ({store.kind}, {len(store.keys)} keys)")
    print(f"Tessera key store: {report.tessera_store}" + (" (dry run)" if report.dry_run else ""))
    width = max((len(r.outcome.value) for r in report.results), default=0)
    for result in report.results:
        owner = f"{_quoted(result.owner.name)} (auth {result.owner.auth_type})"
        print(
            f"{result.outcome.value:<{width}}  {owner} key {_quoted(result.key_name)}"
            f" [{result.source}]: {result.detail}"
        )
    for line in report.unreadable:
        print(f"unreadable  {line}")
    counts = Counter(r.outcome.value for r in report.results)
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.items()) or "no keys"
    extra = f", {len(report.unreadable)} unreadable" if report.unreadable else ""
    print(f"{len(report.results)} keys: {summary}{extra}.")
    files = report.files_to_shred
    if files:
        print(
            "These Mbed Crypto key files hold the migrated keys in plaintext. Once Tessera "
            "serves the keys, shred them (Parsec's copy is then gone):"
        )
        for path in files:
            print(f"  shred -u {path}")
