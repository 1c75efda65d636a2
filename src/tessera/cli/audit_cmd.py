"""`tessera audit verify` and `tessera audit show`: check and read the service's audit log."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tessera.cli._commands import add_action, add_command
from tessera.cli._errors import CliError, ExitCode

_RELATIVE = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def register(commands: Any) -> None:
    """Add `audit verify` and `audit show`."""
    audit = add_command(
        commands,
        "audit",
        "The service records every key creation, use, destruction and "
        "administrator operation in a hash-chained, signed log (docs/audit.md). `verify` checks "
        "it, `show` prints it.",
        ["tessera audit verify", "tessera audit show --app web --since 2h"],
    )
    actions = audit.add_subparsers(dest="audit_action", metavar="ACTION", required=True)
    verify = add_action(
        actions,
        "verify",
        "check the whole chain; report the first break",
        "Check the whole chain and its signed checkpoints. Exit status 0 when the chain holds, "
        "10 at the first break (printed).",
        ["tessera audit verify", "tessera audit verify --state-dir /var/lib/tessera"],
    )
    show = add_action(
        actions,
        "show",
        "print records, oldest first",
        "Print the log's records, oldest first, optionally only an application's, a key's, "
        "or the recent ones.",
        ["tessera audit show --key signing", "tessera audit show --since 2026-01-01T00:00"],
    )
    for parser in (verify, show):
        parser.add_argument("--state-dir", type=Path, help="the service's state directory")
        parser.add_argument("--dir", type=Path, dest="audit_dir", help="the audit log's folder")
    show.add_argument("--app", help="only this application (name, or authenticator:name)")
    show.add_argument("--key", help="only this key name")
    show.add_argument("--since", help="only records from then on: ISO time, or 30m, 2h, 1d ago")
    verify.set_defaults(run=run_verify)
    show.set_defaults(run=run_show)


def _directory(args: argparse.Namespace) -> Path:
    if args.audit_dir is not None:
        directory: Path = args.audit_dir
    else:
        from tessera._paths import default_state_dir

        directory = (args.state_dir or default_state_dir()).expanduser() / "audit"
    if not directory.is_dir():
        raise CliError(f"no audit log in {directory}", ExitCode.NOT_FOUND)
    return directory


def run_verify(args: argparse.Namespace) -> int:
    """Verify the chain and the checkpoint signatures."""
    from tessera.service.audit import verify_chain

    report = verify_chain(_directory(args))
    if getattr(args, "json", False):
        print(
            json.dumps(
                {
                    "records": report.records,
                    "checkpoints": report.checkpoints,
                    "first_seq": report.first_seq,
                    "last_seq": report.last_seq,
                    "unsigned_tail": report.unsigned_tail,
                    "break": None
                    if report.broken is None
                    else {
                        "file": str(report.broken.file),
                        "line": report.broken.line,
                        "reason": report.broken.reason,
                    },
                }
            )
        )
    elif report.broken is None:
        span = f"records {report.first_seq}..{report.last_seq}" if report.records else "no records"
        print(
            f"the chain holds: {span}, {report.checkpoints} signed checkpoints, "
            f"{report.unsigned_tail} records after the last one"
        )
    if report.broken is not None:
        where = f"{report.broken.file}, line {report.broken.line}"
        raise CliError(f"the chain breaks at {where}: {report.broken.reason}", _BROKEN)
    return 0


_BROKEN = ExitCode.INVALID_SIGNATURE


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        amount, unit = int(relative.group(1)), _UNITS[relative.group(2)]
        return datetime.now(UTC) - timedelta(**{unit: amount})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        message = f"--since {text!r}: give an ISO time or 30m, 2h, 1d"
        raise CliError(message, ExitCode.USAGE) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _matches(record: dict[str, Any], args: argparse.Namespace, since: datetime | None) -> bool:
    if record.get("kind") != "op":
        return False
    if args.app is not None:
        app = str(record.get("app"))
        if app != args.app and app.split(":", 1)[-1] != args.app:
            return False
    if args.key is not None and record.get("key") != args.key:
        return False
    if since is not None:
        try:
            if datetime.fromisoformat(str(record.get("time"))) < since:
                return False
        except ValueError:
            return False
    return True


def run_show(args: argparse.Namespace) -> int:
    """Print the operation records that match, one line each (JSON lines with --json)."""
    from tessera.service.audit import read_records

    since = _since(args.since)
    for _path, _line, _raw, record in read_records(_directory(args)):
        if record is None or not _matches(record, args, since):
            continue
        if getattr(args, "json", False):
            print(json.dumps(record))
        else:
            key = f" key {record['key']!r}" if record.get("key") else ""
            print(
                f"{record['time']} #{record['seq']} {record['app']} {record['op']}"
                f" provider {record['provider']}{key}: {record['status']}"
            )
    return 0
