"""The dinr encoder's distortion-perception score: how it compares candidate decodings.

MSE and gradient losses prefer blur, because their optimum is the conditional mean. The dinr
encoder makes choices at equal bytes: how strongly the prior rewrites the INR frame and which
quantiser step each adapter layer gets. Those choices should prefer outputs that look like the
source. (Whether an adapter earns its bytes was judged by this score too, until a study
showed it turning down adapters that helped: ``exvc.encode.adapter_coder`` judges that by
the adapters' training loss, docs/dinr.md "Keeping an adapter".) The score adds two terms,
both computed over a three-level Laplacian pyramid:

- **Perception: band-energy mismatch.** ``|log((E_out + c) / (E_ref + c))|``, where ``E`` is
  the mean absolute band value on 8×8 tiles. Missing detail (blur) costs, and so does invented
  detail. Detail that is present but not at the exact pixel costs little.
- **Distortion: normalised Laplacian distance.** ``|L_out − L_ref|`` is divided by the local
  amplitude of ``L_ref``, in the spirit of NLPD (Laparra et al., 2016). An error counts for more
  where the source is flat than where it is textured.

``DISTORTION_WEIGHT`` balances the two. It was set from the measurements in docs/dinr.md
("Choosing the sampler strength"), which compare the score's choices with ST-LPIPS. A weight
of 2, suggested by a held-out clip, was benchmarked and rejected ("How far the score can be
trusted"). The benchmark's metric itself is never used by the encoder.

The score trades fidelity for looks, and at the lowest rates it traded too much: an adapter
that won on the score cost 1.5 dB at carphone 0.005 bpp. So every choice also has a fidelity
floor (``psnr_floor``): a candidate may not decode more than ``MAX_PSNR_DROP`` dB (RGB PSNR,
probe frames) below the condition frames it starts from. Where the condition is already
sharp the floor tightens, to ``SHARP_DROP`` dB from ``SHARP_FROM`` dB up: there a stronger
prior won on the score and on ST-LPIPS by costing 0.6 dB (carphone 0.05 bpp), and at those
rates a viewer weighs fidelity against a standard codec's (docs/dinr.md, "A fidelity floor").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from exvc.media.quality import psnr

LEVELS = 3
TILE = 8
ENERGY_FLOOR = 0.004  # c above: about one 8-bit level, so flat tiles do not dominate
AMPLITUDE_FLOOR = 0.01
DISTORTION_WEIGHT = 0.5
MAX_PSNR_DROP = 1.5  # dB below the condition; 0.5 dB short of what dinr once could lose
LOOSE_UNTIL = 30.0  # dB of the condition up to which MAX_PSNR_DROP holds
SHARP_FROM = 33.0  # dB of the condition from which SHARP_DROP holds (linear in between)
SHARP_DROP = 0.25  # dB: issue 21's 0.3 dB bar less a margin for probe frames vs the clip


@dataclass(frozen=True)
class Judgement:
    """How one candidate decoding compares with the source."""

    score: float  # dp_score, lower is better
    psnr: float  # RGB PSNR in dB (inf when identical)


def _bands(x: torch.Tensor) -> list[torch.Tensor]:
    bands = []
    for _ in range(LEVELS):
        if min(x.shape[-2:]) < 2:
            break
        low = F.avg_pool2d(x, 2, ceil_mode=True)
        up = F.interpolate(low, size=x.shape[-2:], mode="bilinear", align_corners=False)
        bands.append(x - up)
        x = low
    return bands


def _energy(lo: torch.Tensor, lr: torch.Tensor) -> torch.Tensor:
    tile = min(TILE, *lo.shape[-2:])
    eo = F.avg_pool2d(lo.abs(), tile, ceil_mode=True)
    er = F.avg_pool2d(lr.abs(), tile, ceil_mode=True)
    return torch.log((eo + ENERGY_FLOOR) / (er + ENERGY_FLOOR)).abs().mean()


def energy_mismatch(out: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """The perception term alone, differentiable (the adapters train with it)."""
    return sum(_energy(lo, lr) for lo, lr in zip(_bands(out), _bands(ref), strict=True))


def dp_score(out: torch.Tensor, ref: torch.Tensor) -> float:
    """Distortion-perception score of ``out`` against ``ref`` (B, 3, H, W in [0, 1]); lower
    is better. Only comparisons between candidates for the same ``ref`` are meaningful."""
    energy = distortion = 0.0
    with torch.no_grad():
        for lo, lr in zip(_bands(out.float()), _bands(ref.float()), strict=True):
            energy += float(_energy(lo, lr))
            amp = F.avg_pool2d(lr.abs(), 5, 1, 2, count_include_pad=False)
            distortion += float(((lo - lr).abs() / (AMPLITUDE_FLOOR + amp)).mean())
    return energy + DISTORTION_WEIGHT * distortion


def judge(out: torch.Tensor, ref: torch.Tensor) -> Judgement:
    """``dp_score`` and RGB ``psnr`` (``exvc.media.quality``, over all frames) of ``out``
    against ``ref``."""
    return Judgement(dp_score(out, ref), psnr(out, ref))


def psnr_floor(condition_psnr: float) -> float:
    """The lowest PSNR a choice may decode at when the condition's own frames decode at
    ``condition_psnr`` dB: ``MAX_PSNR_DROP`` below up to ``LOOSE_UNTIL`` dB, ``SHARP_DROP``
    below from ``SHARP_FROM`` dB, linear in between."""
    t = min(max((condition_psnr - LOOSE_UNTIL) / (SHARP_FROM - LOOSE_UNTIL), 0.0), 1.0)
    return condition_psnr - (MAX_PSNR_DROP + t * (SHARP_DROP - MAX_PSNR_DROP))


def as_delivered(frames: torch.Tensor) -> torch.Tensor:
    """``frames`` clamped and rounded to 8 bits, as the decoder will deliver them."""
    return torch.round(frames.clamp(0, 1) * 255) / 255
