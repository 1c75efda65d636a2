"""The systemd units and configuration files of a system-wide deployment (docs/deployment.md).

One place holds their text; `tessera install-units` writes it with this installation's command in
ExecStart, and packaging/systemd/ holds the same files rendered for /usr/bin/tessera (a test
keeps the two equal). The layout:

- the service and the identity provider run as the dedicated user (`tessera`), each with its own
  state directory under /var/lib/tessera, their sockets in /run/tessera, reachable by the
  client group (`tessera-clients`) only;
- systemd binds the service's socket (tessera-service.socket), so clients that connect while the
  service starts or restarts wait in the queue instead of failing;
- the orchestrator runs as root, since it starts each application as the user its manifest
  names; its control socket is root's alone.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Layout", "render"]


@dataclass(frozen=True)
class Layout:
    """What varies between installations."""

    command: str  # ExecStart's program: the `tessera` command, an absolute path
    user: str = "tessera"
    client_group: str = "tessera-clients"
    # Where systemd puts StateDirectory=tessera/..., RuntimeDirectory=tessera; fixed by systemd.
    config_dir = "/etc/tessera"
    state_dir = "/var/lib/tessera"
    service_socket = "/run/tessera/parsec.sock"  # ListenStream= and the config's socket_path
    identity_socket = "/run/tessera/identity.sock"
    control_socket = "/run/tessera-orchestrator/orchestrator.sock"


# Sandboxing shared by the service and the identity provider: they need their state directory,
# their runtime directory, Unix sockets and (TPM provider) the resource manager device, nothing
# else of the system.
_HARDENING = """\
UMask=0077
NoNewPrivileges=yes
ProtectSystem=strict
# A PKCS#11 token that keeps files (SoftHSM2) needs them writable, e.g.:
# ReadWritePaths=/var/lib/softhsm/tokens
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=no
DevicePolicy=closed
# The TPM provider talks to the kernel's resource manager; remove if no TPM provider is set.
DeviceAllow=/dev/tpmrm0 rw
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
# Unix sockets only. With metrics_port set, add AF_INET and IPAddressAllow=localhost.
RestrictAddressFamilies=AF_UNIX
IPAddressDeny=any
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
"""


def _service_socket(layout: Layout) -> str:
    return f"""\
[Unit]
Description=Tessera security service socket (Parsec's wire protocol)

[Socket]
ListenStream={layout.service_socket}
SocketUser={layout.user}
SocketGroup={layout.client_group}
SocketMode=0660
DirectoryMode=0755
Backlog=1024

[Install]
WantedBy=sockets.target
"""


def _as_the_user(layout: Layout, daemon: str, extra: str) -> str:
    """The [Service] section of a daemon run as the dedicated user: its own state directory,
    the shared runtime directory (kept while the other daemon uses it), the sandbox."""
    return f"""\
[Service]
Type=notify
NotifyAccess=main
ExecStart={layout.command} {daemon} --config {layout.config_dir}/{daemon}.toml
Restart=on-failure
TimeoutStopSec=30
User={layout.user}
Group={layout.user}
StateDirectory=tessera/{daemon}
StateDirectoryMode=0700
RuntimeDirectory=tessera
RuntimeDirectoryMode=0755
RuntimeDirectoryPreserve=yes
{extra}{_HARDENING}"""


def _service(layout: Layout) -> str:
    extra = "ExecReload=/bin/kill -HUP $MAINPID\nCapabilityBoundingSet=\n"
    return f"""\
[Unit]
Description=Tessera security service
Requires=tessera-service.socket
After=tessera-service.socket

{_as_the_user(layout, "service", extra)}
[Install]
WantedBy=multi-user.target
Also=tessera-service.socket
"""


def _identity(layout: Layout) -> str:
    extra = (
        "# Attestation reads /proc/PID/exe of applications running as other users, which the\n"
        "# kernel allows only with this capability.\n"
        "AmbientCapabilities=CAP_SYS_PTRACE\nCapabilityBoundingSet=CAP_SYS_PTRACE\n"
    )
    return f"""\
[Unit]
Description=Tessera identity provider
Wants=tessera-service.socket
After=tessera-service.socket tessera-service.service

{_as_the_user(layout, "identity", extra)}
[Install]
WantedBy=multi-user.target
"""


def _orchestrator(layout: Layout) -> str:
    # Root, to start applications as their users; its sandbox is theirs too, so it is lighter:
    # applications may need to write where the service may not.
    return f"""\
[Unit]
Description=Tessera orchestrator (starts applications and proves who they are)
Wants=tessera-identity.service
After=tessera-identity.service

[Service]
Type=notify
NotifyAccess=main
ExecStart={layout.command} orchestrator --config {layout.config_dir}/orchestrator.toml
Restart=on-failure
TimeoutStopSec=60
KillMode=mixed
StateDirectory=tessera/orchestrator
StateDirectoryMode=0700
RuntimeDirectory=tessera-orchestrator
RuntimeDirectoryMode=0700
NoNewPrivileges=yes
ProtectSystem=full
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
RestrictRealtime=yes
LockPersonality=yes
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
"""


def _sysusers(layout: Layout) -> str:
    return f"""\
# systemd-sysusers: the daemons' user and the group of users whose applications may use them.
u {layout.user} - "Tessera security service" {layout.state_dir}
g {layout.client_group} -
"""


def _service_config(layout: Layout) -> str:
    return f"""\
# The security service (docs/configuration.md). Written by `tessera install-units`, kept after.
[core_settings]
state_dir = "{layout.state_dir}/service"   # StateDirectory= of tessera-service.service
log_level = "info"
log_format = "text"        # "json": one object per line, for a log collector

[listener]
socket_path = "{layout.service_socket}"   # the same as ListenStream= in tessera-service.socket
socket_group = "{layout.client_group}"

[trust]
# The identity provider runs as the same user as the service: the default identity_uid (the
# service's own) is right. Set identity_uid if it runs as another user.
"""


def _identity_config(layout: Layout) -> str:
    return f"""\
# The identity provider (docs/identity.md). Written by `tessera install-units`, kept after.
[identity]
state_dir = "{layout.state_dir}/identity"
socket_path = "{layout.identity_socket}"
service_socket = "{layout.service_socket}"
socket_group = "{layout.client_group}"
orchestrator_uid = 0          # the orchestrator runs as root (tessera-orchestrator.service)
log_level = "info"
log_format = "text"
"""


def _orchestrator_config(layout: Layout) -> str:
    return f"""\
# The orchestrator (docs/orchestrator.md). Written by `tessera install-units`, kept after.
[orchestrator]
state_dir = "{layout.state_dir}/orchestrator"
identity_socket = "{layout.identity_socket}"
service_socket = "{layout.service_socket}"
control_socket = "{layout.control_socket}"
allow_root = true             # it must be root to start applications as their users
log_level = "info"
log_format = "text"

# [[app]]
# name = "signer"
# command = ["/usr/local/bin/signer"]
# user = "signer"
# groups = ["{layout.client_group}"]   # to reach the sockets
# restart = "on-failure"
"""


UNIT_FILES = {
    "tessera-service.socket": _service_socket,
    "tessera-service.service": _service,
    "tessera-identity.service": _identity,
    "tessera-orchestrator.service": _orchestrator,
}
CONFIG_FILES = {
    "service.toml": _service_config,
    "identity.toml": _identity_config,
    "orchestrator.toml": _orchestrator_config,
}
SYSUSERS_FILE = "tessera.conf"


def render(layout: Layout) -> dict[str, str]:
    """Every file of the deployment by its path relative to the root (etc/...)."""
    files = {f"etc/systemd/system/{name}": make(layout) for name, make in UNIT_FILES.items()}
    files |= {f"etc/tessera/{name}": make(layout) for name, make in CONFIG_FILES.items()}
    files[f"etc/sysusers.d/{SYSUSERS_FILE}"] = _sysusers(layout)
    return files
