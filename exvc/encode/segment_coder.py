"""One segment: fit an INR to its frames, then quantise it to exactly fit the byte budget."""

from __future__ import annotations

from collections.abc import Callable

import torch

from exvc.bitstream.segment import write_segment
from exvc.encode.fit import FitResult, fit_segment
from exvc.encode.presets import Plan
from exvc.encode.rate_control import (
    BudgetError,
    QuantizedSegment,
    apply,
    choose_weight_steps,
    fit_to_budget,
    zero_payload,
)
from exvc.models.quantize import segment_layout

# What training aims the latents at: the budget less the synthesis weights (at about
# _WEIGHT_BITS each, the top of 3.9-8.0 measured) and a _MARGIN, but at least _LATENT_SHARE of
# it. Training lands its latents within a few percent of the aim, and over it the rate
# controller must coarsen the step, which costs far more than a few unused bytes
# (docs/inr.md, "Training overshot its rate").
_LATENT_SHARE = 0.8
_WEIGHT_BITS = 7.5
_MARGIN = 0.03
MIN_SEGMENT_BUDGET = 16


def latent_target_bits(budget: int, weights: int) -> float:
    """Bits the latents of a ``budget``-byte payload aim at, with ``weights`` synthesis
    weights to pay for."""
    return 8 * max(_LATENT_SHARE * budget, (1 - _MARGIN) * budget - _WEIGHT_BITS * weights / 8)


class FittedSegment:
    """A trained INR whose quantisation can be redone for any budget (cheap: no training)."""

    def __init__(self, fit: FitResult, codes: list[int], video: torch.Tensor) -> None:
        self.fit, self.codes, self.video = fit, codes, video
        self._floats = [g.detach().clone() for g in fit.model.latents]

    def quantize(self, budget: int) -> QuantizedSegment:
        """The best-rendering payload within ``budget`` (``fit_to_budget``); the model then
        renders what decoders see."""
        with torch.no_grad():
            for grid, floats in zip(self.fit.model.latents, self._floats, strict=True):
                grid.copy_(floats)
        seg = fit_to_budget(self.fit.model, self.codes, budget, self.video)
        apply(self.fit.model, seg)
        return seg

    @torch.no_grad()
    def render(self, batch: int = 4) -> torch.Tensor:
        """Every frame as the decoder renders it (T, 3, H, W), a few frames at a time."""
        model = self.fit.model
        ids = list(range(model.frames))
        return torch.cat([model.render(list(model.latents), ids[i:i + batch]).clamp(0, 1)
                          for i in range(0, len(ids), batch)])


def inr_floor(frames: int, height: int, width: int, budget: int, plan: Plan) -> int:
    """Payload bytes of the smallest SEGMENT that ``fit_inr`` and ``fit_to_budget`` can give
    for a ``budget``-byte payload (all zero: ``zero_payload``): a rate is refused below it,
    before any fitting, and never above it."""
    cfg = plan.config_for(budget, frames, height, width)
    return max(MIN_SEGMENT_BUDGET, zero_payload(cfg.fields(), frames, height, width).size)


def fit_inr(video: torch.Tensor, budget: int, plan: Plan, seed: int = 0,
            report: Callable[[int, int, str], None] | None = None) -> FittedSegment:
    """Train the INR of ``video`` (T, 3, H, W) for a SEGMENT payload of ``budget`` bytes."""
    t, _, h, w = video.shape
    if budget < MIN_SEGMENT_BUDGET:
        raise BudgetError(MIN_SEGMENT_BUDGET, budget)
    cfg = plan.config_for(budget, t, h, w)

    def on_step(step: int, steps: int) -> None:
        if report is not None:
            report(step, steps, "fit")

    weights = sum(segment_layout(cfg.fields(), t, h, w).weight_sizes)
    fit = fit_segment(video, cfg, latent_target_bits(budget, weights), plan.schedule,
                      seed=seed, on_step=on_step)
    # Keep the trained floats: quantize() starts from them for every budget it is asked.
    return FittedSegment(fit, choose_weight_steps(fit.model, video, fit.lam), video)


def encode_segment(
    video: torch.Tensor,
    budget: int,
    plan: Plan,
    seed: int = 0,
    report: Callable[[int, int, str], None] | None = None,
) -> bytes:
    """SEGMENT payload bytes (at most ``budget``) for ``video`` (T, 3, H, W)."""
    return write_segment(fit_inr(video, budget, plan, seed, report).quantize(budget).payload)
