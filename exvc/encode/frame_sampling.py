"""Which frames of a segment the encoder renders to judge a choice.

Every choice the encoder makes by rendering (the synthesis and latent steps in
``exvc.encode.rate_control``, the sampler strength, the condition, whether an adapter is kept)
looks at the same few frames spread over the segment, chosen by one rule here, so that no two
choices are judged on different samples of the same segment.
"""

from __future__ import annotations

import numpy as np

# Eight frames: the synthesis step search judged on 4 gave 0.1-0.2 dB less (it moved to 8 in
# the INR's second revision: docs/inr.md, docs/history/inr.md), and each more frame costs a
# render (a diffusion sampling, for the dinr choices) per candidate.
PROBE_FRAMES = 8


def probe_ids(frames: int, count: int = PROBE_FRAMES) -> list[int]:
    """``min(count, frames)`` frame indices spread evenly over ``frames`` frames, first and
    last included, in increasing order."""
    return sorted({int(i) for i in np.linspace(0, frames - 1, min(count, frames)).round()})
