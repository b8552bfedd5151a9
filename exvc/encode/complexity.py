"""How many bytes segments need relative to each other: their sizes at one common quantiser.

A single rate-controlled stream spends more on a busy scene than on a still one, at about
the same quantiser throughout. exvc codes each segment for its own budget, so it has to
share the bytes out before coding: counted by frames, the still half of ``bikes`` (a cut at
frame 30) was coded at 42 dB and the busy half at 31 dB, and the file scored 0.9 dB and
0.008 ST-LPIPS behind one VVC stream of the same bytes (docs/base.md, "Sharing the bytes
between segments").

The probe codes every segment of the encoder's lookahead window twice with the base codec
at its fastest preset and two fixed quantisers (at a reduced size when the frames are
large), fits ``log(size)`` as a line in the quantiser for each segment, and finds the one
quantiser at which the window's sizes add up to its budget. Each segment's weight is its
size there. On ``bikes`` the share of the still scene moved little with the quantiser
(0.28 at VVC qp 32-38, 0.30 at 44), so the fit need not be exact.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from exvc.media import base_codecs
from exvc.media.base_codecs import BaseCodecError, RateSetting
from exvc.media.base_video import to_pictures

# the two quantisers probed per codec (qp for libvvenc, crf for the others)
PROBE_QUANTISERS = {"vvc": (38, 50), "av1": (45, 58), "hevc": (34, 46)}
PROBE_PRESET = "ultrafast"
MAX_PROBE_PIXELS = 640 * 360  # larger frames are probed at 1/2, 1/4, ... per side
PROBE_TIMEOUT = 120.0  # seconds a probe encode may take


def probe_size(width: int, height: int) -> tuple[int, int]:
    """The (w, h) a ``width`` x ``height`` segment is probed at: halved per side until it
    holds at most MAX_PROBE_PIXELS, even, at least 16 a side."""
    divisor = 1
    while (width // divisor) * (height // divisor) > MAX_PROBE_PIXELS:
        divisor *= 2
    return (max(16, 2 * (width // divisor // 2)), max(16, 2 * (height // divisor // 2)))


def probe(codec: str, frames: np.ndarray, fps: Fraction,
          threads: int | None = None) -> tuple[int, int]:
    """Stream bytes of ``frames`` (float32 (T, 3, H, W) in [0, 1]) coded by ``codec`` at
    its two PROBE_QUANTISERS."""
    import torch

    size = probe_size(frames.shape[-1], frames.shape[-2])
    pictures = to_pictures(torch.from_numpy(frames), size)
    return tuple(len(base_codecs.encode(codec, pictures, fps, RateSetting("qp", q),
                                        PROBE_PRESET, threads, PROBE_TIMEOUT))
                 for q in PROBE_QUANTISERS[codec])


def common_quantiser_weights(codec: str, sizes: Sequence[tuple[int, int]],
                             total: int) -> list[float]:
    """Each segment's predicted size at the one quantiser where the predicted sizes add up
    to ``total`` bytes (held within the codec's range); ``sizes``: each segment's
    ``probe``."""
    q1, q2 = PROBE_QUANTISERS[codec]
    lines = []
    for s1, s2 in sizes:
        a, b = math.log(max(s1, 1)), math.log(max(s2, 1))
        lines.append((a, min((b - a) / (q2 - q1), -1e-3)))  # sizes fall as q rises

    def predicted(q: float) -> list[float]:
        return [math.exp(a + slope * (q - q1)) for a, slope in lines]

    lo, hi = 0.0, float(base_codecs.COARSEST[codec])
    if sum(predicted(hi)) >= total:
        return predicted(hi)
    if sum(predicted(lo)) <= total:
        return predicted(lo)
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if sum(predicted(mid)) > total else (lo, mid)
    return predicted(hi)


def segment_weights(codec: str, segments: Sequence[np.ndarray], fps: Fraction, total: int,
                    threads: int | None = None) -> list[float] | None:
    """The weights ``BudgetPlan.split`` shares ``total`` bytes by among ``segments``, or None
    (share by frame count) when there is one segment or the codec refuses the probe."""
    if len(segments) < 2:
        return None
    try:
        sizes = [probe(codec, s, fps, threads) for s in segments]
    except BaseCodecError:
        return None
    return common_quantiser_weights(codec, sizes, total)
