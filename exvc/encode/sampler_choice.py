"""Choose how strongly the prior rewrites the INR: the sampler settings a dinr file records.

A blurry INR (low rates, easy content) gains from a strong rewrite that starts at a high noise
level and invents plausible detail. A sharper one (higher rates, busy motion) loses real
detail to the same rewrite, and a light touch near t = 0 serves it better. No single setting
suits every clip and rate (docs/dinr.md, "Choosing the sampler strength"). So the encoder
decodes a few frames of the first segment's INR with each candidate and keeps the one with
the lowest distortion-perception score (``exvc.encode.perception``). Every candidate costs
the same bytes in the PRIOR chunk, so the choice is made at equal rate.
"""

from __future__ import annotations

import numpy as np
import torch

from exvc.encode.perception import dp_score
from exvc.prior.loader import Prior
from exvc.prior.sampler import SamplerSettings, make_scheduler, sample

# Strongest first: t = 249 then 124; t = 124; t = 30; t = 9 (of 1000, cosine schedule).
CANDIDATES = (SamplerSettings(0, 8, 2), SamplerSettings(0, 8, 1), SamplerSettings(0, 32, 1),
              SamplerSettings(0, 100, 1))
PROBE_FRAMES = 8


def probe_ids(frames: int, count: int = PROBE_FRAMES) -> list[int]:
    """``count`` frame indices spread evenly over ``frames``."""
    return sorted({int(i) for i in np.linspace(0, frames - 1, min(count, frames)).round()})


def choose_sampler(prior: Prior, noise: torch.Tensor, video: torch.Tensor, inr: torch.Tensor,
                   candidates: tuple[SamplerSettings, ...] = CANDIDATES
                   ) -> tuple[SamplerSettings, list[float]]:
    """The candidate whose decoding of ``inr`` (T, 3, H, W) scores best against ``video``,
    and every candidate's score (ties go to the earlier candidate)."""
    ids = probe_ids(len(video))
    scores = []
    with torch.inference_mode():
        for settings in candidates:
            sched = make_scheduler(prior, settings)
            out = torch.cat([sample(prior, inr[i:i + 1], noise, settings, sched) for i in ids])
            out = torch.round(out.clamp(0, 1) * 255) / 255  # as the decoder will deliver it
            scores.append(dp_score(out, video[ids]))
    return candidates[int(np.argmin(scores))], scores
