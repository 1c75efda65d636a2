"""`tessera install-units`: write the systemd units, sysusers entry and configuration files."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from tessera.cli._commands import add_command
from tessera.cli._errors import CliError, ExitCode


def register(commands: Any) -> None:
    """Add the `install-units` sub-command."""
    parser = add_command(
        commands,
        "install-units",
        "Write tessera-service.socket, tessera-service.service, "
        "tessera-identity.service and tessera-orchestrator.service under ROOT/etc/systemd/system, "
        "a systemd-sysusers entry under ROOT/etc/sysusers.d, and configuration files under "
        "ROOT/etc/tessera (those only when absent: yours are kept). The units run this "
        "installation's tessera command. Then: systemd-sysusers; systemctl daemon-reload; "
        "systemctl enable --now tessera-service.socket tessera-identity.service "
        "tessera-orchestrator.service (docs/deployment.md).",
        [
            "sudo tessera install-units",
            "tessera install-units --root /tmp/staging --executable /usr/bin/tessera",
        ],
    )
    parser.add_argument(
        "--root",
        "--prefix",
        type=Path,
        default=Path("/"),
        help="write under this directory instead of / (a package's staging directory); the "
        "files still name the real paths",
    )
    parser.add_argument(
        "--executable", help="the tessera command ExecStart runs (default: this installation's)"
    )
    parser.add_argument("--user", default="tessera", help="the daemons' user (default tessera)")
    parser.add_argument(
        "--client-group",
        default="tessera-clients",
        help="the group whose members' applications may use the sockets (default tessera-clients)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite existing config files too")
    parser.set_defaults(run=run_install_units)


def this_command() -> str:
    """The absolute path of the `tessera` command of this installation."""
    beside = Path(sys.executable).parent / "tessera"  # a virtual environment's bin/
    if beside.is_file() and os.access(beside, os.X_OK):
        return os.fspath(beside)
    found = shutil.which("tessera")
    if found is not None:
        return os.fspath(Path(found).resolve())
    raise CliError(
        "cannot find the tessera command of this installation: name it with --executable",
        ExitCode.USAGE,
    )


def run_install_units(args: argparse.Namespace) -> int:
    """Write the files; unit files are always replaced, configuration files only with --force."""
    from tessera.cli._units import Layout, render

    command = args.executable or this_command()
    if not os.path.isabs(command) or any(c.isspace() for c in command):
        raise CliError(f"--executable must be an absolute path without spaces: {command!r}")
    layout = Layout(command=command, user=args.user, client_group=args.client_group)
    root: Path = args.root
    for relative, text in render(layout).items():
        target = root / relative
        keep = relative.startswith("etc/tessera/") and target.exists() and not args.force
        if keep:
            print(f"kept     {target} (exists; --force replaces it)")
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            _write(target, text)
        except OSError as error:
            raise CliError(
                f"cannot write {target}: {error.strerror}", ExitCode.NOT_PERMITTED
            ) from None
        print(f"wrote    {target}")
    return 0


def _write(path: Path, text: str) -> None:
    """Replace `path` in one rename, mode 0644 (systemd and the daemons' user read it)."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    partial.chmod(0o644)
    partial.replace(path)
