"""Few-step seeded sampling of the prior from the INR's frames (the dinr decoder's core).

The sampler starts where the INR already is: the INR frame, mapped to the UNet's sample space,
is noised to the first timestep with the file's portable noise field (SDEdit-style), then DDIM
(eta = 0, deterministic) runs ``run_steps`` steps of a ``grid_steps``-step trailing schedule.
Few steps keep decoding fast on a CPU; starting from the INR keeps the output faithful to it;
one noise field for all frames keeps steady content steady. A mixed sampler then moves only
part of the way from the INR frame to the sampled one: a sharp INR keeps its fidelity and
still gains some of the prior's detail (docs/dinr.md, "Mixing with the INR").
bitstream_spec.md section 12.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from exvc.bitstream.prior_chunk import MIX_ONE, SAMPLER_DDIM, SAMPLER_DDIM_MIXED, SAMPLERS
from exvc.prior.loader import Prior
from exvc.prior.noise import gaussian_field


@dataclass(frozen=True)
class SamplerSettings:
    """What the PRIOR chunk records about sampling (all small integers)."""

    sampler: int = SAMPLER_DDIM
    grid_steps: int = 8
    run_steps: int = 2
    mix: int = MIX_ONE  # in 16ths: how far the output moves from the INR frame to the sample

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"unknown sampler {self.sampler}")
        if not 1 <= self.run_steps <= self.grid_steps <= 1000:
            raise ValueError(f"bad step counts {self.run_steps}/{self.grid_steps}")
        if not 0 <= self.mix <= MIX_ONE or (self.sampler == SAMPLER_DDIM_MIXED) != (
                self.mix < MIX_ONE):
            raise ValueError(f"mix {self.mix} does not fit sampler {self.sampler}")

    @classmethod
    def of(cls, grid_steps: int, run_steps: int, mix: int = MIX_ONE) -> SamplerSettings:
        """DDIM settings, mixed with the INR frame when ``mix`` is under MIX_ONE."""
        sampler = SAMPLER_DDIM if mix == MIX_ONE else SAMPLER_DDIM_MIXED
        return cls(sampler, grid_steps, run_steps, mix)

    def with_mix(self, mix: int) -> SamplerSettings:
        return SamplerSettings.of(self.grid_steps, self.run_steps, mix)


def make_scheduler(prior: Prior, settings: SamplerSettings):
    """The diffusers DDIM scheduler of ``prior``'s noise schedule, trailing spacing."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler.from_config(prior.scheduler_config, timestep_spacing="trailing",
                                      clip_sample=False, set_alpha_to_one=True, steps_offset=0)
    sched.set_timesteps(settings.grid_steps)
    return sched


def timesteps(prior: Prior, settings: SamplerSettings) -> list[int]:
    return [int(t) for t in make_scheduler(prior, settings).timesteps[-settings.run_steps:]]


def padded_size(prior: Prior, height: int, width: int) -> tuple[int, int]:
    m = prior.multiple
    return -(-height // m) * m, -(-width // m) * m


def noise_for(prior: Prior, seed: int, height: int, width: int) -> torch.Tensor:
    """The file's noise field in sample space for frames of this size: (1, C, h, w)."""
    ph, pw = padded_size(prior, height, width)
    with torch.no_grad():
        shape = prior.to_sample_space(torch.zeros(1, 3, ph, pw, device=prior.device)).shape[1:]
    return torch.from_numpy(gaussian_field(seed, tuple(shape)))[None]


def pad(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    h, w = frames.shape[-2:]
    if (h, w) == size:
        return frames
    return F.pad(frames, (0, size[1] - w, 0, size[0] - h), mode="replicate")


def sample(prior: Prior, inr_frames: torch.Tensor, noise: torch.Tensor,
           settings: SamplerSettings, scheduler=None) -> torch.Tensor:
    """Frames (B, 3, H, W) in [0, 1] (unclamped) from INR frames of the same shape.

    Differentiable (the encoder trains adapters through it); wrap in ``inference_mode`` to
    decode. ``scheduler``: ``make_scheduler(prior, settings)`` made once by a caller that
    samples many frames (DDIM's step keeps no state between calls).
    """
    if settings.mix == 0:
        return inr_frames.clone()
    h, w = inr_frames.shape[-2:]
    home, device = inr_frames.device, prior.device  # computed where the prior is (-hwaccel)
    x_in = pad(inr_frames.to(device), padded_size(prior, h, w))
    sched = scheduler if scheduler is not None else make_scheduler(prior, settings)
    steps = sched.timesteps[-settings.run_steps:]
    start = prior.to_sample_space(x_in)
    cond = prior.condition(x_in, start)
    eps = noise.to(device).expand(start.shape[0], -1, -1, -1)
    x = sched.add_noise(start, eps, steps[:1])
    for t in steps:
        out = prior.predict(x, int(t), cond)
        x = sched.step(out, t, x, eta=0.0).prev_sample
    return mix_with_inr(inr_frames, prior.from_sample_space(x)[..., :h, :w].to(home),
                        settings.mix)


def mix_with_inr(inr_frames: torch.Tensor, sampled: torch.Tensor, mix16: int) -> torch.Tensor:
    """``inr + mix16/16 * (sampled - inr)``: the mixed sampler's output (section 12.3)."""
    if mix16 == MIX_ONE:
        return sampled
    return inr_frames + (mix16 / MIX_ONE) * (sampled - inr_frames)
