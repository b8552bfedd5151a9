"""Exact rate control: make a segment's coded size land just under its byte budget.

Training gets the latent rate close to the budget (fit.py); here the synthesis steps are chosen
by rate-distortion search and then the latent quantisation step is bisected on the *real* coded
size, so the file, not an estimate, meets the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from exvc.bitstream.entropy import coded_size
from exvc.bitstream.segment import LATENT_STEP_ONE, SegmentPayload, write_segment
from exvc.models.inr import GridINR
from exvc.models.quantize import (
    load_quantized,
    quantize_latents,
    quantize_tensor,
    synthesis_tensors,
    weight_step,
)

# Latent step codes searched: step = code / 256, from 1/256 to 64.
MIN_LATENT_CODE = 1
MAX_LATENT_CODE = LATENT_STEP_ONE * 64


class BudgetError(ValueError):
    """The budget is below what the smallest coding of this segment costs."""

    def __init__(self, needed: int, budget: int) -> None:
        super().__init__(f"needs at least {needed} bytes, budget is {budget}")
        self.needed = needed


@dataclass
class QuantizedSegment:
    payload: SegmentPayload
    size: int  # bytes of the SEGMENT payload


def _mse(model: GridINR, frames: torch.Tensor, ids: list[int]) -> float:
    with torch.no_grad():
        out = model.render(list(model.latents), ids).clamp(0, 1)
        return float(torch.mean((out - frames[ids]) ** 2))


def choose_weight_steps(model: GridINR, frames: torch.Tensor, lam: float) -> list[int]:
    """Per synthesis tensor, the step minimising ``MSE + lam * bpp`` (greedy, in order).

    The latents are left unquantised here: the search only trades synthesis precision for bits.
    """
    t, _, h, w = frames.shape
    pixels = t * h * w
    ids = list(range(0, t, max(1, t // 4)))[:4]
    codes = []
    for p in synthesis_tensors(model):
        original = p.detach().clone()
        best = None
        for code in range(8, 41, 2):  # steps 1/4 ... 1/1024
            q = quantize_tensor(original, code)
            with torch.no_grad():
                p.copy_(torch.from_numpy(q.astype(np.float32)).reshape(p.shape) * weight_step(code))
            cost = _mse(model, frames, ids) + lam * coded_size([q]) * 8 / pixels
            if best is None or cost < best[0]:
                best = (cost, code)
        code = best[1]
        with torch.no_grad():
            p.copy_(torch.round(original / weight_step(code)) * weight_step(code))
        codes.append(code)
    return codes


def fit_to_budget(model: GridINR, weight_codes: list[int], budget: int) -> QuantizedSegment:
    """Finest latent step whose whole SEGMENT payload fits ``budget`` bytes (bisection)."""
    weights = [quantize_tensor(p, c)
               for p, c in zip(synthesis_tensors(model), weight_codes, strict=True)]
    config = model.cfg.fields()

    def build(code: int) -> QuantizedSegment:
        payload = SegmentPayload(model.frames, config, code, weight_codes,
                                 quantize_latents(model, code), weights)
        return QuantizedSegment(payload, len(write_segment(payload)))

    best = build(MAX_LATENT_CODE)
    if best.size > budget:
        raise BudgetError(best.size, budget)
    lo, hi = MIN_LATENT_CODE, MAX_LATENT_CODE  # invariant: hi fits
    candidate = build(lo)
    if candidate.size <= budget:
        return candidate
    while hi - lo > 1:
        mid = (lo + hi) // 2
        candidate = build(mid)
        if candidate.size <= budget:
            hi, best = mid, candidate
        else:
            lo = mid
    return best


def apply(model: GridINR, seg: QuantizedSegment) -> GridINR:
    """Load the chosen integers into the model, so it renders what the decoder will."""
    p = seg.payload
    return load_quantized(model, p.latent_step, p.latents, p.weight_steps, p.weights)
