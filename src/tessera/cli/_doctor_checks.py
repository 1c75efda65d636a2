"""The checks of `tessera doctor`: each looks at one thing and says OK, WARN, FAIL or SKIP, why.

They only look: a socket's mode, a connection, the unauthenticated core operations (Ping,
ListAuthenticators, ListProviders, ListOpcodes) and TrustStatus, which every client may ask.
Nothing here needs the daemons' user, and what that user alone may see is reported as not
checked (SKIP), never guessed.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import grp
import os
import pwd
import socket
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf.message import Message

from tessera.daemon import link
from tessera.wire.opcodes import AuthType, Opcode
from tessera.wire.proto import (
    list_apps_pb2,
    list_authenticators_pb2,
    list_opcodes_pb2,
    list_providers_pb2,
    ping_pb2,
    trust_status_pb2,
)
from tessera.wire.status import StatusError

OK, WARN, FAIL, SKIP = "OK", "WARN", "FAIL", "SKIP"
CALL_TIMEOUT = 3.0
CLOCK_LEEWAY = 5.0  # seconds: the token leeway's default ([trust] leeway)
CORE_PROVIDER = 0
AUTH_NAMES = {
    AuthType.DIRECT: "direct",
    AuthType.JWT: "jwt",
    AuthType.UNIX_PEER_CREDENTIALS: "unix-peer",
    AuthType.JWT_SVID: "jwt-svid",
}


@dataclass
class Check:
    """One finding: what was checked, how it stands, why, and facts for --json."""

    name: str
    level: str
    reason: str
    facts: dict[str, Any] = field(default_factory=dict)


def _who(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _closed(name: str, path: Path) -> Check:
    """What could not be looked at as this user: not checked, not guessed."""
    return Check(name, SKIP, f"cannot look into {path.parent} as {_who(os.geteuid())}")


def _describe(info: os.stat_result) -> str:
    return f"{stat.filemode(info.st_mode)} {_who(info.st_uid)}:{_group(info.st_gid)}"


def socket_permissions(name: str, path: Path) -> Check:
    """The socket file and its directory: who may connect, and whether anyone could replace it."""
    try:
        info = path.lstat()
        directory = path.parent.stat()
    except PermissionError:
        return _closed(name, path)
    except FileNotFoundError:
        return Check(name, FAIL, f"no socket at {path}: is the daemon running?")
    except OSError as error:
        return Check(name, FAIL, f"{path}: {error.strerror or error}")
    facts = {
        "path": str(path),
        "mode": oct(stat.S_IMODE(info.st_mode)),
        "owner": _who(info.st_uid),
        "group": _group(info.st_gid),
        "directory_mode": oct(stat.S_IMODE(directory.st_mode)),
        "directory_owner": _who(directory.st_uid),
    }
    where = f"{path} {_describe(info)}, directory {_describe(directory)}"
    if not stat.S_ISSOCK(info.st_mode):
        return Check(name, FAIL, f"{path} is not a socket", facts)
    dir_mode = stat.S_IMODE(directory.st_mode)
    if dir_mode & 0o022 and not directory.st_mode & stat.S_ISVTX:
        return Check(name, FAIL, f"{where}: others may replace the socket (chmod go-w)", facts)
    if directory.st_uid not in (info.st_uid, 0):
        owner = _who(directory.st_uid)
        return Check(name, FAIL, f"{where}: the directory belongs to {owner}", facts)
    if directory.st_mode & stat.S_ISVTX:
        return Check(name, WARN, f"{where}: a shared directory; only the socket's mode guards it")
    if stat.S_IMODE(info.st_mode) & 0o007 and dir_mode & 0o001:
        return Check(name, WARN, f"{where}: every local user may connect", facts)
    return Check(name, OK, where, facts)


def _call(path: Path, opcode: Opcode, body: Message) -> Message:
    return asyncio.run(link.call(path, opcode, body, timeout=CALL_TIMEOUT))


def reach(name: str, path: Path) -> Check:
    """Connect and Ping; the reason says what stands in the way when it fails."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(CALL_TIMEOUT)
        try:
            probe.connect(os.fspath(path))
        except PermissionError:
            you = _who(os.geteuid())
            return Check(name, FAIL, f"{path}: permission denied to {you} (not in its group?)")
        except FileNotFoundError:
            return Check(name, FAIL, f"nothing at {path}")
        except ConnectionRefusedError:
            return Check(name, FAIL, f"{path}: nobody listens (a stale socket: daemon stopped)")
        except OSError as error:
            return Check(name, FAIL, f"{path}: {error.strerror or error}")
    try:
        result = _call(path, Opcode.PING, ping_pb2.Operation())
    except (link.LinkError, StatusError) as error:
        return Check(name, FAIL, f"{path} accepts but does not answer Ping: {error}")
    assert isinstance(result, ping_pb2.Result)
    version = f"{result.wire_protocol_version_maj}.{result.wire_protocol_version_min}"
    return Check(name, OK, f"{path} answers (wire protocol {version})", {"wire": version})


def _auth_name(auth_type: int) -> str:
    try:
        return AUTH_NAMES[AuthType(auth_type)]
    except (ValueError, KeyError):
        return str(auth_type)


def authenticators(path: Path) -> tuple[Check, set[int]]:
    """The authenticators the service offers; direct authentication is worth a warning."""
    name = "authenticators"
    try:
        result = _call(path, Opcode.LIST_AUTHENTICATORS, list_authenticators_pb2.Operation())
    except (link.LinkError, StatusError) as error:
        return Check(name, FAIL, f"ListAuthenticators failed: {error}"), set()
    assert isinstance(result, list_authenticators_pb2.Result)
    ids = [a.id for a in result.authenticators]
    names = [_auth_name(i) for i in ids]
    facts = {"authenticators": names}
    if not ids:
        return Check(name, FAIL, "the service offers no authenticator", facts), set()
    listed = ", ".join(names)
    if AuthType.DIRECT in ids:
        reason = f"{listed}: direct lets any client that reaches the socket claim any name"
        return Check(name, WARN, reason, facts), set(ids)
    return Check(name, OK, listed, facts), set(ids)


def providers(path: Path, configured: dict[int, str]) -> list[Check]:
    """ListProviders, then ListOpcodes of each: a provider that answers is loaded and serving.
    `configured`: the providers the service's configuration names (id -> type), when known."""
    try:
        result = _call(path, Opcode.LIST_PROVIDERS, list_providers_pb2.Operation())
    except (link.LinkError, StatusError) as error:
        return [Check("providers", FAIL, f"ListProviders failed: {error}")]
    assert isinstance(result, list_providers_pb2.Result)
    checks: list[Check] = []
    served = {p.id: p for p in result.providers if p.id != CORE_PROVIDER}
    if not served:
        checks.append(Check("providers", FAIL, "the service serves no crypto provider"))
    for provider_id, info in served.items():
        kind = configured.get(provider_id, "")
        name = f"provider {provider_id}" + (f" ({kind})" if kind else "")
        operation = list_opcodes_pb2.Operation(provider_id=provider_id)
        try:
            opcodes = _call(path, Opcode.LIST_OPCODES, operation)
        except (link.LinkError, StatusError) as error:
            checks.append(Check(name, FAIL, f"ListOpcodes failed: {error}"))
            continue
        assert isinstance(opcodes, list_opcodes_pb2.Result)
        facts = {"id": provider_id, "type": kind, "opcodes": len(opcodes.opcodes)}
        if not opcodes.opcodes:
            checks.append(Check(name, FAIL, "serves no operation", facts))
        else:
            count = len(opcodes.opcodes)
            checks.append(Check(name, OK, f"{info.description}: {count} operations", facts))
    for provider_id, kind in configured.items():
        if provider_id not in served:
            reason = "configured but not served (skipped at start? see the service's log)"
            checks.append(Check(f"provider {provider_id} ({kind})", FAIL, reason))
    return checks


def trust(name: str, path: Path, holder: str, *, needed: bool) -> Check:
    """TrustStatus: whether the daemon at `path` holds its trusted side's root (`holder`)."""
    try:
        result = _call(path, Opcode.TRUST_STATUS, trust_status_pb2.Operation())
    except (link.LinkError, StatusError) as error:
        return Check(name, FAIL, f"TrustStatus failed: {error}")
    assert isinstance(result, trust_status_pb2.Result)
    facts = {
        "has_root": result.has_root,
        "root_kid": result.root_kid,
        "intermediate_kid": result.intermediate_kid,
    }
    if result.has_root and result.intermediate_kid:
        kid = result.root_kid[:12]
        return Check(name, OK, f"holds the {holder}'s root ({kid}…) and intermediate", facts)
    if result.has_root:
        return Check(name, WARN, f"holds the {holder}'s root but no intermediate yet", facts)
    level = FAIL if needed else WARN
    reason = f"holds no root: the {holder} has not shared its trust (running? allowed uid?)"
    return Check(name, level, reason, facts)


def orchestrator(path: Path) -> Check:
    """The orchestrator, if it runs: its applications and the ones that failed."""
    name = "orchestrator"
    try:
        path.lstat()
    except FileNotFoundError:
        return Check(name, SKIP, f"not running (no control socket at {path})")
    except PermissionError:
        return _closed(name, path)
    except OSError as error:
        return Check(name, FAIL, f"{path}: {error.strerror or error}")
    try:
        result = _call(path, Opcode.LIST_APPS, list_apps_pb2.Operation())
    except link.LinkError as error:
        if isinstance(error.__cause__, PermissionError) or "Permission denied" in str(error):
            return Check(name, SKIP, f"{path} is not open to {_who(os.geteuid())}")
        return Check(name, FAIL, f"does not answer on {path}: {error}")
    except StatusError as error:
        return Check(name, FAIL, f"ListApps refused: {error}")
    assert isinstance(result, list_apps_pb2.Result)
    running = sum(1 for a in result.apps for i in a.instances if i.state == "running")
    failed = sorted({a.name for a in result.apps for i in a.instances if i.state == "failed"})
    facts = {"apps": len(result.apps), "running": running, "failed": failed}
    summary = f"{len(result.apps)} applications, {running} instances running"
    if failed:
        return Check(name, WARN, f"{summary}; failed: {', '.join(failed)}", facts)
    return Check(name, OK, summary, facts)


def state_directory(name: str, path: Path, secrets: tuple[str, ...] = ()) -> Check:
    """A daemon's state directory (and its secret files): nobody but its owner may write, and
    nobody else read the secrets. Checked whoever owns it: the doctor is not the daemon."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return Check(name, WARN, f"{path} does not exist (created at the daemon's first start)")
    except PermissionError:
        return _closed(name, path)
    except OSError as error:
        return Check(name, FAIL, f"{path}: {error.strerror or error}")
    mode = stat.S_IMODE(info.st_mode)
    facts = {"path": str(path), "mode": oct(mode), "owner": _who(info.st_uid)}
    where = f"{path} {_describe(info)}"
    if mode & 0o022:
        return Check(name, FAIL, f"{where}: writable by group or others (chmod go-w)", facts)
    if mode & 0o007:
        return Check(name, FAIL, f"{where}: open to others (chmod o-rwx)", facts)
    for secret in secrets:
        try:
            file_info = (path / secret).stat()
        except FileNotFoundError:
            continue
        except PermissionError:
            return Check(name, OK, f"{where} (its files are closed to you)", facts)
        except OSError:
            continue  # the daemon says at its start what is wrong with it
        if stat.S_IMODE(file_info.st_mode) & 0o077:
            file_mode = stat.filemode(file_info.st_mode)
            return Check(name, FAIL, f"{path / secret} is {file_mode}: chmod 600 it", facts)
        if file_info.st_uid != info.st_uid:
            return Check(name, FAIL, f"{path / secret} belongs to another user", facts)
    return Check(name, OK, where, facts)


# Kernel clock states (adjtimex(2)): TIME_ERROR means not synchronised.
_TIME_ERROR = 5


def _kernel_clock_state() -> int | None:
    """adjtimex's answer with no change requested; None where it cannot be asked."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        buffer = ctypes.create_string_buffer(512)  # struct timex is ~208 bytes; modes = 0
        state: int = libc.adjtimex(buffer)
    except (OSError, AttributeError):
        return None
    return None if state < 0 else state


def clock(sockets: list[Path]) -> Check:
    """The clock: synchronised, and not behind the daemons' start (tokens and certificates are
    issued from it; a clock set back makes them look not yet valid)."""
    name = "clock"
    now = time.time()
    for path in sockets:
        try:
            started = path.lstat().st_ctime  # the socket is made when the daemon starts
        except OSError:
            continue
        if started > now + CLOCK_LEEWAY:
            behind = started - now
            reason = (
                f"the clock is {behind:.0f} s behind {path}'s creation: it was set back; "
                "tokens and certificates issued since look not yet valid"
            )
            return Check(name, FAIL, reason, {"behind_seconds": behind})
    state = _kernel_clock_state()
    if state == _TIME_ERROR:
        reason = "the kernel says the clock is not synchronised (NTP): tokens allow 5 s of skew"
        return Check(name, WARN, reason, {"synchronised": False})
    if state is None:
        return Check(name, OK, "not behind the daemons' start (synchronisation unknown)")
    return Check(name, OK, "synchronised, not behind the daemons' start", {"synchronised": True})
