"""Frame-stream edits the CLI applies itself: time windows (``-ss/-t/-to/-frames:v``), frame
rate conversion and resizing of *decoded* frames.

Video inputs get these from the media layer (it seeks, resamples by real timestamps and
scales with swscale); a .dinr decode yields bare frames at a constant rate, so for it the
same operations are done here, with the same conventions as the media layer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

# Frames closer than this to a boundary count as on it (float times from the command line).
_EPS = Fraction(1, 1000)


@dataclass(frozen=True)
class Window:
    """Frames whose time ``i / fps`` lies in [start, end), at most ``max_frames`` of them."""

    start: float = 0.0
    end: float | None = None
    max_frames: int | None = None

    @classmethod
    def of(cls, start: float | None, duration: float | None, end: float | None,
           max_frames: int | None = None) -> Window:
        """From ffmpeg options: ``-t`` counts from ``-ss``; ``-to`` is a position."""
        start = start or 0.0
        stop = start + duration if duration is not None else end
        return cls(start, stop, max_frames)

    @property
    def is_everything(self) -> bool:
        return self.start == 0 and self.end is None and self.max_frames is None

    def index_range(self, fps: Fraction) -> tuple[int, int | None]:
        """(first, stop) frame indices at ``fps``; ``stop`` None means "to the end"."""
        fps = Fraction(fps)
        first = max(0, math.ceil(Fraction(self.start) * fps - _EPS))
        stop = None
        if self.end is not None:
            stop = max(first, math.ceil(Fraction(self.end) * fps - _EPS))
        if self.max_frames is not None:
            stop = first + self.max_frames if stop is None else min(stop, first + self.max_frames)
        return first, stop

    def count(self, total: int | None, fps: Fraction) -> int | None:
        """Frames left of ``total`` (None if unknown and unbounded)."""
        first, stop = self.index_range(fps)
        if total is None:
            return None
        end = total if stop is None else min(total, stop)
        return max(0, end - first)


def apply_window(frames: Iterable[np.ndarray], window: Window,
                 fps: Fraction) -> Iterator[np.ndarray]:
    first, stop = window.index_range(fps)
    if stop is not None and stop <= first:
        return
    for i, frame in enumerate(frames):
        if i < first:
            continue
        yield frame
        if stop is not None and i + 1 >= stop:
            return


def retime(frames: Iterable[np.ndarray], in_fps: Fraction,
           out_fps: Fraction) -> Iterator[np.ndarray]:
    """Constant-rate conversion like the media layer's: output frame i shows the source frame
    nearest to time i/out_fps (ties to the earlier), until the source's last frame ends."""
    ratio = Fraction(in_fps) / Fraction(out_fps)
    if ratio == 1:
        yield from frames
        return
    half = Fraction(1, 2)
    i, count, last = 0, 0, None
    for k, frame in enumerate(frames):
        shown = False
        while math.ceil(i * ratio - half) <= k:
            yield frame.copy() if shown else frame
            shown = True
            i += 1
        last, count = frame, k + 1
    while last is not None and i * ratio < count:
        yield last.copy()
        i += 1


def retime_count(total: int | None, in_fps: Fraction, out_fps: Fraction) -> int | None:
    """How many frames ``retime`` yields from ``total``."""
    if total is None:
        return None
    if total <= 0:
        return 0
    return math.ceil(Fraction(total) * Fraction(out_fps) / Fraction(in_fps))


def resize(frames: Iterable[np.ndarray], size: tuple[int, int]) -> Iterator[np.ndarray]:
    """Scale (3, H, W) float frames to ``size`` = (W, H): antialiased bilinear (torch)."""
    import torch
    import torch.nn.functional as F

    width, height = size
    for frame in frames:
        if frame.shape[1:] == (height, width):
            yield frame
            continue
        x = torch.from_numpy(np.ascontiguousarray(frame, dtype=np.float32))[None]
        y = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False,
                          antialias=True)
        yield y[0].clamp_(0.0, 1.0).numpy()
