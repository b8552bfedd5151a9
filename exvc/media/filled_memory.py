"""Make memory that an in-process encoder never writes hold a fixed pattern.

libx265 reads heap memory it has not written when it codes small pictures (64×64 here): the
same frames coded twice in two processes gave different streams for a third of such clips,
and the same streams every time once glibc filled each new allocation with a fixed byte
(``mallopt(M_PERTURB)``). Inside :func:`filled_allocations` that filling is on, so an HEVC
base (and the prior's pool of coded training clips) comes out the same on every run.
Elsewhere than glibc it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_M_PERTURB = -6  # glibc's mallopt parameter
_PATTERN = 0x55
_lock = threading.Lock()
_depth = 0


def _mallopt():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.mallopt
    except (OSError, AttributeError):
        return None


_MALLOPT = _mallopt()


@contextmanager
def filled_allocations() -> Iterator[None]:
    """Fill every allocation with a fixed byte while the block runs (nests, thread-safe)."""
    global _depth
    if _MALLOPT is None:
        yield
        return
    with _lock:
        if _depth == 0:
            _MALLOPT(_M_PERTURB, _PATTERN)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _MALLOPT(_M_PERTURB, 0)
