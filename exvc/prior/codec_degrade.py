"""Training conditions as the decoder sees them in exvc 2: photographs panned into short clips,
coded by the base codecs at low rates and reduced sizes, and rebuilt by the decoder's own
base path (``exvc.media.base_video``).

A pool of clips is made once before training, seeded and single-threaded so that the same
command gives the same pool: each clip is ``FRAMES`` crops of one photograph, moving a few
pixels a frame (the codec then codes inter pictures as it does for video), coded by a codec
drawn from those available (VVC, AV1, HEVC) at a quantiser drawn from its low-rate range, at
full, half or quarter size, and every ``frame_step``-th frame only. Training draws aligned
(clean, degraded) crops from the pool.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch

from exvc.bitstream.anchors import uniform
from exvc.bitstream.base import BASE_CODECS, pack, to_decoder
from exvc.media import base_codecs
from exvc.media.base_video import base_frames, to_pictures

FRAMES = 8
CLIP_SIZE = 128
# Quantisers of each codec's low-rate range: those the encoder lands on between 0.005 and
# 0.05 bpp on the development clips at the three sizes (docs/base.md).
QP_RANGE = {"vvc": (37, 57), "av1": (45, 63), "hevc": (30, 48)}
SCALES = (1, 2, 4)
STEPS = (1, 1, 2)  # a third of the clips code every other frame only
_CODEC_IDS = {name: code for code, name in BASE_CODECS.items()}


@dataclass
class CodedClip:
    clean: torch.Tensor  # (FRAMES, 3, S, S)
    degraded: torch.Tensor  # the same frames as the decoder rebuilds them
    label: str


def _pan(photo: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """FRAMES crops of CLIP_SIZE moving by a small random velocity."""
    _, h, w = photo.shape
    span = FRAMES - 1
    vy, vx = (float(v) for v in (torch.rand(2, generator=gen) * 6 - 3))
    room_y, room_x = h - CLIP_SIZE - abs(vy) * span, w - CLIP_SIZE - abs(vx) * span
    y0 = float(torch.rand((), generator=gen)) * max(0.0, room_y) + max(0.0, -vy * span)
    x0 = float(torch.rand((), generator=gen)) * max(0.0, room_x) + max(0.0, -vx * span)
    out = []
    for k in range(FRAMES):
        y = int(round(min(max(0.0, y0 + vy * k), h - CLIP_SIZE)))
        x = int(round(min(max(0.0, x0 + vx * k), w - CLIP_SIZE)))
        out.append(photo[:, y:y + CLIP_SIZE, x:x + CLIP_SIZE])
    return torch.stack(out)


def code_clip(clean: torch.Tensor, codec: str, qp: int, scale: int, step: int) -> torch.Tensor:
    """The frames a decoder rebuilds from ``clean`` coded as a base layer."""
    size = (CLIP_SIZE // scale, CLIP_SIZE // scale)
    pictures = to_pictures(clean[::step], size)
    fps = Fraction(25, step)
    stream = base_codecs.encode(codec, pictures, fps, base_codecs.RateSetting("qp", qp),
                                "medium", threads=1)
    code = _CODEC_IDS[codec]
    with torch.no_grad():
        return torch.stack(list(base_frames(codec, to_decoder(code, pack(code, stream)), size,
                                            len(clean), uniform(len(clean), step),
                                            clean.shape[-2:], 1)))


def make_pool(photos: list[list[torch.Tensor]], clips: int, gen: torch.Generator,
              on_clip=None) -> list[CodedClip]:
    """``clips`` coded clips from ``photos`` (each a pyramid of levels, (1, 3, H, W))."""
    # VVC, the default base, half the time when it is there
    codecs = [c for c in ("vvc", "vvc", "av1", "hevc") if base_codecs.available(c)]
    if not codecs:
        raise RuntimeError("no base codec can encode here")
    pool = []
    for number in range(clips):
        levels = photos[int(torch.randint(len(photos), (), generator=gen))]
        fitting = [lv for lv in levels if min(lv.shape[-2:]) >= CLIP_SIZE + 24]
        level = fitting[int(torch.randint(len(fitting), (), generator=gen))][0]
        clean = _pan(level, gen)
        codec = codecs[int(torch.randint(len(codecs), (), generator=gen))]
        lo, hi = QP_RANGE[codec]
        qp = int(torch.randint(lo, hi + 1, (), generator=gen))
        scale = SCALES[int(torch.randint(len(SCALES), (), generator=gen))]
        step = STEPS[int(torch.randint(len(STEPS), (), generator=gen))]
        degraded = code_clip(clean, codec, qp, scale, step)
        pool.append(CodedClip(clean, degraded, f"{codec} qp {qp} 1/{scale} step {step}"))
        if on_clip is not None:
            on_clip(number + 1, clips)
    return pool


def pool_batch(pool: list[CodedClip], batch: int, patch: int, gen: torch.Generator
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Aligned random crops (clean, degraded), each (batch, 3, patch, patch)."""
    clean = torch.empty(batch, 3, patch, patch)
    degraded = torch.empty_like(clean)
    for i in range(batch):
        clip = pool[int(torch.randint(len(pool), (), generator=gen))]
        k = int(torch.randint(FRAMES, (), generator=gen))
        y = int(torch.randint(CLIP_SIZE - patch + 1, (), generator=gen))
        x = int(torch.randint(CLIP_SIZE - patch + 1, (), generator=gen))
        a = clip.clean[k, :, y:y + patch, x:x + patch]
        b = clip.degraded[k, :, y:y + patch, x:x + patch]
        if float(torch.rand((), generator=gen)) < 0.5:
            a, b = a.flip(-1), b.flip(-1)
        clean[i], degraded[i] = a, b
    return clean, degraded


def pool_stats(pool: list[CodedClip]) -> dict[str, float]:
    """The pool's mix, for the training record."""
    mse = [float(torch.mean((c.clean - c.degraded) ** 2)) for c in pool]
    return {"clips": len(pool), "mean_psnr_db": round(float(np.mean(
        [10 * np.log10(1 / max(m, 1e-10)) for m in mse])), 3)}
