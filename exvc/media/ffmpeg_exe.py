"""The ffmpeg executable exvc uses for what PyAV's build lacks: libvvenc (the VVC base layer
and anchor) and libvmaf (the benchmark).

Looked up in this order: an explicit path, the binary bundled by the ``imageio-ffmpeg`` wheel
(a static build with libvvenc and libvmaf), then ``ffmpeg`` on ``PATH``. Its encoders and
filters are read from ``ffmpeg -encoders`` / ``-filters`` so that a codec or metric it lacks is
reported as unavailable instead of failing mid-run.
"""

from __future__ import annotations

import functools
import importlib
import re
import shutil
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Ffmpeg:
    """An ffmpeg executable and what it can do."""

    path: str
    version: str
    encoders: frozenset[str]
    filters: frozenset[str]

    def run(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        """Run it quietly; raise with ffmpeg's last stderr line on failure."""
        cmd = [self.path, "-hide_banner", "-nostdin", "-loglevel", "error", *args]
        proc = subprocess.run(cmd, capture_output=True, **kwargs)
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()
            raise RuntimeError(f"ffmpeg failed: {tail[-1] if tail else proc.returncode}")
        return proc


def _list(path: str, what: str, pattern: str) -> frozenset[str]:
    out = subprocess.run([path, "-hide_banner", f"-{what}"], capture_output=True, text=True,
                         timeout=60).stdout
    return frozenset(m[1] for m in re.finditer(pattern, out, flags=re.M))


@functools.lru_cache(maxsize=8)
def find_ffmpeg(explicit: str | None = None) -> Ffmpeg | None:
    """The first working ffmpeg: ``explicit``, imageio-ffmpeg's, then PATH's (or None)."""
    candidates = [explicit] if explicit else []
    if not explicit:
        try:
            candidates.append(importlib.import_module("imageio_ffmpeg").get_ffmpeg_exe())
        except Exception:  # not installed, or its binary is missing for this platform
            pass
        candidates.append(shutil.which("ffmpeg"))
    for path in filter(None, candidates):
        try:
            head = subprocess.run([path, "-hide_banner", "-version"], capture_output=True,
                                  text=True, timeout=60).stdout.splitlines()
        except (OSError, subprocess.SubprocessError):
            continue
        version = head[0] if head else "ffmpeg"
        encoders = _list(path, "encoders", r"^\s*V\S*\s+(\S+)")
        filters = _list(path, "filters", r"^\s*\S{2,3}\s+(\S+)\s+\S+->\S+")
        return Ffmpeg(path, version, encoders, filters)
    if explicit:
        raise FileNotFoundError(f"{explicit}: not a working ffmpeg executable")
    return None
