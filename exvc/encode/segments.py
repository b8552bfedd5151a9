"""Where segments start: pieces of at most two nominal lengths, cut again at scene changes.

Each segment is fitted by its own INR, whose finest grids are held for the whole segment
(docs/inr.md). A segment that spans a hard cut makes those grids serve two unrelated pictures,
and the rate term then keeps neither: on ``bikes`` (a cut at frame 30) the INR saturated near
25 dB however many bytes it got. Starting a new segment at the cut costs one more synthesis
network and is worth far more (docs/inr.md, "Scene cuts"). Segments may have any length from 1 to
twice the nominal one (bitstream_spec.md section 9), so this is the encoder's choice alone.

A cut is where a new segment may start, not where one must: where both scenes are coded
with a full-size base, one base stream over both can be better than two, and the encoder
measures that (``exvc.encode.scene_merge``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator

import numpy as np

# A cut: the mean absolute change of the subsampled frame (channel mean, every 4th pixel)
# exceeds CUT_LEVELS (8-bit levels; ``-sc_threshold``) and CUT_RATIO times its mean over the
# last HISTORY frame pairs.
CUT_LEVELS = 24
CUT_RATIO = 4.0
HISTORY = 4
# A scene shorter than this many frames is not worth its own INR: it joins the next one.
MIN_SCENE = 8


class SceneCuts:
    """Online hard-cut detector: call it on every frame in order; it says whether that frame
    starts a new scene. Comparing with the recent changes, not a fixed threshold alone,
    keeps fast motion and pans from counting as cuts. ``levels``: the smallest change, in
    8-bit levels, that can be a cut."""

    def __init__(self, levels: float = CUT_LEVELS) -> None:
        self._min = levels / 255
        self._previous: np.ndarray | None = None
        self._recent: deque[float] = deque(maxlen=HISTORY)

    def __call__(self, frame: np.ndarray) -> bool:
        small = np.asarray(frame, dtype=np.float32)[:, ::4, ::4].mean(axis=0)
        previous, self._previous = self._previous, small
        if previous is None:
            return False
        change = float(np.abs(small - previous).mean())
        cut = bool(self._recent) and change > self._min and change > CUT_RATIO * float(
            np.mean(self._recent))
        self._recent.append(change)
        return cut


def split_segments(frames: Iterable, length: int,
                   is_cut: Callable[[object], bool] | None = None) -> Iterator[list]:
    """Cut a stream into segments of ``length`` frames, and at every frame ``is_cut`` flags
    (scenes under MIN_SCENE frames excepted). Within a scene, a short tail under half a segment
    joins the previous segment and a tail over 1.5 segments is split in two, so no segment is
    tiny. At most two segments' frames are held."""
    for segment, _ in split_scenes(frames, length, is_cut):
        yield segment


def split_scenes(frames: Iterable, length: int,
                 is_cut: Callable[[object], bool] | None = None) -> Iterator[tuple[list, bool]]:
    """``split_segments``, each segment with whether it starts a scene at a cut (the first
    segment of the stream does not): the encoder may code two such segments as one when
    that measures better (``exvc.encode.scene_merge``)."""
    buf: list = []
    at_cut = False
    for frame in frames:
        if is_cut is not None and is_cut(frame) and len(buf) >= MIN_SCENE:
            yield from _scene_tail(buf, length, at_cut)
            buf, at_cut = [], True
        buf.append(frame)
        if len(buf) == 2 * length:
            yield buf[:length], at_cut
            buf, at_cut = buf[length:], False
    yield from _scene_tail(buf, length, at_cut)


def _scene_tail(buf: list, length: int, at_cut: bool) -> Iterator[tuple[list, bool]]:
    if len(buf) > length + length // 2:
        half = (len(buf) + 1) // 2
        yield buf[:half], at_cut
        yield buf[half:], False
    elif buf:
        yield buf, at_cut
