"""Overfitting one segment's INR: entropy-aware, quantisation-aware training.

The loss is ``MSE + lambda * latent_bpp``. Lambda is steered by dual ascent so that the
estimated latent rate meets the segment's latent budget, which puts the model near the right
rate-distortion point before the exact, bisection-based rate fit in ``rate_control``.
Latents first see additive uniform noise (a smooth stand-in for rounding), then rounding with a
straight-through gradient, so the decoder-side (integer) latents are what was trained.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from exvc.models.config import INRConfig
from exvc.models.inr import GridINR, pyramid_init
from exvc.models.rate import laplace_bits


@dataclass(frozen=True)
class FitSchedule:
    """How hard to train: the preset picks one."""

    iterations: int
    batch_frames: int = 8
    lr: float = 1e-2
    noise_fraction: float = 0.7
    latent_lr: float = 5e-2
    lam_init: float = 1.0
    lam_step: float = 0.05


@dataclass
class FitResult:
    model: GridINR
    log_scales: list[torch.Tensor]
    lam: float
    est_latent_bits: float


def _round_ste(y: torch.Tensor) -> torch.Tensor:
    return y + (torch.round(y) - y).detach()


def _init_on_budget(model: GridINR, frames: torch.Tensor, bits: float) -> float:
    """Pyramid-initialise with the quantisation step whose rounded latents fit ``bits``.

    Returns the MSE of that starting point.
    """
    lo, hi = -10.0, 2.0  # log2 of the step
    for _ in range(8):
        mid = 0.5 * (lo + hi)
        pyramid_init(model, frames, 2.0**mid)
        if _latent_bits(model) > bits:
            lo = mid
        else:
            hi = mid
    pyramid_init(model, frames, 2.0**hi)
    with torch.no_grad():
        latents = [torch.round(g) for g in model.latents]
        ids = list(range(0, frames.shape[0], max(1, frames.shape[0] // 8)))
        return float(torch.mean((model.render(latents, ids) - frames[ids]) ** 2))


def _latent_bits(model: GridINR) -> float:
    from exvc.bitstream.entropy import estimate_bits

    return estimate_bits([torch.round(g).to(torch.int32).numpy() for g in model.latents])


def fit_segment(
    frames: torch.Tensor,
    cfg: INRConfig,
    latent_bits_target: float,
    schedule: FitSchedule,
    seed: int = 0,
    on_step: Callable[[int, int], None] | None = None,
) -> FitResult:
    """Train a GridINR on ``frames`` (T, 3, H, W) so its latents cost about the target bits."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    t, _, h, w = frames.shape
    model = GridINR(cfg, t, h, w)
    init_mse = _init_on_budget(model, frames, latent_bits_target)
    log_scales = [torch.zeros(g.shape[0], requires_grad=True) for g in model.latents]
    params = [
        {"params": list(model.latents.parameters()), "lr": schedule.latent_lr},
        {"params": list(model.synthesis.parameters()), "lr": schedule.lr * 0.5},
        {"params": log_scales, "lr": schedule.lr},
    ]
    opt = torch.optim.Adam(params)
    pixels = t * h * w
    target_bpp = max(latent_bits_target, 1.0) / pixels
    # The slope of the distortion-rate curve near the budget is about MSE / rate: a good start.
    log_lam = math.log(schedule.lam_init * init_mse / target_bpp)
    batch = min(schedule.batch_frames, t)
    noise_steps = int(schedule.iterations * schedule.noise_fraction)
    est_bits = 0.0
    for step in range(schedule.iterations):
        lr_scale = 0.5 * (1 + math.cos(math.pi * step / schedule.iterations))
        bases = (schedule.latent_lr, schedule.lr * 0.5, schedule.lr)
        for group, base in zip(opt.param_groups, bases, strict=True):
            group["lr"] = base * max(lr_scale, 0.02)
        ids = torch.randperm(t, generator=gen)[:batch].tolist()
        if step < noise_steps:
            latents = [g + (torch.rand(g.shape, generator=gen) - 0.5) for g in model.latents]
        else:
            latents = [_round_ste(g) for g in model.latents]
        bits = sum(laplace_bits(y, s) for y, s in zip(latents, log_scales, strict=True))
        out = model.render(latents, ids)
        mse = torch.mean((out - frames[ids]) ** 2)
        rate_bpp = bits / pixels
        loss = mse + math.exp(log_lam) * rate_bpp
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            est_bits = float(sum(laplace_bits(torch.round(g), s)
                                 for g, s in zip(model.latents, log_scales, strict=True)))
        # Dual ascent on lambda: raise it while over budget, lower it while under. The rate of
        # the rounded latents is what will be coded, so it steers, not the noisy estimate.
        if step >= schedule.iterations // 10:
            log_lam += schedule.lam_step * math.tanh(2.0 * (est_bits / pixels / target_bpp - 1.0))
        if on_step is not None:
            on_step(step + 1, schedule.iterations)
    return FitResult(model, [s.detach() for s in log_scales], math.exp(log_lam), est_bits)
