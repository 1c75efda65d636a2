"""Issue 10 (operators): JSON logs as an option in all three daemons' configs and flags; one
object per line with time, level, logger, message and the fields passed with `extra=`."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tessera.config import ConfigError
from tessera.daemon.log_output import configure_logging
from tessera.identity.config import load_identity_config
from tessera.orchestrator.config import load_orchestrator_config
from tessera.service.config import load_config

Loader = Callable[[Path], Any]
DAEMONS: dict[str, tuple[Loader, str]] = {
    "service": (load_config, "core_settings"),
    "identity": (load_identity_config, "identity"),
    "orchestrator": (load_orchestrator_config, "orchestrator"),
}


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """The root logger's handlers and level, restored after the test."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    stream = io.StringIO()
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def test_json_lines_carry_time_level_logger_message_and_extra_fields(
    captured: io.StringIO,
) -> None:
    configure_logging("info", "json", captured)
    log = logging.getLogger("tessera.test")
    log.info("client %s connected\nsecond line", "app-1", extra={"uid": 1000, "where": Path("/x")})
    log.debug("not at this level")
    lines = captured.getvalue().splitlines()
    assert len(lines) == 1  # the newline in the message stays inside the JSON string
    entry = json.loads(lines[0])
    assert entry["level"] == "info"
    assert entry["logger"] == "tessera.test"
    assert entry["message"] == "client app-1 connected\nsecond line"
    assert entry["uid"] == 1000
    assert entry["where"] == "/x"
    assert datetime.fromisoformat(entry["time"]).utcoffset() is not None
    # Nothing of the LogRecord's own bookkeeping leaks in as a field.
    assert not {"args", "msg", "levelno", "pathname", "exc_info"} & set(entry)


def test_an_exception_is_one_field_of_one_line(captured: io.StringIO) -> None:
    configure_logging("debug", "json", captured)
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("tessera.test").exception("failed")
    (line,) = captured.getvalue().splitlines()
    entry = json.loads(line)
    assert entry["level"] == "error"
    assert "RuntimeError: boom" in entry["exception"]


def test_text_stays_the_default(captured: io.StringIO) -> None:
    configure_logging("info", "text", captured)
    logging.getLogger("tessera.test").warning("plain")
    assert captured.getvalue().rstrip().endswith("WARNING tessera.test: plain")


@pytest.mark.parametrize("daemon", sorted(DAEMONS))
def test_every_daemon_reads_log_format_and_refuses_others(tmp_path: Path, daemon: str) -> None:
    loader, section = DAEMONS[daemon]
    path = tmp_path / "config.toml"
    path.write_text(f'[{section}]\nlog_format = "json"\n')
    assert loader(path).log_format == "json"
    path.write_text(f"[{section}]\n")
    assert loader(path).log_format == "text"
    path.write_text(f'[{section}]\nlog_format = "yaml"\n')
    with pytest.raises(ConfigError, match="log_format must be one of text, json"):
        loader(path)
