"""Differentiable rate proxy used while training: bits of integer latents under a Laplace model.

The bitstream codes latents with a discrete Laplace whose parameters are integers (see
exvc/bitstream/entropy.py); during training a continuous Laplace with a learned scale per
(level, channel) is a close, differentiable stand-in.
"""

from __future__ import annotations

import torch

_LOG2 = 0.6931471805599453


def laplace_bits(y: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """Total bits of ``y`` (already rounded or noisy) under Laplace(0, exp(log_scale)).

    ``y`` is (C, ...) and ``log_scale`` (C,): one scale per channel. The probability of a value
    is the Laplace mass of the unit interval around it.
    """
    shape = (-1,) + (1,) * (y.dim() - 1)
    b = log_scale.exp().reshape(shape)
    a = y.abs()
    upper = (a + 0.5) / b
    lower = (a - 0.5) / b
    # mass of [a-0.5, a+0.5] for a >= 0.5 is 0.5*(exp(-lower) - exp(-upper)); near 0 it is
    # 1 - 0.5*exp(-upper) - 0.5*exp(lower) (the interval straddles the mode).
    p_tail = 0.5 * (torch.exp(-lower.clamp(min=0)) - torch.exp(-upper))
    p_mode = 1.0 - 0.5 * torch.exp(-upper) - 0.5 * torch.exp(lower.clamp(max=0))
    p = torch.where(a >= 0.5, p_tail, p_mode)
    return -(p.clamp(min=1e-12).log().sum()) / _LOG2
