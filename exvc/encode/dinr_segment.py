"""One dinr segment: its condition, plus an adapter chunk only when it beats spending its
bytes on the condition.

The condition (a base, an INR, or both: ``exvc.encode.condition``) is coded first for the
whole budget, exactly as it would be without the prior; ``coder_for`` then sees its frames
(the first segment of a file is where the sampler strength is chosen,
``exvc.encode.sampler_choice``) and returns the adapter coder for the file's sampler settings.

The adapter is trained against the condition's frames. Both candidates spend the same bytes
(the condition alone at the full budget, or the same layers coded again for the budget less
the ADAPTER chunk, plus the adapter), so the choice compares them directly: equal rate, lower
loss wins, by a margin. The judge is the adapters' own training loss on the probe frames
(``AdapterCoder.evaluate_with``), and the adapter must lower it by at least ``KEEP_MARGIN``
(relative). In twelve measured INR segments the adapters that helped ST-LPIPS lowered it by
4.3-13.5 % and those that hurt by at most 3.0 % (docs/dinr.md, "Keeping an adapter"); the
distortion-perception score had turned down four of the seven that helped. The adapter must
also decode at the condition's own ``psnr_floor`` or above (or, where the prior alone is
already below it, no lower than that): a perceptual judge alone let an adapter cost
1.5 dB for a small gain (docs/dinr.md, "A fidelity floor").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from exvc.bitstream.adapter import write_adapter
from exvc.bitstream.container import ADAPTER, Chunk, chunk_size
from exvc.encode.adapter_coder import AdapterCoder, AdapterSchedule
from exvc.encode.condition import Condition
from exvc.encode.frame_sampling import probe_ids
from exvc.encode.perception import as_delivered, judge, psnr_floor
from exvc.encode.presets import Plan
from exvc.encode.rate_control import BudgetError

KEEP_MARGIN = 0.035  # the adapter must lower the training loss by 3.5 % to be kept


@dataclass
class DinrSegment:
    condition: Condition  # as coded: with the adapter's bytes taken from it when kept
    adapter: bytes | None  # ADAPTER payload, or None
    loss_alone: float  # training loss decoded without an adapter (probe frames)
    loss_with_adapter: float | None
    psnr_floor: float  # dB: an adapter may not decode below this
    psnr_with_adapter: float | None

    def chunks(self) -> list[Chunk]:
        head = [Chunk(ADAPTER, self.adapter)] if self.adapter is not None else []
        return head + self.condition.chunks()

    def size(self) -> int:
        return sum(chunk_size(len(c.payload)) for c in self.chunks())


def refine_segment(video: torch.Tensor, condition: Condition, total: int, plan: Plan,
                   coder_for: Callable[[torch.Tensor, torch.Tensor], AdapterCoder],
                   report: Callable[[int, int, str], None] | None = None) -> DinrSegment:
    """The chunks of ``video`` (T, 3, H, W) within ``total`` bytes: ``condition`` (coded for
    ``total``) alone, or recoded with an adapter ahead of it when that wins.
    ``coder_for(video, condition_frames)`` gives the adapter coder."""
    frames = condition.frames
    coder = coder_for(video, frames)
    alone_j = coder.evaluate_with(None, video, frames)
    ids = probe_ids(len(video))
    own_psnr = judge(as_delivered(frames[ids]), video[ids]).psnr
    floor = min(psnr_floor(own_psnr), alone_j.psnr)
    best = DinrSegment(condition, None, alone_j.score, None, floor, None)
    payload = coder.train(video, frames, AdapterSchedule(plan.adapter_iterations), report)
    if payload is None:
        return best
    adapter = write_adapter(payload)
    try:
        smaller = condition.recode(total - chunk_size(len(adapter)))
    except BudgetError:
        return best
    j = coder.evaluate_with(payload, video, smaller.frames)
    best.loss_with_adapter, best.psnr_with_adapter = j.score, j.psnr
    if j.score < (1 - KEEP_MARGIN) * alone_j.score and j.psnr >= floor:
        best.condition, best.adapter = smaller, adapter
    return best
