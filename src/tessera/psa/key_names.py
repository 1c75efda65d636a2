"""What a key name may be: the one rule the service enforces and the client checks first.

The wire carries no reason with a status, so a client that sent an empty name would only hear
PsaErrorInvalidArgument; checking here first lets it say which rule the name breaks.
"""

from __future__ import annotations

MAX_KEY_NAME_BYTES = 1024


def key_name_problem(name: str) -> str | None:
    """Why `name` cannot name a key (non-empty UTF-8, bounded, no NUL), or None."""
    if not name:
        return "a key name cannot be empty"
    if "\x00" in name:
        return "a key name cannot contain NUL"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_KEY_NAME_BYTES:
        return f"a key name is at most {MAX_KEY_NAME_BYTES} bytes of UTF-8"
    return None
