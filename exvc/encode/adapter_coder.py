"""Per-video adapters: train LoRA deltas of the prior for one segment and decide if they pay.

The adapter is trained through the decoder itself: the few-step sampler is unrolled from the
segment's quantised INR frames and the file's noise field, and only the adapters' B matrices
learn (exvc.prior.adapters). The training loss on the sampled frames is
``MSE + GRAD_WEIGHT * L1(image gradients) + ENERGY_WEIGHT * band-energy mismatch``: the
gradient term rewards restoring real edges, which MSE alone (whose optimum is blur) does not,
and the energy term (``exvc.encode.perception``) rewards detail of the right strength even
where it cannot sit on the exact pixel. The weights were set by measurement (docs/dinr.md).
Each layer's quantiser step is chosen by the distortion-perception score of
``exvc.encode.perception``. Whether the adapter is kept at equal bytes
(``exvc.encode.dinr_segment``) is judged by the training loss itself: the score misjudged
adapters in both directions (docs/dinr.md, "Keeping an adapter").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from exvc.bitstream.adapter import AdapterPayload, AdapterTarget
from exvc.encode.frame_sampling import PROBE_FRAMES, probe_ids
from exvc.encode.perception import Judgement, as_delivered, energy_mismatch, judge
from exvc.media.quality import psnr
from exvc.prior import adapters
from exvc.prior.loader import Prior
from exvc.prior.sampler import SamplerSettings, make_scheduler, pad, sample

GRAD_WEIGHT = 0.5
ENERGY_WEIGHT = 0.3
RANK = 4
_STEP_CODES = (8, 10, 12, 14, 16, 18, 20, 24)
_CROP = 96
_EVAL_FRAMES = 4


@dataclass(frozen=True)
class AdapterSchedule:
    iterations: int
    batch_frames: int = 2
    lr: float = 3e-3


def training_loss(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """MSE, plus the L1 distance of horizontal and vertical differences (per pixel), plus the
    band-energy mismatch."""
    mse = torch.mean((out - ref) ** 2)
    dx = (out[..., :, 1:] - out[..., :, :-1]) - (ref[..., :, 1:] - ref[..., :, :-1])
    dy = (out[..., 1:, :] - out[..., :-1, :]) - (ref[..., 1:, :] - ref[..., :-1, :])
    grad = 0.5 * (dx.abs().mean() + dy.abs().mean())
    return mse + GRAD_WEIGHT * grad + ENERGY_WEIGHT * energy_mismatch(out, ref)


def default_targets(prior: Prior) -> list[tuple[str, AdapterTarget]]:
    """The layers that shape the output's fine detail: ``conv_out`` and the second
    convolution of every resnet in the last (full-resolution) up block."""
    mods = adapters.adaptable_modules(prior.unet)
    last_up = len(prior.unet.config.block_out_channels) - 1
    chosen = [(i, n, m) for i, (n, m) in enumerate(mods)
              if n == "conv_out" or (n.startswith(f"up_blocks.{last_up}.resnets.")
                                     and n.endswith(".conv2"))]
    return [(n, adapters.target_of(i, m)) for i, n, m in chosen]


def _crop_box(prior: Prior, h: int, w: int, gen: torch.Generator) -> tuple[int, int, int, int]:
    """A random crop of about _CROP pixels aligned to the prior's grid, inside a padded frame
    of ``h`` x ``w`` (multiples of the grid)."""
    m = prior.multiple
    ch, cw = min(h, max(m, _CROP // m * m)), min(w, max(m, _CROP // m * m))
    y = int(torch.randint(0, (h - ch) // m + 1, (), generator=gen)) * m
    x = int(torch.randint(0, (w - cw) // m + 1, (), generator=gen)) * m
    return y, x, ch, cw


def _noise_crop(noise: torch.Tensor, box: tuple[int, int, int, int],
                full: tuple[int, int]) -> torch.Tensor:
    fy, fx = noise.shape[-2] / full[0], noise.shape[-1] / full[1]
    y, x, ch, cw = box
    return noise[..., round(y * fy): round((y + ch) * fy), round(x * fx): round((x + cw) * fx)]


class AdapterCoder:
    """Trains, quantises and judges one segment's adapter on a given prior."""

    def __init__(self, prior: Prior, settings: SamplerSettings, noise: torch.Tensor,
                 padded: tuple[int, int], seed: int) -> None:
        self.prior, self.settings, self.noise, self.padded = prior, settings, noise, padded
        self.seed = seed & 0xFFFFFFFF
        self.targets = default_targets(prior)
        self.scheduler = make_scheduler(prior, settings)

    def _decode(self, frames: torch.Tensor, inr: torch.Tensor, count: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """``count`` frames of ``inr`` decoded with the UNet as it is now, as delivered, and
        the matching frames of ``frames``."""
        ids = probe_ids(len(frames), count)
        with torch.inference_mode():
            out = torch.cat([sample(self.prior, inr[i:i + 1], self.noise, self.settings,
                                    self.scheduler) for i in ids])
        return as_delivered(out), frames[ids]

    def evaluate(self, frames: torch.Tensor, inr: torch.Tensor, count: int = _EVAL_FRAMES
                 ) -> Judgement:
        """How decoding ``inr`` with the UNet as it is now compares with ``frames`` by
        ``dp_score``, on ``count`` frames."""
        return judge(*self._decode(frames, inr, count))

    def train(self, frames: torch.Tensor, inr: torch.Tensor, schedule: AdapterSchedule,
              report: Callable[[int, int, str], None] | None = None) -> AdapterPayload | None:
        """Train B for ``frames`` decoded from ``inr`` and return it quantised (the step per
        layer chosen by ``dp_score``, rates ignored here), or None if there is nothing to
        train (no iterations, no target layers, or mix 0: the prior is not used). The UNet
        is left without adapters."""
        if schedule.iterations <= 0 or not self.targets or self.settings.mix == 0:
            return None
        unet = self.prior.unet
        names = [n for n, _ in self.targets]
        targets = [t for _, t in self.targets]
        bs = adapters.attach(unet, names, targets, RANK, RANK, self.seed)
        try:
            self._optimise(bs, frames, inr, schedule, report)
            return self._quantise(bs, targets, frames, inr)
        finally:
            adapters.detach(unet)

    def _optimise(self, bs, frames, inr, schedule, report) -> None:
        gen = torch.Generator().manual_seed(self.seed)
        opt = torch.optim.Adam(bs, lr=schedule.lr)
        frames, inr = pad(frames, self.padded), pad(inr, self.padded)
        t, _, h, w = frames.shape
        for it in range(schedule.iterations):
            ids = torch.randperm(t, generator=gen)[: schedule.batch_frames].tolist()
            box = _crop_box(self.prior, h, w, gen)
            y, x, ch, cw = box
            noise = _noise_crop(self.noise, box, self.padded)
            out = sample(self.prior, inr[ids, :, y:y + ch, x:x + cw], noise, self.settings,
                         self.scheduler)
            loss = training_loss(out, frames[ids, :, y:y + ch, x:x + cw])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if report is not None:
                report(it + 1, schedule.iterations, "adapter")

    @torch.no_grad()
    def _quantise(self, bs, targets, frames, inr) -> AdapterPayload:
        floats = [b.detach().clone() for b in bs]
        codes = []
        for b, f in zip(bs, floats, strict=True):
            best = None
            for code in _STEP_CODES:
                step = adapters.step_of(code)
                b.copy_(torch.round(f / step) * step)
                cost = self.evaluate(frames, inr).score
                if best is None or cost < best[0] - 1e-7:
                    best = (cost, code)
            code = best[1]
            b.copy_(torch.round(f / adapters.step_of(code)) * adapters.step_of(code))
            codes.append(code)
        qs = [torch.round(f / adapters.step_of(c)).to(torch.int32).cpu().numpy().ravel()
              for f, c in zip(floats, codes, strict=True)]
        tg = [AdapterTarget(t.index, t.kind, t.in_features, t.out_features, t.kh, t.kw, c)
              for t, c in zip(targets, codes, strict=True)]
        return AdapterPayload(RANK, RANK, self.seed, tg, qs)

    def decode_with(self, payload: AdapterPayload | None, frames: torch.Tensor,
                    inr: torch.Tensor, count: int = PROBE_FRAMES
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``count`` frames of ``inr`` (the sampler choice's probe frames by default) decoded
        with ``payload`` loaded (None: the plain prior), as delivered, and the matching
        frames of ``frames``. The UNet is left without adapters."""
        if payload is not None:
            adapters.load_payload(self.prior.unet, payload)
        try:
            return self._decode(frames, inr, count)
        finally:
            if payload is not None:
                adapters.detach(self.prior.unet)

    def evaluate_with(self, payload: AdapterPayload | None, frames: torch.Tensor,
                      inr: torch.Tensor) -> Judgement:
        """The keep-or-drop judgement of ``decode_with(payload, frames, inr)``: its score is
        the adapters' own ``training_loss``, not ``dp_score``. At equal bytes ``dp_score``
        turned down adapters that improved ST-LPIPS by 4-10 % (its distortion term charges
        the detail an adapter adds); the training loss, with the keep margin, told the
        adapters that helped from those that hurt in all twelve segments measured
        (docs/dinr.md, "Keeping an adapter")."""
        out, ref = self.decode_with(payload, frames, inr)
        return Judgement(float(training_loss(out, ref)), psnr(out, ref))
