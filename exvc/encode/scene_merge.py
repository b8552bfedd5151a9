"""Two scenes coded as one segment, or as two: decided by measurement.

A scene cut starts a new segment (``exvc.encode.segments``), so that each scene gets its
own INR, and, with a base, its own degradation: at low rates on ``bikes`` (a cut at frame 30)
each scene chose a different base size and frame step, and the cut was worth 0.02-0.03
ST-LPIPS. At high rates both scenes choose the full-size base, and there the cut costs:
one base stream over both scenes spends its bytes where they matter across the cut (the
codec's own rate control sees the whole window), and two streams each pay for their own
first intra picture.

So where two neighbouring segments of a window are split at a cut and both chose a
full-size, full-rate base without an adapter, the encoder codes them again as one segment
(their frames and bytes together, the full-size bases as candidates) and keeps the
one its judge prefers over all frames (``exvc.encode.perception``), with the same
fidelity slack as every other choice (``condition_choice.pick``), but the merged coding wins
within ``MERGE_MARGIN`` of the split's score. On ``bikes`` the judge put the merged coding
behind by 0.09 % at 0.05 bpp and by 0.97 % at 0.035 bpp, where ST-LPIPS put it ahead by 7 %
and 5 % (0.0209 against 0.0224, 0.0323 against 0.0339); at 0.02 bpp the judge put it 3 %
behind, and one segment across the cut had scored 0.0681 against 0.0687 (docs/base.md,
"Scene cuts: one segment or two"). The margin is set from this one clip, the only
development clip with a cut.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import torch

from exvc.encode.condition import BaseCondition
from exvc.encode.condition_choice import Candidates, pick
from exvc.encode.perception import as_delivered, judge

log = logging.getLogger("exvc.encode")

MERGE_MARGIN = 0.02  # relative score by which the merged coding may trail and still win


def all_full_size(refined: list) -> bool:
    """Whether every one of the refined segments ``refined``
    (``exvc.encode.dinr_segment.DinrSegment``) is a full-size, full-rate base without an
    adapter: the scenes that may be coded as one."""
    for seg in refined:
        condition = getattr(seg, "condition", None)
        if not isinstance(condition, BaseCondition) or seg.adapter is not None:
            return False
        config = condition.coded.config
        if config.scale != 1 or config.step != 1 or config.anchors:
            return False
    return True


def merged_candidates(cands: Candidates) -> Candidates:
    """``cands`` narrowed to the full-size, full-rate bases (every codec and rate mode, and
    the two-pass candidate where ``cands`` has it): what the merged segment may be."""
    configs = tuple(c for c in cands.configs if c.scale == 1 and c.step == 1)
    return replace(cands, configs=configs, inr_alone=False, enhancement=False, refresh=0.0)


def prefer_merged(video: torch.Tensor, split: torch.Tensor, merged: torch.Tensor) -> bool:
    """Whether the judge prefers the ``merged`` decoding of ``video`` (T, 3, H, W) to the
    ``split`` one, over every frame, the merged one ahead within ``MERGE_MARGIN``."""
    two, one = (judge(as_delivered(frames), video) for frames in (split, merged))
    log.debug("scenes as two segments: score %.4f, %.2f dB; as one: %.4f, %.2f dB",
              two.score, two.psnr, one.score, one.psnr)
    return pick([two, replace(one, score=one.score / (1 + MERGE_MARGIN))]) == 1
