"""Give memory back to the system when large answers are freed (glibc only; elsewhere a no-op).

glibc serves large allocations with mmap, returned to the system on free, but raises that
threshold to the size of each large block freed, up to 32 MiB: after the first megabyte-sized
answer, later ones come from the heap, whose freed pages stay with the process. A daemon that
once held many large answers kept hundreds of megabytes after the connections went. Fixing the
threshold keeps large blocks on mmap.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h
MMAP_THRESHOLD = 128 << 10  # glibc's own initial value


def keep_large_blocks_returnable() -> bool:
    """Pin glibc's mmap threshold; True if it was set."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl has no mallopt)
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        log.debug("mallopt(M_MMAP_THRESHOLD) refused")
        return False
    return True
