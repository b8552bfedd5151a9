"""Plain descriptions of a video stream, shared by the media layer, the codec and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from fractions import Fraction


@dataclass(frozen=True)
class ColourInfo:
    """Colour description with ITU-T H.273 code points (the numbers FFmpeg and HEVC use).

    2 means "unspecified" for matrix, primaries and transfer.
    """

    matrix: int = 2
    primaries: int = 2
    transfer: int = 2
    full_range: bool = False


@dataclass(frozen=True)
class VideoInfo:
    """What a consumer must know about a stream before the first frame arrives.

    ``frames`` is the number of frames that will be delivered when it is known in advance
    (after ``-ss``/``-t``/``-frames:v``), else ``None`` (a pipe, say).
    ``pix_fmt`` is the source's FFmpeg pixel format name; frames themselves always travel as
    float32 RGB in [0, 1], shape (3, H, W), whatever the source depth or chroma layout.
    """

    width: int
    height: int
    fps: Fraction
    pix_fmt: str = "yuv420p"
    bit_depth: int = 8
    colour: ColourInfo = field(default_factory=ColourInfo)
    frames: int | None = None

    def with_(self, **changes) -> VideoInfo:
        return replace(self, **changes)
