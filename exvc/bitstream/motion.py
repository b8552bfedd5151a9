"""MOTION payload: how the frames between a base's coded pictures are predicted (format 1.5).

Layout (bitstream_spec.md section 15):

    model     u8      1 = translation, 2 = affine
    precision u8      0..3: parameters are in 1 / 2^precision pixel
    blend     u8      0: the two warped anchors weighed linearly in time; 1: the nearer one
    cell      u8      0: no mask; 8..255: side in pixels of the mask's cells
    tensors   rest    entropy-coded (section 7): the residuals of the warp parameters from
                      the previous anchor, then from the next anchor, then the masks

Parameters are predicted from the ones before them, assuming constant velocity, so steady
camera motion codes to zeros: a frame's warp from its previous anchor is the one of the frame
before scaled by the time elapsed, and its warp from the next anchor is the previous one
turned round (``predict_previous``, ``predict_next``). Prediction is integer arithmetic, so
every decoder agrees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from exvc.bitstream.anchors import Between, layout
from exvc.bitstream.bytesio import ByteReader, ByteWriter, DinrError
from exvc.bitstream.entropy import TableBudget, decode_symbols, encode_symbols

TRANSLATION, AFFINE = 1, 2
PARAMS = {TRANSLATION: 2, AFFINE: 6}
MASK_VALUES = 3  # 0 blend by time, 1 previous anchor, 2 next anchor (exvc.media.global_motion)
MAX_PRECISION = 3
MIN_CELL = 8
MAX_PARAM = 1 << 15  # |parameter| in the payload's unit
MAX_MASK_CELLS = 1 << 20  # mask values in one MOTION chunk


@dataclass(frozen=True)
class FrameMotion:
    """How one frame between anchors is predicted: the 6 parameters (tx, ty, a, b, c, d) of
    the warp from its previous anchor and from its next (None after the last anchor), in
    the payload's unit, and its (rows, cols) mask, or None to blend by time everywhere."""

    previous: tuple[int, ...]
    next: tuple[int, ...] | None
    mask: np.ndarray | None = None


@dataclass(frozen=True)
class MotionPayload:
    model: int  # TRANSLATION or AFFINE
    precision: int  # parameters in 1 / 2^precision pixel
    blend: int  # 0 linear in time, 1 the nearer anchor
    cell: int  # 0: no mask
    motions: tuple[FrameMotion, ...]  # the frames between anchors, in order


def between_frames(frames: int, anchors: Sequence[int]) -> tuple[int, int]:
    """(frames between anchors, how many of them have a next anchor) in a segment."""
    between = layout(frames, anchors)
    return len(between), sum(b.has_next for b in between)


def mask_shape(cell: int, height: int, width: int) -> tuple[int, int]:
    """(rows, cols) of a mask of ``cell``-pixel cells over a ``width`` x ``height`` frame."""
    return -(-height // cell), -(-width // cell)


def rdiv(n: int, d: int) -> int:
    """``n / d`` rounded to the nearest integer, halves up (``d`` > 0)."""
    return (2 * n + d) // (2 * d)


def predict_previous(previous: dict[int, list[int]], frame: Between, first: list[int] | None,
                     n: int) -> list[int]:
    """The prediction of the warp of ``frame`` from its previous anchor: the warp of the
    frame before scaled by the time elapsed, or, one frame after an anchor, the warp of the
    latest frame that was one after an anchor (``first``; zeros before any)."""
    if frame.offset >= 2:
        return [rdiv(v * frame.offset, frame.offset - 1) for v in previous[frame.frame - 1]]
    return list(first) if first is not None else [0] * n


def predict_next(params: list[int], frame: Between) -> list[int]:
    """The prediction of a warp from the next anchor: the previous one's, reversed and
    scaled to the time left."""
    return [rdiv(-v * (frame.gap - frame.offset), frame.offset) for v in params]


def write_motion(p: MotionPayload, frames: int, anchors: Sequence[int], height: int,
                 width: int) -> bytes:
    between = layout(frames, anchors)
    if (p.model not in PARAMS or not 0 <= p.precision <= MAX_PRECISION
            or p.blend not in (0, 1) or not (p.cell == 0 or MIN_CELL <= p.cell <= 255)):
        raise ValueError(f"bad motion model {p.model}, precision {p.precision}, blend "
                         f"{p.blend} or cell {p.cell}")
    if len(p.motions) != len(between) or not between:
        raise ValueError(f"{len(p.motions)} motions for {len(between)} frames between anchors")
    n = PARAMS[p.model]
    shape = mask_shape(p.cell, height, width) if p.cell else None
    previous: dict[int, list[int]] = {}
    first = None
    res_prev, res_next, masks = [], [], []
    for b, m in zip(between, p.motions, strict=True):
        params = list(m.previous[:n])
        if any(m.previous[n:]) or any(abs(v) > MAX_PARAM for v in params):
            raise ValueError(f"motion parameters {m.previous} do not fit model {p.model}")
        res_prev.append(np.subtract(params, predict_previous(previous, b, first, n)))
        previous[b.frame] = params
        first = params if b.offset == 1 else first
        if b.has_next:
            if m.next is None or any(m.next[n:]):
                raise ValueError("a frame before the last anchor needs a next warp")
            res_next.append(np.subtract(m.next[:n], predict_next(params, b)))
            if shape is not None:
                mask = np.asarray(m.mask, dtype=np.int64)
                if mask.shape != shape or mask.min() < 0 or mask.max() >= MASK_VALUES:
                    raise ValueError(f"mask of shape {mask.shape}, values outside 0..2")
                masks.append(mask)
    w = ByteWriter().u8(p.model).u8(p.precision).u8(p.blend).u8(p.cell)
    return w.getvalue() + encode_symbols(_tensors(res_prev, res_next, masks, n, shape))


def _tensors(res_prev, res_next, masks, n: int, shape) -> list[np.ndarray]:
    prev = np.asarray(res_prev, dtype=np.int64).reshape(-1, n)
    nxt = np.asarray(res_next, dtype=np.int64).reshape(-1, n)
    out = [prev[:, :2], nxt[:, :2]]
    if n == PARAMS[AFFINE]:
        out = [prev[:, :2], prev[:, 2:], nxt[:, :2], nxt[:, 2:]]
    if shape is not None:
        out.append(np.asarray(masks, dtype=np.int64).reshape(-1, *shape))
    return [np.ascontiguousarray(t).reshape(-1) for t in out]


def read_motion(data: bytes, frames: int, anchors: Sequence[int], height: int, width: int,
                tables: TableBudget | None = None) -> MotionPayload:
    """Parse the MOTION payload of a BASE of ``frames`` frames whose pictures are the frames
    ``anchors``, in a file of ``width`` x ``height`` frames; sizes are checked before
    anything is decoded."""
    between = layout(frames, anchors)
    if not between:
        raise DinrError("corrupt .dinr: motion for a base with no frame between its pictures")
    r = ByteReader(data, "motion")
    model, precision, blend, cell = r.u8(), r.u8(), r.u8(), r.u8()
    if model not in PARAMS:
        raise DinrError(f"this .dinr needs a newer exvc: unknown motion model {model}")
    if precision > MAX_PRECISION:
        raise DinrError(f"corrupt .dinr: motion precision {precision} (0..{MAX_PRECISION})")
    if blend > 1:
        raise DinrError(f"corrupt .dinr: motion blend rule {blend} (0 or 1)")
    if cell and not MIN_CELL <= cell <= 255:
        raise DinrError(f"corrupt .dinr: motion mask cell of {cell} pixels (0 or "
                        f"{MIN_CELL}..255)")
    n = PARAMS[model]
    total, with_next = len(between), sum(b.has_next for b in between)
    shape = mask_shape(cell, height, width) if cell else None
    cells = with_next * shape[0] * shape[1] if shape else 0
    if cells > MAX_MASK_CELLS:
        raise DinrError(f"corrupt .dinr: motion masks of {cells} cells (limit "
                        f"{MAX_MASK_CELLS})")
    sizes = [total * 2, with_next * 2]
    if model == AFFINE:
        sizes = [total * 2, total * 4, with_next * 2, with_next * 4]
    if shape:
        sizes.append(cells)
    tensors = decode_symbols(r.rest(), sizes, tables=tables)
    if model == AFFINE:
        prev = np.concatenate([tensors[0].reshape(-1, 2), tensors[1].reshape(-1, 4)], 1)
        nxt = np.concatenate([tensors[2].reshape(-1, 2), tensors[3].reshape(-1, 4)], 1)
    else:
        prev, nxt = tensors[0].reshape(-1, 2), tensors[1].reshape(-1, 2)
    masks = tensors[-1].reshape(-1, *shape) if shape else None
    if masks is not None and masks.size and (masks.min() < 0 or masks.max() >= MASK_VALUES):
        raise DinrError("corrupt .dinr: a motion mask value outside 0..2")
    previous: dict[int, list[int]] = {}
    first = None
    motions = []
    j = 0
    for b, residual in zip(between, prev.tolist(), strict=True):
        params = [p + int(v) for p, v in
                  zip(predict_previous(previous, b, first, n), residual, strict=True)]
        previous[b.frame] = params
        first = params if b.offset == 1 else first
        following = mask = None
        if b.has_next:
            following = [p + int(v) for p, v in
                         zip(predict_next(params, b), nxt[j].tolist(), strict=True)]
            mask = masks[j] if masks is not None else None
            j += 1
        if any(abs(v) > MAX_PARAM for v in params + (following or [])):
            raise DinrError(f"corrupt .dinr: a motion parameter beyond {MAX_PARAM}")
        motions.append(FrameMotion(padded(params), padded(following) if following else None,
                                   mask))
    return MotionPayload(model, precision, blend, cell, tuple(motions))


def padded(params: list[int]) -> tuple[int, ...]:
    """A model's parameters as the 6 of ``FrameMotion`` (the affine terms 0)."""
    return tuple(params) + (0,) * (6 - len(params))


def describe_motion(data: bytes) -> str:
    """``affine motion, 1/4 px, nearer anchor, mask of 16 px cells``: a MOTION chunk for
    listings, from its first bytes alone."""
    if len(data) < 4 or data[0] not in PARAMS:
        return "motion"
    model = "affine" if data[0] == AFFINE else "translation"
    text = f"{model} motion, 1/{1 << data[1]} px" if data[1] else f"{model} motion, 1 px"
    text += ", nearer anchor" if data[2] == 1 else ", blended in time"
    return text + (f", mask of {data[3]} px cells" if data[3] else "")
