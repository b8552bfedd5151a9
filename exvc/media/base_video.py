"""The base layer's pictures as exvc frames: colour conversion, size and frame rate.

The encoder turns RGB frames into 10-bit 4:2:0 pictures at the coded size and rate; the
decoder turns decoded pictures back into RGB frames at the output size and rate. Both sides
use the conversions defined here, which bitstream_spec.md section 13.3 makes normative:

- Y'CbCr is BT.601, limited range, whatever the source was (the RGB frames are already in the
  source's colour space; the base layer is internal). Chroma sits at the centre of each 2x2
  block of luma samples and the decoder interpolates it bilinearly; the encoder codes the
  chroma whose bilinear interpolation comes nearest the full-resolution chroma
  (``chroma_down``, not normative).
- Decoded pictures are brought to the output size by bicubic interpolation (a = -0.75,
  half-pixel centres, edges repeated: PyTorch's ``interpolate(mode="bicubic")``).
- Output frame ``i`` of a segment lies between the coded pictures of the anchors before and
  after it (every ``step``-th frame, or a listed layout: ``exvc.bitstream.anchors``); it is
  their linear blend by time, or the last picture when there is no next. With a MOTION
  chunk it is predicted from the two pictures at the output size, each warped by its
  global motion and blended by a mask (``exvc.media.global_motion``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from exvc.media.global_motion import Prediction

KR, KB = 0.299, 0.114
KG = 1.0 - KR - KB


def to_pictures(frames, size: tuple[int, int], depth: int = 10) -> np.ndarray:
    """RGB frames (T, 3, H, W) float in [0, 1] (a torch tensor) -> packed 4:2:0 pictures
    (T, h * 3 / 2, w) uint16 at ``size`` = (w, h), both even."""
    import torch

    w, h = size
    if w % 2 or h % 2:
        raise ValueError(f"4:2:0 pictures need an even size, got {w}x{h}")
    with torch.no_grad():
        x = resize_down(frames.float(), (h, w))
        r, g, b = x[:, 0], x[:, 1], x[:, 2]
        y = KR * r + KG * g + KB * b
        cb, cr = chroma_down(torch.stack([(b - y) / (2 * (1 - KB)),
                                          (r - y) / (2 * (1 - KR))], 1)).unbind(1)
        scale = 1 << (depth - 8)
        top = (1 << depth) - 1
        yq = torch.round((219 * y + 16) * scale).clamp(0, top)
        cbq = torch.round((224 * cb + 128) * scale).clamp(0, top)
        crq = torch.round((224 * cr + 128) * scale).clamp(0, top)
    t = x.shape[0]
    chroma = torch.stack([cbq, crq], 1).reshape(t, h // 2, w)
    return torch.cat([yq, chroma], 1).to(torch.int32).numpy().astype(np.uint16)


def chroma_down(chroma):
    """Full-resolution chroma (T, 2, h, w) -> (T, 2, h / 2, w / 2): the samples whose bilinear
    upsampling (the decoder's, bitstream_spec.md 13.3) is nearest ``chroma`` in least
    squares. A 2x2 average followed by that upsampling blurs twice; this pre-sharpens for
    the upsampling instead (carphone, VVC at QP 38: 32.59 dB / ST-LPIPS 0.0332 -> 32.88 /
    0.0293 for 0.2 % more bytes; docs/base.md, "Colour")."""
    x = _halve_last(chroma.float())
    return _halve_last(x.transpose(-1, -2)).transpose(-1, -2)


_TAPS = 10  # low-resolution neighbours on each side: the weights fall by 3 per neighbour,
# so the result is within 5e-5 of the exact least-squares one (a 10-bit chroma step: 1e-3)


def _halve_last(x):
    """The least-squares inverse of 1-D linear upsampling by 2 (half-pixel centres, edge
    samples repeated) along the last axis. That upsampling is the same as upsampling the
    half-sample symmetric extension of the signal, so the exact inverse of the finite
    problem is one fixed filter applied to the extended input."""
    import torch

    n = x.shape[-1]
    pad = 2 * _TAPS - 1
    idx = torch.arange(-pad, n + pad) % (2 * n)
    extended = x[..., torch.where(idx < n, idx, 2 * n - 1 - idx)]
    kernel = _inverse_filter()
    # every second window of the filter's width, weighted (3x faster than conv1d here)
    return extended.unfold(-1, kernel.numel(), 2) @ kernel


@lru_cache(maxsize=1)
def _inverse_filter():
    """The (4 * _TAPS) weights of one output sample: an interior row of the pseudo-inverse of
    PyTorch's linear upsampling (built by upsampling the identity, so the two agree)."""
    import torch
    import torch.nn.functional as F

    m = 4 * _TAPS  # low-resolution samples: the middle row is far from both edges
    eye = torch.eye(m, dtype=torch.float64)[None]
    up = F.interpolate(eye, size=2 * m, mode="linear", align_corners=False)[0].T
    row = torch.linalg.pinv(up)[m // 2]  # centred between full-resolution m - 1 and m
    return row[m - 2 * _TAPS + 1: m + 2 * _TAPS + 1].float()


def resize_down(frames, size: tuple[int, int]):
    """Frames (T, 3, H, W) at ``size`` = (h, w): area averaging for whole factors, else
    antialiased bilinear (the encoder's choice; not normative)."""
    import torch.nn.functional as F

    h, w = size
    H, W = frames.shape[-2:]
    if (h, w) == (H, W):
        return frames
    if H % h == 0 and W % w == 0:
        return F.interpolate(frames, size=(h, w), mode="area")
    return F.interpolate(frames, size=(h, w), mode="bilinear", antialias=True,
                         align_corners=False)


def to_rgb(picture: np.ndarray, depth: int):
    """One packed 4:2:0 picture (h * 3 / 2, w) of ``depth`` bits -> RGB (3, h, w) float32
    tensor, not clamped."""
    import torch
    import torch.nn.functional as F

    rows, w = picture.shape
    h = rows * 2 // 3
    p = torch.from_numpy(picture.astype(np.float32)) / (1 << (depth - 8))
    y = (p[:h] - 16) / 219
    chroma = p[h:].reshape(2, h // 2, w // 2)
    c = F.interpolate(((chroma - 128) / 224)[None], size=(h, w), mode="bilinear",
                      align_corners=False)[0]
    cb, cr = c[0], c[1]
    r = y + 2 * (1 - KR) * cr
    b = y + 2 * (1 - KB) * cb
    g = (y - KR * r - KB * b) / KG
    return torch.stack([r, g, b])


def to_output_size(frame, size: tuple[int, int]):
    """An RGB frame (3, h, w) brought to ``size`` = (H, W) by bicubic interpolation, clamped to
    [0, 1]."""
    import torch.nn.functional as F

    if tuple(frame.shape[-2:]) != tuple(size):
        frame = F.interpolate(frame[None], size=size, mode="bicubic", align_corners=False)[0]
    return frame.clamp(0, 1)


def expand_frames(pictures: Iterable, frames: int, anchors: Sequence[int]) -> Iterator:
    """The ``frames`` output frames of a segment from its coded pictures (at the frames
    ``anchors``), blending linearly between neighbours; holds two pictures at a time."""
    it = iter(pictures)
    prev = next(it)
    k = 0
    nxt = next(it, None)
    for i in range(frames):
        while nxt is not None and i >= anchors[k + 1]:
            prev, nxt, k = nxt, next(it, None), k + 1
        offset = i - anchors[k]
        if offset == 0 or nxt is None:
            yield prev
        else:
            w = offset / (anchors[k + 1] - anchors[k])
            yield prev + w * (nxt - prev)


def base_frames(codec: str, stream: bytes, coded: tuple[int, int], frames: int,
                anchors: Sequence[int], size: tuple[int, int], threads: int | None = None,
                motion: Prediction | None = None) -> Iterator:
    """The ``frames`` output frames (3, H, W) float tensors in [0, 1] at ``size`` = (H, W)
    of a decoder-ready base ``stream`` whose pictures are ``coded`` = (w, h), output frames
    ``anchors`` of the segment. ``motion``: how each frame between pictures is predicted from the
    pictures at the output size (``exvc.media.global_motion``, a MOTION chunk); without it,
    blended at the coded size. Raises ``BaseCodecError`` (lazily, while iterating) for
    a stream that does not decode to exactly that."""
    from exvc.media.base_codecs import decode

    count = len(anchors)
    pictures = (to_rgb(p, depth) for p, depth in decode(codec, stream, *coded, count, threads))
    if motion is not None:
        from exvc.media.global_motion import expand_with_motion

        at_size = (to_output_size(p, size) for p in pictures)
        for frame in expand_with_motion(at_size, frames, anchors, motion):
            yield frame.clamp(0, 1)
        return
    for frame in expand_frames(pictures, frames, anchors):
        yield to_output_size(frame, size)
