"""The `[containers]` section of the orchestrator's configuration: the engine and the rules.

[containers]
engine = "/run/podman/podman.sock"   # the engine's Docker-compatible API (or unix:///...)
reconcile_period = 10                # seconds between full re-reads of the running containers

[[containers.rule]]                  # first match wins; no match: no identity
app = "{label:tessera.app}"          # the application name (the identity comes from it)
image = "registry.example/shop/*"    # glob on the image name the container was started from
labels = { "tessera.app" = "*" }     # each label must be present and match its glob
digests = ["sha256:..."]             # only these image digests (default: any)
exec = false                         # processes joining later (`podman exec`) share it

`app` templates: `{label:KEY}`, `{image}` (the image name's last part, no tag), `{digest}` (12
hex digits of the image digest: a rebuilt image is another application), `{name}` (the
container name: one application per name, not per replica set).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from tessera.config import ConfigError
from tessera.containers.engine import ContainerInfo
from tessera.daemon.config_schema import Table

DEFAULT_ENGINE = Path("/run/podman/podman.sock")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_VALUE = re.compile(r"^[A-Za-z0-9._-]{1,63}$")
_FIELD = re.compile(r"\{([^{}]*)\}")
_SIMPLE_FIELDS = ("image", "digest", "name")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


class RuleError(ValueError):
    """A matching rule cannot name the container's application (an unusable label value)."""


@dataclass(frozen=True)
class ContainerRule:
    """Which containers are which application."""

    app: str
    image: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    digests: tuple[str, ...] = ()
    exec_joins: bool = False

    def matches(self, container: ContainerInfo) -> bool:
        """True when the image name, every label and the digest match."""
        if self.image is not None and not fnmatch.fnmatchcase(container.image, self.image):
            return False
        for key, pattern in self.labels:
            value = container.labels.get(key)
            if value is None or not fnmatch.fnmatchcase(value, pattern):
                return False
        return not self.digests or container.digest in self.digests

    def application(self, container: ContainerInfo) -> str:
        """The application name for a container this rule matches; RuleError if a value
        substituted into it is no name (labels are the container starter's to choose)."""

        def value(match: re.Match[str]) -> str:
            field = match.group(1)
            if field.startswith("label:"):
                found = container.labels.get(field[len("label:") :], "")
            elif field == "image":
                found = image_base(container.image)
            elif field == "digest":
                found = container.digest.removeprefix("sha256:")[:12]
            else:
                found = container.name
            if not _VALUE.match(found):
                raise RuleError(f"{{{field}}} is {found[:64]!r}, not usable in a name")
            return found

        name = _FIELD.sub(value, self.app)
        if not _NAME.match(name):
            raise RuleError(f"application name {name[:80]!r} is not a valid name")
        return name

    def describe(self) -> dict[str, Any]:
        """The rule as the client definition records it."""
        described: dict[str, Any] = {"app": self.app}
        if self.image is not None:
            described["image"] = self.image
        if self.labels:
            described["labels"] = dict(self.labels)
        if self.digests:
            described["digests"] = list(self.digests)
        described["exec"] = self.exec_joins
        return described


@dataclass(frozen=True)
class ContainersConfig:
    """Where the engine is, how often to re-read it, and the rules."""

    engine: Path = DEFAULT_ENGINE
    rules: tuple[ContainerRule, ...] = ()
    reconcile_period: float = 10.0

    def rule_for(self, container: ContainerInfo) -> tuple[int, ContainerRule] | None:
        """The first rule matching the container, with its index; None for none."""
        for index, rule in enumerate(self.rules):
            if rule.matches(container):
                return index, rule
        return None


def image_base(image: str) -> str:
    """`registry:5000/shop/web:1.2@sha256:...` -> `web`."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def parse_containers(section: Any) -> ContainersConfig | None:
    """Validate a `[containers]` table on its own; None when there is none."""
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError("[containers] must be a table")
    table = Table(section, ("containers",))
    config = read_containers(table)
    table.finish()
    return config


def read_containers(table: Table | None) -> ContainersConfig | None:
    """The `[containers]` settings from the orchestrator's file (which refuses unread keys)."""
    if table is None:
        return None
    period = table.number("reconcile_period", 10, minimum=0.1, maximum=86400)
    engine = table.value("engine", str(DEFAULT_ENGINE))
    try:
        engine_path = engine_socket(engine)
    except ConfigError as error:
        raise table.error(str(error), "engine") from None
    return ContainersConfig(
        engine=engine_path,
        rules=tuple(_rule(entry) for entry in table.tables("rule")),
        reconcile_period=period,
    )


def engine_socket(value: Any) -> Path:
    """The engine's socket from a path or a `unix://` URI (as DOCKER_HOST writes it)."""
    if not isinstance(value, str) or not value:
        raise ConfigError("containers.engine must be a socket path or unix:// URI")
    if "://" in value or value.startswith("unix:"):
        parts = urlsplit(value)
        if parts.scheme != "unix" or parts.netloc not in ("", "localhost"):
            raise ConfigError(f"containers.engine {value!r}: only local unix sockets")
        value = unquote(parts.path)
    if not value.startswith("/"):
        raise ConfigError("containers.engine must be an absolute socket path")
    return Path(value)


def _rule(entry: Table) -> ContainerRule:
    app = entry.string("app", "")
    for field in _FIELD.findall(app):
        if field not in _SIMPLE_FIELDS and not (field.startswith("label:") and len(field) > 6):
            raise entry.error(f"containers.rule.app {app!r}: unknown field {{{field}}}", "app")
    if "{" in _FIELD.sub("", app) or "}" in _FIELD.sub("", app):
        raise entry.error(f"containers.rule.app {app!r}: unbalanced braces", "app")
    image = entry.optional_string("image")
    labels = entry.value("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise entry.error("containers.rule.labels must be a table of glob patterns", "labels")
    digests = entry.strings("digests", [])
    if not all(_DIGEST.match(d) for d in digests):
        message = "containers.rule.digests must be a list of sha256:<64 hex> digests"
        raise entry.error(message, "digests")
    exec_joins = entry.boolean("exec", False)
    return ContainerRule(app, image, tuple(sorted(labels.items())), tuple(digests), exec_joins)
