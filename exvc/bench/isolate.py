"""Run a job in a freshly spawned process, so its time, its peak memory and its crashes are
its own: a libx265 that aborts on a tiny frame fails one benchmark row, not the whole run."""

from __future__ import annotations

import multiprocessing
import resource
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

PR_SET_PDEATHSIG = 1  # prctl(2)


class ChildCrashed(RuntimeError):
    """The child process died without an answer (a signal or an abort in native code)."""


def vm_hwm_mb(pid: int | str = "self") -> float | None:
    """A process's own resident-set high-water mark (``VmHWM``) in MiB, None if unknown.

    Not ``ru_maxrss``: Linux folds the forking parent's peak into a child's ``ru_maxrss`` at
    ``exec``, so a child spawned by a 400 MB benchmark would report at least 400 MB.
    """
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_mb() -> float:
    """This process's peak resident memory in MiB (``ru_maxrss`` where /proc is missing)."""
    hwm = vm_hwm_mb()
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _die_with_parent() -> None:
    """In the child: on Linux, ask for SIGTERM when the process that spawned it dies, so that
    a benchmark killed mid-row does not leave its encode running for many minutes."""
    import signal
    import sys

    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            pass


def isolated(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a new spawned process; its result is returned (pickled)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx,
                             initializer=_die_with_parent) as pool:
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool:
            raise ChildCrashed(f"{getattr(fn, '__name__', fn)} crashed in its process") from None
