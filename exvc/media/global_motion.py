"""Frames between a base's coded pictures, predicted by global motion and a blend mask.

A base that codes some frames of a segment (every ``step``-th, or a list: the anchors,
``exvc.bitstream.anchors``) leaves the frames between them to the decoder. Without motion
they are linear blends of the two nearest anchors, which ghosts wherever the camera moves.
With a MOTION chunk (bitstream_spec.md section 15) each frame between anchors is predicted
from its previous and next anchor, each warped by a transmitted global motion (an integer
translation or affine model), and blended by a per-cell weight where one anchor explains the
picture better than the other (foreground, disocclusion).

Everything here is the normative decoder side (section 15.3); the encoder's estimation is
``exvc.encode.motion_estimation``.

Parameters are integers in units of ``1 / 2^precision`` pixel (precision 0 to 3: whole to
eighth pixels, a field of the chunk), measured at the output size: ``(tx, ty)`` is
the shift at the centre of the frame, and ``(a, b, c, d)`` the shift that the linear part
adds at the right edge (``a``, ``c``: x and y per x) and at the bottom edge (``b``, ``d``).
A predicted pixel at ``(X, Y)`` (pixel centre minus frame centre) samples its anchor at
``X + (tx + a X / (W/2) + b Y / (H/2)) / u`` and ``Y + (ty + c X / (W/2) + d Y / (H/2)) / u``,
``u = 2^precision``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import numpy as np

MAX_PRECISION = 3  # parameters are in 1 / 2^precision pixel, precision 0..3
# Mask cells: 0 weighs the two warped anchors by the chunk's blend rule, 1 takes the previous,
# 2 the next.
BLEND, PREVIOUS, NEXT = 0, 1, 2
# Blend rules: linear in time, or the nearer anchor (both halves at the midpoint). Averaging
# two warped anchors that do not align exactly blurs; the nearer one alone stays sharp.
LINEAR, NEAREST = 0, 1


class Motion(Protocol):
    """How one frame between anchors is predicted (``exvc.bitstream.motion.FrameMotion``):
    ``previous``/``next``, the 6 parameters (tx, ty, a, b, c, d) of the warp from each anchor
    (``next`` None after the last anchor); ``mask``, (rows, cols) cell values or None to
    blend everywhere by time."""

    previous: Sequence[int]
    next: Sequence[int] | None
    mask: np.ndarray | None


class Prediction(Protocol):
    """A segment's MOTION payload (``exvc.bitstream.motion.MotionPayload``): one Motion per
    frame between anchors, the parameters' precision and the blend rule."""

    motions: Sequence[Motion]
    precision: int
    blend: int


def theta(params: Sequence[int], height: int, width: int, precision: int):
    """The (2, 3) float64 matrix of PyTorch's ``affine_grid`` (normalised coordinates,
    ``align_corners=False``) for integer ``params`` (tx, ty, a, b, c, d)."""
    import torch

    tx, ty, a, b, c, d = (float(v) for v in params)
    unit = 1 << precision
    sx, sy = unit * width / 2, unit * height / 2
    return torch.tensor([[1 + a / sx, b / sx, tx / sx], [c / sy, 1 + d / sy, ty / sy]],
                        dtype=torch.float64)


def warp(frame, params: Sequence[int], precision: int):
    """``frame`` (3, H, W) sampled at the positions ``params`` maps each pixel to, by bicubic
    interpolation (a = -0.75; bilinear sampling blurred enough to lose to the time blend on
    ST-LPIPS), edges repeated."""
    import torch
    import torch.nn.functional as F

    if not any(params):
        return frame
    h, w = frame.shape[-2:]
    grid = F.affine_grid(theta(params, h, w, precision)[None].to(frame.dtype), [1, 3, h, w],
                         align_corners=False)
    return F.grid_sample(frame[None], grid.to(frame.dtype), mode="bicubic",
                         padding_mode="border", align_corners=False)[0].to(torch.float32)


def time_weight(offset: int, step: int, blend: int) -> float:
    """The next anchor's weight ``offset`` frames after the previous one, ``step`` apart
    (the gap between the two anchors)."""
    t = offset / step
    if blend == NEAREST:
        return 0.0 if 2 * offset < step else 1.0 if 2 * offset > step else 0.5
    return t


def next_weight(mask: np.ndarray | None, offset: int, step: int, height: int, width: int,
                blend: int = LINEAR):
    """The weight of the next anchor at every pixel (1, H, W): ``time_weight`` where the
    mask blends (everywhere without a mask), 0 or 1 where it picks an anchor; cell weights are
    brought to the frame by bilinear interpolation with half-pixel centres."""
    import torch
    import torch.nn.functional as F

    t = time_weight(offset, step, blend)
    if mask is None:
        return torch.full((1, height, width), t)
    cells = torch.from_numpy(np.asarray(mask, dtype=np.int64))
    weights = torch.where(cells == PREVIOUS, 0.0, torch.where(cells == NEXT, 1.0, t))
    weights = weights.to(torch.float32)[None, None]
    return F.interpolate(weights, size=(height, width), mode="bilinear",
                         align_corners=False)[0]


def predict(previous, following, motion: Motion, offset: int, step: int, precision: int,
            blend: int = LINEAR):
    """Frame ``offset`` (1 .. step - 1) after ``previous`` (3, H, W), ``following`` being the
    anchor ``step`` frames after it (None after the last anchor); not clamped."""
    before = warp(previous, motion.previous, precision)
    if following is None or motion.next is None:
        return before
    after = warp(following, motion.next, precision)
    w = next_weight(motion.mask, offset, step, *previous.shape[-2:], blend)
    return before + w * (after - before)


def expand_with_motion(anchors: Iterable, frames: int, anchor_frames: Sequence[int],
                       motion: Prediction) -> Iterator:
    """The ``frames`` frames of a segment from its anchors (output size, at the frames
    ``anchor_frames``), ``motion`` predicting each frame that is not an anchor; holds two
    anchors at a time."""
    it = iter(anchors)
    prev = next(it)
    nxt = next(it, None)
    k = 0
    between = iter(motion.motions)
    for i in range(frames):
        while nxt is not None and i >= anchor_frames[k + 1]:
            prev, nxt, k = nxt, next(it, None), k + 1
        offset = i - anchor_frames[k]
        if offset == 0:
            yield prev
        else:
            gap = anchor_frames[k + 1] - anchor_frames[k] if nxt is not None else 0
            yield predict(prev, nxt, next(between), offset, gap, motion.precision,
                          motion.blend)
