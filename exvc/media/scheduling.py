"""Keep the calling thread's CPU scheduling as it was around in-process encoders.

SVT-AV1 (libsvtav1), when it runs as root, raises the thread that opens or drives it to
real-time scheduling (SCHED_FIFO, priority 99) and leaves it there. Every process started
afterwards inherits that; libvvenc's worker threads then spin at real-time priority and
starve everything else on the machine, the parent that waits to stop them included (a
rate-controlled VVC encode after an AV1 one hung the test suite this way). So every
in-process encode runs inside :func:`kept_scheduling`, and ffmpeg children start with
:func:`normal_scheduling` as well.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def kept_scheduling() -> Iterator[None]:
    """Restore the calling thread's scheduling policy and priority on exit."""
    saved = _current()
    try:
        yield
    finally:
        if saved is not None and _current() != saved:
            try:
                os.sched_setscheduler(0, saved[0], os.sched_param(saved[1]))
            except OSError:
                pass


def normal_scheduling() -> None:
    """Give the calling thread ordinary time-sharing scheduling (for a child process)."""
    if hasattr(os, "sched_setscheduler"):
        try:
            if os.sched_getscheduler(0) not in (os.SCHED_OTHER, os.SCHED_BATCH,
                                                os.SCHED_IDLE):
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            pass


def _current() -> tuple[int, int] | None:
    if not hasattr(os, "sched_getscheduler"):
        return None  # not Linux: nothing to keep
    try:
        return os.sched_getscheduler(0), os.sched_getparam(0).sched_priority
    except OSError:
        return None
