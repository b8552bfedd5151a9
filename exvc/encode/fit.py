"""Overfitting one segment's INR: entropy-aware, quantisation-aware training.

The loss is ``MSE + lambda * latent_bpp``. Lambda is the slope of the distortion-rate curve at
the operating point, which scales like ``distortion / rate``; we start from the video's
variance over the target rate (``lambda_scale`` calibrated in docs/inr.md) and correct it at
``lambda_checks`` from the *coded* size of the rounded latents (the range coder run on them,
not the proxy, which undercounted by up to a third). Steering lambda at every step (dual
ascent) was measured and lost: the latents' rate reacts to lambda with a long lag, so the
controller overshoots (docs/inr.md). Late in training, with the learning rate decayed, the
rate hardly rises when lambda falls, so a rate under its target is corrected more strongly
(``ratio ** 3``) than one over it (``ratio ** 1.5``): over the target, the rate controller
must coarsen the step, which costs far more than a few unused bytes. The exact rate is met
afterwards by ``rate_control``.

Latents first see additive uniform noise (a smooth stand-in for rounding), then rounding with
a straight-through gradient, so the integers the decoder gets are what was trained. In that
second phase the rate term's *value* is that of the rounded latents but its *gradient* is the
smooth proxy's at the unrounded ones ("soft rate"). The rate of a rounded zero has no gradient,
so with the plain straight-through rate nothing held zeros back: the distortion gradient
pushed them over the rounding threshold, and the rate rose by 27-74 % in the last 30 % of
training, far past its target (docs/inr.md, "Training overshot its rate").
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from exvc.bitstream.entropy import coded_size
from exvc.bitstream.segment import LATENT_STEP_ONE
from exvc.models.config import INRConfig
from exvc.models.device import compute_device
from exvc.models.inr import GridINR
from exvc.models.quantize import quantize_latents
from exvc.models.rate import laplace_bits


@dataclass(frozen=True)
class FitSchedule:
    """How hard to train: the preset picks one."""

    iterations: int
    batch_frames: int = 4
    lr: float = 2e-2
    latent_lr: float = 0.5
    noise_fraction: float = 0.7
    lambda_scale: float = 0.06
    lambda_checks: tuple[float, ...] = (0.4, 0.55, 0.7, 0.8, 0.9)


@dataclass
class FitResult:
    model: GridINR
    lam: float


def _round_ste(y: torch.Tensor) -> torch.Tensor:
    return y + (torch.round(y) - y).detach()


def fit_segment(
    frames: torch.Tensor,
    cfg: INRConfig,
    latent_bits_target: float,
    schedule: FitSchedule,
    seed: int = 0,
    on_step: Callable[[int, int], None] | None = None,
) -> FitResult:
    """Train a GridINR on ``frames`` (T, 3, H, W) aiming its latents at the target bits.

    Training runs on the scope's compute device (``exvc.models.device``); the model comes
    back on the CPU. The random numbers are drawn on the CPU on every device, so a run on
    another device differs only by float rounding."""
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    t, _, h, w = frames.shape
    device = compute_device()
    model = GridINR(cfg, t, h, w).to(device)
    frames = frames.to(device)
    log_scales = [torch.zeros(g.shape[0], requires_grad=True, device=device)
                  for g in model.latents]
    bases = (schedule.latent_lr, schedule.lr, schedule.lr)
    opt = torch.optim.Adam([
        {"params": list(model.latents.parameters())},
        {"params": list(model.synthesis.parameters())},
        {"params": log_scales},
    ], lr=schedule.lr)
    pixels = t * h * w
    target_bpp = max(latent_bits_target, 1.0) / pixels
    variance = float(frames.var()) + 1e-4
    lam = schedule.lambda_scale * variance / target_bpp
    batch = min(schedule.batch_frames, t)
    noise_steps = int(schedule.iterations * schedule.noise_fraction)
    checkpoints = {int(schedule.iterations * f) for f in schedule.lambda_checks}
    for step in range(schedule.iterations):
        decay = max(0.5 * (1 + math.cos(math.pi * step / schedule.iterations)), 0.02)
        for group, base in zip(opt.param_groups, bases, strict=True):
            group["lr"] = base * decay
        ids = torch.randperm(t, generator=gen)[:batch].tolist()
        if step < noise_steps:
            latents = [g + (torch.rand(g.shape, generator=gen) - 0.5).to(device)
                       for g in model.latents]
            bits = sum(laplace_bits(y, s) for y, s in zip(latents, log_scales, strict=True))
        else:
            latents = [_round_ste(g) for g in model.latents]
            bits = sum(_soft_rate(g, s) for g, s in zip(model.latents, log_scales, strict=True))
        mse = torch.mean((model.render(latents, ids) - frames[ids]) ** 2)
        loss = mse + lam * bits / pixels
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step + 1 in checkpoints:
            # Correct lambda once the latents have settled: rate falls roughly like
            # lambda ** -0.7 here, so this moves the operating point onto the budget.
            ratio = coded_latent_bits(model, device) / (target_bpp * pixels)
            lam *= min(8.0, max(0.125, ratio ** (1.5 if ratio >= 1 else 3.0)))
        if on_step is not None:
            on_step(step + 1, schedule.iterations)
    return FitResult(model.cpu(), lam)


def _soft_rate(latents: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Bits of the rounded ``latents`` (the scales learn from these), with the gradient for
    the latents taken from the smooth proxy at their unrounded values."""
    smooth = laplace_bits(latents, log_scale.detach())
    return laplace_bits(torch.round(latents.detach()), log_scale) + (smooth - smooth.detach())


def coded_latent_bits(model: GridINR, device: str = "cpu") -> int:
    """What the latents, rounded at the trained step, cost in the bitstream (range coder run;
    counted on a CPU copy when the model trains on another device)."""
    with torch.no_grad():
        if device != "cpu":
            model = copy.deepcopy(model).cpu()
        return 8 * coded_size(quantize_latents(model, LATENT_STEP_ONE))
