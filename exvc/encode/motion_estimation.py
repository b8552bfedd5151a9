"""Global motion and blend masks for the frames between a base's coded pictures.

For every frame between two anchors (the pictures the base codes) the encoder finds the warp
of each anchor that best predicts it, quantises it to the integer parameters of a MOTION
chunk (bitstream_spec.md section 15) and, per mask cell, whether the time blend of the two
warped anchors, the previous one alone or the next one alone predicts it best.

Estimation works on the source frames, downscaled to at most ``WORK_SIDE`` pixels: a phase
correlation gives the translation (robust to large pans, which gradient descent alone
misses), then L-BFGS refines it (and the affine terms) by minimising the warped anchor's
squared error under the decoder's warp geometry (``exvc.media.global_motion``; sampled
bilinearly here, bicubically by the decoder), so the parameters serve the prediction the
decoder makes. Quantisation is rate-aware: a frame takes
its predicted parameters (coded as zeros) wherever they predict it almost as well as its own.
docs/motion.md compares this with OpenCV's ECC and gives the measurements behind the
constants.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from exvc.bitstream.anchors import layout
from exvc.bitstream.container import chunk_size
from exvc.bitstream.motion import (
    AFFINE,
    MIN_CELL,
    PARAMS,
    TRANSLATION,
    FrameMotion,
    MotionPayload,
    mask_shape,
    padded,
    predict_next,
    predict_previous,
    write_motion,
)
from exvc.media.global_motion import BLEND, LINEAR, NEXT, PREVIOUS, predict, warp

WORK_SIDE = 160  # longest side of the frames motion is estimated on
LBFGS_STEPS = 30
PRECISIONS = (1, 2)  # half- and quarter-pixel parameters are tried
# A frame keeps its predicted (zero-cost) parameters while they give at most this much more
# squared error than its own.
ZERO_SLACK = 1.03
# A mask cell leaves the time blend only when one anchor alone has this share of its error.
MASK_GAIN = 0.7
# What the choice between motion variants assumes a base gains from more bytes: about 3 dB
# per doubling near these rates, so 4.3 dB per 100 % of the budget (docs/motion.md).
DB_PER_BUDGET = 4.3


@dataclass(frozen=True)
class MotionChoice:
    """A segment's motion: the payload, its bytes, and what it measured on the source."""

    payload: MotionPayload
    data: bytes
    psnr: float  # of the predicted frames between anchors, from source anchors

    @property
    def chunk_bytes(self) -> int:
        return chunk_size(len(self.data))


def gray_small(video: torch.Tensor) -> torch.Tensor:
    """(T, 1, h, w) luma-like frames with the longest side at most WORK_SIDE."""
    _, _, h, w = video.shape
    gray = video.float().mean(1, keepdim=True)
    scale = min(1.0, WORK_SIDE / max(h, w))
    if scale < 1:
        size = (max(8, round(h * scale)), max(8, round(w * scale)))
        gray = F.interpolate(gray, size=size, mode="area")
    return gray


def phase_shift(ref: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """(dx, dy) in pixels such that ``target(x) ~ ref(x + d)``: phase correlation of two
    (1, h, w) frames with a Hann window, to the nearest pixel."""
    h, w = ref.shape[-2:]
    window = (torch.hann_window(h, periodic=False)[:, None]
              * torch.hann_window(w, periodic=False)[None])
    a = torch.fft.rfft2((ref[0] - ref.mean()) * window)
    b = torch.fft.rfft2((target[0] - target.mean()) * window)
    cross = a.conj() * b
    corr = torch.fft.irfft2(cross / (cross.abs() + 1e-9), s=(h, w))
    dy, dx = divmod(int(torch.argmax(corr)), w)
    dy = dy - h if dy > h // 2 else dy
    dx = dx - w if dx > w // 2 else dx
    return -float(dx), -float(dy)


def _theta(v: torch.Tensor) -> torch.Tensor:
    """The affine_grid matrix of the 6 free values (tx, ty, a, b, c, d), normalised units."""
    tx, ty, a, b, c, d = v
    return torch.stack([torch.stack([1 + a, b, tx]), torch.stack([c, 1 + d, ty])])


def _warp_error(anchor: torch.Tensor, target: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    grid = F.affine_grid(_theta(v)[None].to(anchor.dtype), [1, *anchor.shape],
                         align_corners=False)
    out = F.grid_sample(anchor[None], grid, mode="bilinear", padding_mode="border",
                        align_corners=False)
    return ((out[0] - target) ** 2).mean()


def fit_warp(anchor: torch.Tensor, target: torch.Tensor, affine: bool) -> torch.Tensor:
    """Normalised (tx, ty, a, b, c, d) minimising the squared error of ``anchor`` (1, h, w)
    warped onto ``target``: phase correlation, then L-BFGS; never worse than its start."""
    h, w = anchor.shape[-2:]
    dx, dy = phase_shift(anchor, target)
    a64, t64 = anchor.double(), target.double()
    start = torch.tensor([2 * dx / w, 2 * dy / h, 0, 0, 0, 0], dtype=torch.float64)
    best = min((torch.zeros(6, dtype=torch.float64), start),
               key=lambda v: float(_warp_error(a64, t64, v)))
    free = torch.tensor([1.0] * 6 if affine else [1.0, 1, 0, 0, 0, 0], dtype=torch.float64)
    v = best.clone().requires_grad_(True)
    opt = torch.optim.LBFGS([v], lr=1, max_iter=LBFGS_STEPS, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = _warp_error(a64, t64, v * free)
        loss.backward()
        return loss

    opt.step(closure)
    found = (v * free).detach()
    if not torch.isfinite(found).all() or found.abs().max() > 1:
        return best
    return min((best, found), key=lambda x: float(_warp_error(a64, t64, x)))


def estimate_warps(video: torch.Tensor, anchors: Sequence[int], affine: bool
                   ) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """For each frame between anchors, in order: the normalised warp from its previous
    anchor and from its next (None after the last anchor)."""
    small = gray_small(video)
    out = []
    for b in layout(len(video), anchors):
        prev = fit_warp(small[b.previous], small[b.frame], affine)
        nxt = fit_warp(small[b.previous + b.gap], small[b.frame], affine) if b.has_next else None
        out.append((prev, nxt))
    return out


def _scales(precision: int, height: int, width: int) -> torch.Tensor:
    """Normalised value -> parameter unit, per parameter."""
    unit = 1 << precision
    sx, sy = unit * width / 2, unit * height / 2
    return torch.tensor([sx, sy, sx, sx, sy, sy], dtype=torch.float64)


def to_params(v: torch.Tensor, precision: int, height: int, width: int) -> list[int]:
    """Normalised (tx, ty, a, b, c, d) rounded to integer parameters of ``precision`` at the
    output size ``width`` x ``height``."""
    return [int(round(float(x))) for x in v * _scales(precision, height, width)]


def quantise(warps, small: torch.Tensor, anchors: Sequence[int], model: int, precision: int,
             height: int, width: int) -> list[FrameMotion]:
    """Integer parameters for ``warps`` (from :func:`estimate_warps`); a frame takes the
    bitstream's prediction instead wherever that costs at most ZERO_SLACK more error on the
    downscaled frames ``small``."""
    n = PARAMS[model]
    scale = _scales(precision, height, width)
    previous: dict[int, list[int]] = {}
    first = None
    out = []

    def pick(anchor: int, target: int, v: torch.Tensor, guess: list[int]) -> list[int]:
        own = to_params(v, precision, height, width)[:n]

        def err(p: list[int]) -> float:
            full = torch.tensor(p + [0] * (6 - n), dtype=torch.float64) / scale
            return float(_warp_error(small[anchor].double(), small[target].double(), full))

        return guess if err(guess) <= ZERO_SLACK * err(own) else own

    for b, (v_prev, v_next) in zip(layout(len(small), anchors), warps, strict=True):
        params = pick(b.previous, b.frame, v_prev, predict_previous(previous, b, first, n))
        previous[b.frame] = params
        first = params if b.offset == 1 else first
        following = None
        if b.has_next:
            following = pick(b.previous + b.gap, b.frame, v_next, predict_next(params, b))
        out.append(FrameMotion(padded(params), padded(following) if following else None))
    return out


def default_cell(height: int, width: int) -> int:
    """Mask cells of about an eighth of the shorter side, a multiple of MIN_CELL."""
    return min(248, MIN_CELL * max(1, round(min(height, width) / (8 * MIN_CELL))))


def choose_masks(decoded: torch.Tensor, video: torch.Tensor, anchors: Sequence[int],
                 motions: list[FrameMotion], precision: int, cell: int) -> list[FrameMotion]:
    """``motions`` with a mask per frame that has a next anchor: per cell, the previous or
    next warped anchor alone where it has under MASK_GAIN of the time blend's error.
    ``decoded``: the frames the decoder warps (T, 3, H, W; those at ``anchors`` are used)."""
    frames, _, h, w = video.shape
    rows, cols = mask_shape(cell, h, w)
    out = []
    for b, m in zip(layout(frames, anchors), motions, strict=True):
        if m.next is None:
            out.append(m)
            continue
        t = b.offset / b.gap
        before = warp(decoded[b.previous], m.previous, precision)
        after = warp(decoded[b.previous + b.gap], m.next, precision)
        errs = [_cell_sums(((x - video[b.frame]) ** 2).sum(0), cell, rows, cols)
                for x in (before + t * (after - before), before, after)]
        use_next = (errs[2] < MASK_GAIN * errs[0]) & (errs[2] < errs[1])
        use_prev = (errs[1] < MASK_GAIN * errs[0]) & ~use_next
        mask = np.full((rows, cols), BLEND, dtype=np.int64)
        mask[use_prev.numpy()] = PREVIOUS
        mask[use_next.numpy()] = NEXT
        out.append(FrameMotion(m.previous, m.next, mask))
    return out


def _cell_sums(err: torch.Tensor, cell: int, rows: int, cols: int) -> torch.Tensor:
    h, w = err.shape
    padded = F.pad(err[None, None], (0, cols * cell - w, 0, rows * cell - h))
    return F.avg_pool2d(padded, cell)[0, 0] * cell * cell


def prediction_psnr(decoded: torch.Tensor, video: torch.Tensor, anchors: Sequence[int],
                    motions: list[FrameMotion], precision: int) -> float:
    """PSNR (dB) of the frames between anchors as the decoder predicts them from
    ``decoded`` (T, 3, H, W; only the frames at ``anchors`` are used)."""
    total, count = 0.0, 0
    for b, m in zip(layout(len(video), anchors), motions, strict=True):
        following = decoded[b.previous + b.gap] if m.next is not None else None
        out = predict(decoded[b.previous], following, m, b.offset, b.gap, precision).clamp(0, 1)
        total += float(((out - video[b.frame]) ** 2).mean())
        count += 1
    return 10 * math.log10(1 / max(total / max(1, count), 1e-10))


def blend_motions(frames: int, anchors: Sequence[int]) -> list[FrameMotion]:
    """The motion of a plain time blend (no warp, no mask): what a base without MOTION does
    (up to where the blend happens: at the coded size, not the output size)."""
    return [FrameMotion((0,) * 6, (0,) * 6 if b.has_next else None)
            for b in layout(frames, anchors)]


def estimate_motion(video: torch.Tensor, anchors: Sequence[int], budget: int,
                    cache: dict | None = None) -> MotionChoice | None:
    """The motion worth its bytes for a segment whose base codes the frames ``anchors``
    (``exvc.bitstream.anchors``) within ``budget``
    bytes, judged on the source: each model (translation, affine), precision and mask
    variant is scored by the PSNR it adds to the frames between anchors, weighed against
    the share of the budget it takes from the base (DB_PER_BUDGET). None when none pays.
    ``cache`` keeps the estimated warps of a video between calls (per layout and model)."""
    frames, _, h, w = video.shape
    anchors = tuple(anchors)
    if len(anchors) >= frames:
        return None
    with torch.no_grad():
        video = video.float()
        small = gray_small(video)
    share = (frames - len(anchors)) / frames
    plain = prediction_psnr(video, video, anchors, blend_motions(frames, anchors), 0)
    best, best_value = None, 0.0
    cell = default_cell(h, w)
    cache = {} if cache is None else cache
    for model in (TRANSLATION, AFFINE):
        if (anchors, model) not in cache:
            cache[anchors, model] = estimate_warps(video, anchors, affine=model == AFFINE)
        warps = cache[anchors, model]
        for precision in PRECISIONS:
            with torch.no_grad():
                motions = quantise(warps, small, anchors, model, precision, h, w)
                variants = [(0, motions), (cell, choose_masks(video, video, anchors, motions,
                                                              precision, cell))]
                for c, ms in variants:
                    payload = MotionPayload(model, precision, LINEAR, c, tuple(ms))
                    data = write_motion(payload, frames, anchors, h, w)
                    gain = prediction_psnr(video, video, anchors, ms, precision) - plain
                    choice = MotionChoice(payload, data, plain + gain)
                    value = share * gain - DB_PER_BUDGET * choice.chunk_bytes / budget
                    if value > best_value:
                        best, best_value = choice, value
    return best
