"""Exact rate control: the best segment payload whose coded size is within its byte budget.

Training gets the latent rate close to the budget (fit.py); here the synthesis steps are chosen
by rate-distortion search and then the latent quantisation step is bisected on the *real* coded
size, so the file, not an estimate, meets the target. Among the steps that fit, the one that
renders best is kept: the finest is not always it, so a payload can stop short of its budget
when a coarser step renders better.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from exvc.bitstream.entropy import coded_size
from exvc.bitstream.segment import LATENT_STEP_ONE, SegmentPayload, write_segment
from exvc.encode.frame_sampling import probe_ids
from exvc.models.inr import GridINR
from exvc.models.quantize import (
    load_quantized,
    quantize_latents,
    quantize_tensor,
    segment_layout,
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


def zero_payload(config: list[int], frames: int, height: int, width: int) -> QuantizedSegment:
    """The smallest SEGMENT of ``config``: every latent and synthesis weight zero (it renders
    one flat colour). No budget at or above its size makes ``fit_to_budget`` fail, so the
    encoder can refuse a too-low rate before it fits anything."""
    layout = segment_layout(config, frames, height, width)
    payload = SegmentPayload(frames, config, MAX_LATENT_CODE, [0] * len(layout.weight_sizes),
                             [np.zeros(n, np.int32) for n in layout.latent_sizes],
                             [np.zeros(n, np.int32) for n in layout.weight_sizes])
    return QuantizedSegment(payload, len(write_segment(payload)))


def _mse(model: GridINR, frames: torch.Tensor, ids: list[int]) -> float:
    with torch.no_grad():
        out = model.render(list(model.latents), ids).clamp(0, 1)
        return float(torch.mean((out - frames[ids]) ** 2))


def choose_weight_steps(model: GridINR, frames: torch.Tensor, lam: float) -> list[int]:
    """Per synthesis tensor, the step minimising ``MSE + lam * bpp`` (greedy, in order).

    The latents are left unquantised here: the search only trades synthesis precision for bits.
    It is judged on the segment's probe frames (``exvc.encode.frame_sampling``: 8 spread
    over it; 4 gave 0.1-0.2 dB less).
    """
    t, _, h, w = frames.shape
    pixels = t * h * w
    ids = probe_ids(t)
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


# Coarser latent steps also tried once the finest fitting one is known: up to about 1.8x it.
# Trained latents are not quantised evenly well by every step: on carphone at 0.01 bpp a step
# 35 % coarser than the finest that fits rendered 0.4 dB better with 9 % fewer bytes
# (docs/inr.md, "The finest step is not the best").
COARSER_RATIO = 1.06
COARSER_STEPS = 10


def fit_to_budget(model: GridINR, weight_codes: list[int], budget: int,
                  frames: torch.Tensor) -> QuantizedSegment:
    """The SEGMENT payload within ``budget`` bytes that renders best.

    First the finest latent step that fits is found by bisection. Trained latents crowd at the
    rounding thresholds (the rate gradient pushes them there), so one step finer can cost many
    percent more; the gap is closed by coding the next finer step and rounding toward zero the
    ``k`` latents that sit closest to their threshold, with ``k`` found by bisection (the
    fill). The coded size is not monotonic in ``k`` (the entropy model's integer parameters
    move with it), and the rendered quality is not monotonic in the step either. The finest
    fitting step, ``COARSER_STEPS`` coarser ones (and the trained step) and the fill are all
    rendered on 8 frames of ``frames`` (the segment's video), and the lowest MSE wins (ties:
    the finest step); docs/inr.md, "The fill can cost more than it buys" and "The finest step
    is not the best".
    """
    weights = [quantize_tensor(p, c)
               for p, c in zip(synthesis_tensors(model), weight_codes, strict=True)]
    config = model.cfg.fields()

    def build(code: int, latents: list[np.ndarray] | None = None) -> QuantizedSegment:
        latents = quantize_latents(model, code) if latents is None else latents
        payload = SegmentPayload(model.frames, config, code, weight_codes, latents, weights)
        return QuantizedSegment(payload, len(write_segment(payload)))

    best = build(MAX_LATENT_CODE)
    if best.size > budget:
        return _coarser_weights(model, weight_codes, budget, build)
    lo, hi = MIN_LATENT_CODE, MAX_LATENT_CODE  # invariant: hi fits, lo does not
    candidate = build(lo)
    if candidate.size <= budget:
        return candidate
    lo, best = _bisect(lo, hi, best, build, budget)
    filled = _fill_between(model, lo, budget, build)
    candidates = [best] + [build(c) for c in _coarser_codes(best.payload.latent_step)]
    if filled is not None:
        candidates.append(filled)
    fitting = [c for c in candidates if c.size <= budget]
    return min(fitting, key=lambda c: _latent_mse(model, c, frames))


def _coarser_weights(model: GridINR, weight_codes: list[int], budget: int,
                     build) -> QuantizedSegment:
    """Below what the coarsest latent step costs with the trained weight steps: the weights
    coarser, a step of 4 codes (half the precision) at a time, and at last all zero
    (``zero_payload``); BudgetError only below that."""
    tensors = synthesis_tensors(model)
    coarsest = build(MAX_LATENT_CODE).payload
    for shift in range(4, max(weight_codes, default=0) + 4, 4):
        codes = [max(0, c - shift) for c in weight_codes]
        weights = [quantize_tensor(p, c) for p, c in zip(tensors, codes, strict=True)]
        payload = replace(coarsest, weight_steps=codes, weights=weights)
        size = len(write_segment(payload))
        if size <= budget:
            return QuantizedSegment(payload, size)
    floor = zero_payload(model.cfg.fields(), model.frames, model.height, model.width)
    if floor.size > budget:
        raise BudgetError(floor.size, budget)
    return floor


def _coarser_codes(code: int) -> list[int]:
    """Latent step codes from ``code`` x COARSER_RATIO up, geometric, at most MAX_LATENT_CODE,
    and the step training rounded at (LATENT_STEP_ONE) when it is coarser than ``code``: the
    geometric ladder can step over it, and it is the step the synthesis learned."""
    codes = {min(MAX_LATENT_CODE, round(code * COARSER_RATIO ** k))
             for k in range(1, COARSER_STEPS + 1)}
    if code < LATENT_STEP_ONE:
        codes.add(LATENT_STEP_ONE)
    return sorted(codes - {code})


def _latent_mse(model: GridINR, seg: QuantizedSegment, frames: torch.Tensor) -> float:
    """MSE on the probe frames with ``seg`` loaded; the model's float latents are restored
    afterwards."""
    saved = [g.detach().clone() for g in model.latents]
    apply(model, seg)
    try:
        return _mse(model, frames, probe_ids(frames.shape[0]))
    finally:
        with torch.no_grad():
            for grid, f in zip(model.latents, saved, strict=True):
                grid.copy_(f)


def _fill_between(model: GridINR, code: int, budget: int, build) -> QuantizedSegment | None:
    """Code step ``code`` (over budget) with the fewest threshold latents rounded toward zero."""
    step = code / LATENT_STEP_ONE
    scaled = [g.detach().numpy().ravel() / step for g in model.latents]
    q = [np.round(s).astype(np.int32) for s in scaled]
    flat_q = np.concatenate(q)
    margin = np.abs(np.concatenate(scaled)) - (np.abs(flat_q) - 0.5)
    margin[flat_q == 0] = np.inf
    order = np.argsort(margin, kind="stable")[: int(np.count_nonzero(flat_q))]
    bounds = np.cumsum([0] + [len(x) for x in q])

    def with_k(k: int) -> QuantizedSegment:
        shrunk = flat_q.copy()
        idx = order[:k]
        shrunk[idx] -= np.sign(shrunk[idx]).astype(np.int32)
        return build(code, [shrunk[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)])

    lo, hi = 0, len(order)  # invariant: k=lo does not fit
    top = with_k(hi)
    if top.size > budget:
        return None
    return _bisect(lo, hi, top, with_k, budget)[1]


def _bisect(lo: int, hi: int, fits: QuantizedSegment, build, budget: int):
    """Narrow an integer knob where ``build(hi)`` (= ``fits``) fits the budget and
    ``build(lo)`` does not; returns the final ``lo`` and the fitting segment at ``hi``."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        candidate = build(mid)
        if candidate.size <= budget:
            hi, fits = mid, candidate
        else:
            lo = mid
    return lo, fits


def apply(model: GridINR, seg: QuantizedSegment) -> GridINR:
    """Load the chosen integers into the model, so it renders what the decoder will."""
    p = seg.payload
    return load_quantized(model, p.latent_step, p.latents, p.weight_steps, p.weights)
