"""One dinr segment: the INR, plus an adapter chunk only when it beats spending its bytes on
the INR.

The INR is fitted first; ``coder_for`` then sees its frames (the first segment of a file is
where the sampler strength is chosen, ``exvc.encode.sampler_choice``) and returns the adapter
coder for the file's sampler settings.

The INR is fitted for the whole budget, exactly as ``inr`` would fit it, and the adapter is
trained against its frames. Both candidates spend the same bytes (INR alone at the full
budget, or the same INR re-quantised to the budget less the ADAPTER chunk, plus the
adapter), so the choice compares them directly: equal rate, lower loss wins, by a margin.
The judge is the adapters' own training loss on the probe frames (``AdapterCoder.
evaluate_with``), and the adapter must lower it by at least ``KEEP_MARGIN`` (relative). In
twelve measured segments the adapters that helped ST-LPIPS lowered it by 4.3-13.5 % and those
that hurt by at most 3.0 % (docs/dinr.md, "Keeping an adapter"); the distortion-perception
score had turned down four of the seven that helped. The adapter must also decode no more
than ``MAX_PSNR_DROP`` dB below the INR's own frames (or, where the prior alone already
does, no lower than that): a perceptual judge alone let an adapter cost 1.5 dB for a small
gain (docs/dinr.md, "A fidelity floor"). (A first version fitted the INR for the budget
less a reserve; the benchmark showed that handicap costing more than adapters gained:
docs/dinr.md.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from exvc.bitstream.adapter import write_adapter
from exvc.bitstream.segment import write_segment
from exvc.encode.adapter_coder import AdapterCoder, AdapterSchedule
from exvc.encode.perception import MAX_PSNR_DROP, as_delivered, judge
from exvc.encode.presets import Plan
from exvc.encode.rate_control import BudgetError
from exvc.encode.sampler_choice import probe_ids
from exvc.encode.segment_coder import MIN_SEGMENT_BUDGET, fit_inr

KEEP_MARGIN = 0.035  # the adapter must lower the training loss by 3.5 % to be kept


@dataclass
class DinrSegment:
    adapter: bytes | None  # ADAPTER payload, or None
    segment: bytes  # SEGMENT payload
    loss_inr_only: float  # training loss decoded without an adapter (probe frames)
    loss_with_adapter: float | None
    psnr_floor: float  # dB: an adapter may not decode below this
    psnr_with_adapter: float | None


def encode_dinr_segment(video: torch.Tensor, budget: int, plan: Plan,
                        coder_for: Callable[[torch.Tensor, torch.Tensor], AdapterCoder],
                        chunk_cost: Callable[[int], int], seed: int = 0,
                        report: Callable[[int, int, str], None] | None = None) -> DinrSegment:
    """Payloads for ``video`` (T, 3, H, W) whose chunks together fit ``budget`` payload bytes
    of a lone SEGMENT chunk (``chunk_cost`` maps a payload length to its chunk's size).
    ``coder_for(video, inr_frames)`` gives the adapter coder."""
    fitted = fit_inr(video, budget, plan, seed, report)
    alone = fitted.quantize(budget)
    inr_frames = fitted.render()
    coder = coder_for(video, inr_frames)
    alone_j = coder.evaluate_with(None, video, inr_frames)
    ids = probe_ids(len(video))
    inr_psnr = judge(as_delivered(inr_frames[ids]), video[ids]).psnr
    floor = min(inr_psnr - MAX_PSNR_DROP, alone_j.psnr)
    best = DinrSegment(None, write_segment(alone.payload), alone_j.score, None, floor, None)
    payload = coder.train(video, inr_frames, AdapterSchedule(plan.adapter_iterations), report)
    if payload is not None:
        adapter = write_adapter(payload)
        rest = budget - chunk_cost(len(adapter))
        try:
            seg = fitted.quantize(rest) if rest >= MIN_SEGMENT_BUDGET else None
        except BudgetError:
            seg = None
        if seg is not None:
            j = coder.evaluate_with(payload, video, fitted.render())
            best.loss_with_adapter, best.psnr_with_adapter = j.score, j.psnr
            if j.score < (1 - KEEP_MARGIN) * alone_j.score and j.psnr >= floor:
                best = DinrSegment(adapter, write_segment(seg.payload), alone_j.score, j.score,
                                   floor, j.psnr)
    return best
