"""The one loader for known-answer vectors under tests/vectors/kat/.

Each file is JSON: {"provenance": "<where the values were published>", "vectors": [{...}]}.
Values are hex strings except where a field names a PSA enum member (e.g. "hash": "SHA_256").
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

KAT_DIR = Path(__file__).parent / "kat"


def load(name: str) -> list[dict[str, Any]]:
    """The vectors of `kat/<name>.json` (which must state its provenance)."""
    document = json.loads((KAT_DIR / f"{name}.json").read_text())
    assert document["provenance"], f"{name}.json has no provenance"
    vectors: list[dict[str, Any]] = document["vectors"]
    return vectors


def h(value: str) -> bytes:
    """Bytes from a hex string."""
    return bytes.fromhex(value)
