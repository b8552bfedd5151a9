"""Shared pytest fixtures. Each group is self-contained; media ones are prefixed ``media_``."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


# --- media: tiny synthetic clips written with PyAV directly (not with exvc's writer) --------

def _media_pattern(index: int, width: int, height: int):
    """A smooth RGB test frame, float64 (H, W, 3) in [0, 1], different for every index."""
    import numpy as np

    y, x = np.mgrid[0:height, 0:width]
    phase = 0.35 * index
    r = 0.5 + 0.4 * np.sin(2 * np.pi * x / max(width, 8) + phase)
    g = 0.5 + 0.4 * np.cos(2 * np.pi * y / max(height, 8) - phase)
    b = 0.5 + 0.4 * np.sin(2 * np.pi * (x + y) / max(width + height, 16) + 1.3 * phase)
    return np.stack([r, g, b], axis=-1)


def media_write_clip(path, *, frames: int = 8, size: tuple[int, int] = (64, 36),
                     rate: Fraction = Fraction(25), pix_fmt: str = "yuv420p",
                     codec: str = "ffv1", fmt: str | None = None,
                     options: dict | None = None, colorspace: int | None = None) -> str:
    """Encode ``frames`` pattern frames to ``path`` in ``pix_fmt`` with ``codec``."""
    import av
    import numpy as np

    w, h = size
    with av.open(str(path), "w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, options=options or {})
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        if colorspace is not None:
            stream.codec_context.colorspace = colorspace
        for i in range(frames):
            rgb = np.rint(_media_pattern(i, w, h) * 65535).astype("<u2")
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le")
            frame = frame.reformat(format=pix_fmt, dst_colorspace=colorspace)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return str(path)


def _media_frames(n: int, width: int, height: int, quantise: int | None = 255) -> list:
    """The first ``n`` pattern frames as exvc frames: float32 (3, H, W), on the 8-bit grid."""
    import numpy as np

    out = []
    for i in range(n):
        f = _media_pattern(i, width, height).transpose(2, 0, 1)
        if quantise:
            f = np.rint(f * quantise) / quantise
        out.append(f.astype(np.float32))
    return out


@pytest.fixture(scope="session")
def media_frames():
    """Factory: ``media_frames(n, w, h, quantise=255)`` -> list of float32 (3, H, W) frames,
    the same pictures ``media_clip`` encodes."""
    return _media_frames


@pytest.fixture(scope="session")
def media_sample() -> Path:
    """The committed real clip (Big Buck Bunny excerpt)."""
    return REPO / "samples" / "bbb_192x108_48f.mp4"


@pytest.fixture
def media_clip(tmp_path):
    """Factory: ``media_clip("name.mkv", frames=..., pix_fmt=...)`` -> path string."""

    def make(name: str, **kwargs) -> str:
        return media_write_clip(tmp_path / name, **kwargs)

    return make
