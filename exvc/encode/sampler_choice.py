"""Choose how strongly the prior rewrites the INR: the sampler settings a dinr file records.

A blurry INR (low rates, easy content) gains from a strong rewrite that starts at a high noise
level and invents plausible detail. A sharper one (higher rates, busy motion) loses real
detail to the same rewrite, and a light touch near t = 0 serves it better. No single setting
suits every clip and rate (docs/dinr.md, "Choosing the sampler strength"). So the encoder
decodes a few frames of the first segment's INR with each candidate and keeps the one with
the lowest distortion-perception score (``exvc.encode.perception``). Each step setting is
also tried mixed with the INR frame (part of the way from the INR to the sample), which is
cheap: one sampling per step setting serves all its mixes. Mix 0 (the INR frame as it is)
is a candidate too, so the prior is never used where the score says it hurts. A candidate
that decodes below the INR frame's ``psnr_floor`` (``MAX_PSNR_DROP`` dB below mix 0, less
where the INR is already sharp) is not eligible, whatever its score. The PRIOR chunk's size
differs by at most its mix byte, so the choice is made at (almost) equal rate.
"""

from __future__ import annotations

import numpy as np
import torch

from exvc.bitstream.prior_chunk import MIX_ONE
from exvc.encode.frame_sampling import probe_ids
from exvc.encode.perception import Judgement, as_delivered, judge, psnr_floor
from exvc.prior.loader import Prior
from exvc.prior.sampler import SamplerSettings, make_scheduler, mix_with_inr, sample

# (grid, run) strongest first: t = 249 then 124; t = 124; t = 30; t = 9 (of 1000, cosine).
STEPS = ((8, 2), (8, 1), (32, 1), (100, 1))
MIXES = (MIX_ONE, 12, 8, 4)  # in 16ths; MIX_ONE: the sample as it is
CANDIDATES = tuple(SamplerSettings.of(g, r, m) for g, r in STEPS for m in MIXES) + (
    SamplerSettings.of(8, 1, 0),)  # mix 0: the INR frame, the prior unused


def choose_sampler(prior: Prior, noise: torch.Tensor, video: torch.Tensor, inr: torch.Tensor,
                   candidates: tuple[SamplerSettings, ...] = CANDIDATES
                   ) -> tuple[SamplerSettings, list[Judgement]]:
    """The candidate whose decoding of ``inr`` (T, 3, H, W) scores best against ``video``
    among those at ``psnr_floor`` of ``inr`` itself or above, and every candidate's
    judgement (ties go to the earlier candidate)."""
    ids = probe_ids(len(video))
    sampled: dict[tuple[int, int], torch.Tensor] = {}
    judged = []
    with torch.inference_mode():
        floor = psnr_floor(judge(as_delivered(inr[ids]), video[ids]).psnr)
        for settings in candidates:
            key = (settings.grid_steps, settings.run_steps)
            if settings.mix and key not in sampled:
                full = settings.with_mix(MIX_ONE)
                sched = make_scheduler(prior, full)
                sampled[key] = torch.cat([sample(prior, inr[i:i + 1], noise, full, sched)
                                          for i in ids])
            out = mix_with_inr(inr[ids], sampled[key], settings.mix) if settings.mix else inr[ids]
            judged.append(judge(as_delivered(out), video[ids]))
    return candidates[pick(candidates, judged, floor)], judged


def pick(candidates: tuple[SamplerSettings, ...] | list[SamplerSettings],
         judged: list[Judgement], floor: float) -> int:
    """Index of the lowest score among the candidates that decode at ``floor`` dB or above;
    mix 0 (the INR itself) is always eligible."""
    return int(np.argmin([j.score if j.psnr >= floor or c.mix == 0 else np.inf
                          for c, j in zip(candidates, judged, strict=True)]))
