"""How the daemons write their logs: lines for people, or one JSON object per line for collectors.

`log_format = "json"` (or `--log-format json`) gives journald, Loki or an ELK pipeline records they
can index without a parsing rule: time (UTC, RFC 3339), level, logger, message, and the fields a
caller passed with `extra=`. The message is the formatted one, as in text mode; whatever is kept
out of text logs (key material, tokens) is kept out of these, since both come from the same calls.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["LOG_FORMATS", "LOG_LEVELS", "JsonFormatter", "configure_logging"]

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")  # every daemon's log_level and --log-level
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# What every LogRecord carries; anything else on a record came from `extra=` and is a field.
_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines inside strings are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: a field that is no JSON type (a Path, an enum) is written as its text.
        return json.dumps(entry, default=str, ensure_ascii=False)


class _Labelled(logging.Filter):
    """Adds the process's label to each record (a field of its own in JSON)."""

    def __init__(self, process: str) -> None:
        super().__init__()
        self._process = process

    def filter(self, record: logging.LogRecord) -> bool:
        record.process_label = self._process
        return True


def configure_logging(
    level: str, log_format: str = "text", stream: TextIO | None = None, *, process: str = ""
) -> None:
    """Send the daemon's records to `stream` (stderr: journald takes it under systemd);
    `process` names which of a daemon's processes wrote each record (the service's workers)."""
    if log_format == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = logging.Formatter(
            TEXT_FORMAT.replace(": ", f" ({process}): ", 1) if process else TEXT_FORMAT
        )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    if process:
        handler.addFilter(_Labelled(process))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper()))
