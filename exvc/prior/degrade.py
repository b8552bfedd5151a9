"""The synthetic stand-in for an INR frame that the prior learns to restore.

At extreme rates the INR's output is a low-pass version of the frame: detail finer than its
coarsest affordable grid is gone, edges are soft, flat areas carry slight noise. Training pairs
are therefore (photo, down-and-up-sampled photo plus a little noise), with the factor drawn
log-uniformly over what 0.005-0.05 bpp INR frames look like (docs/prior.md).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MIN_FACTOR = 2.0  # mildest blur, as a down-sampling factor; both bundled priors used it


def degrade(x: torch.Tensor, gen: torch.Generator, min_factor: float = MIN_FACTOR,
            max_factor: float = 10.0, max_noise: float = 0.02) -> torch.Tensor:
    """A blurred copy of each image in ``x`` (B, 3, H, W), one random strength per image."""
    out = torch.empty_like(x)
    h, w = x.shape[-2:]
    for i in range(x.shape[0]):
        u = float(torch.rand((), generator=gen))
        f = math.exp(math.log(min_factor) + u * (math.log(max_factor) - math.log(min_factor)))
        small = F.interpolate(x[i : i + 1], size=(max(1, round(h / f)), max(1, round(w / f))),
                              mode="area")
        up = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
        sigma = float(torch.rand((), generator=gen)) * max_noise
        out[i] = (up[0] + sigma * torch.randn(up.shape[1:], generator=gen)).clamp(0, 1)
    return out
