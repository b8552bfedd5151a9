"""RGB <-> yuv420p for the anchors, done the way exvc's own reader and writer do it.

Every codec in the benchmark is scored in RGB against the same RGB source frames. The
conventional anchors are fed yuv420p made from those frames with swscale (BT.601 limited range,
bicubic chroma, accurate rounding), and their decodes are turned back into RGB with exvc's
``frame_to_rgb``, so the colour round trip costs them what it costs any 8-bit 4:2:0 file.
"""

from __future__ import annotations

from collections.abc import Sequence

import av
import numpy as np
from av.video.reformatter import Interpolation

from exvc.media.reader import frame_to_rgb

__all__ = ["frame_to_rgb", "to_uint8", "to_yuv420p", "yuv420p_bytes"]


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """Float [0, 1] (3, H, W) -> uint8, rounded."""
    return np.rint(np.clip(frame, 0.0, 1.0) * 255.0).astype(np.uint8)


def to_yuv420p(frames: Sequence[np.ndarray]) -> list[av.VideoFrame]:
    """RGB float frames (3, H, W) -> yuv420p VideoFrames (even sizes only, as 4:2:0 needs)."""
    out = []
    for frame in frames:
        rgb = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(to_uint8(frame).transpose(1, 2, 0)), format="rgb24")
        out.append(rgb.reformat(format="yuv420p",
                                interpolation=Interpolation.BICUBIC | Interpolation.ACCURATE_RND))
    return out


def yuv420p_bytes(frame: av.VideoFrame) -> bytes:
    """The frame as packed planar yuv420p, as ffmpeg's rawvideo demuxer reads it."""
    return frame.to_ndarray(format="yuv420p").tobytes()
