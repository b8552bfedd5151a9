"""One segment: fit an INR to its frames, then quantise it to exactly fit the byte budget."""

from __future__ import annotations

from collections.abc import Callable

import torch

from exvc.bitstream.segment import write_segment
from exvc.encode.fit import fit_segment
from exvc.encode.presets import Plan
from exvc.encode.rate_control import BudgetError, apply, choose_weight_steps, fit_to_budget

# Share of the payload budget that training aims the latents at; the rest pays for the
# synthesis weights and side information, and leaves the bisection room to land exactly.
_LATENT_SHARE = 0.8


def encode_segment(
    video: torch.Tensor,
    budget: int,
    plan: Plan,
    seed: int = 0,
    report: Callable[[int, int, str], None] | None = None,
) -> bytes:
    """SEGMENT payload bytes (at most ``budget``) for ``video`` (T, 3, H, W)."""
    t, _, h, w = video.shape
    if budget < 16:
        raise BudgetError(16, budget)
    cfg = plan.config_for(budget, t, h, w)

    def on_step(step: int, steps: int) -> None:
        if report is not None:
            report(step, steps, "fit")

    fit = fit_segment(video, cfg, _LATENT_SHARE * 8 * budget, plan.schedule, seed=seed,
                      on_step=on_step)
    codes = choose_weight_steps(fit.model, video, fit.lam)
    seg = fit_to_budget(fit.model, codes, budget)
    apply(fit.model, seg)
    return write_segment(seg.payload)
