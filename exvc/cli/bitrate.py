"""``-b`` values: bits per pixel (``0.02bpp``) or bits per second (``64k``, ``1.5M``, ``20000``).

The encoder's target is bits per pixel per frame; a bits-per-second rate becomes
``bits_per_s / (W * H * fps)`` with the *output* width, height and frame rate.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from .values import BadValue

# ffmpeg's av_strtod suffixes that make sense for a bitrate. 'k' and 'K' are both 1000; an
# 'i' after the prefix makes it binary (Ki = 1024); a final 'B' counts bytes (x 8).
_POWERS = {"": 0, "k": 1, "K": 1, "M": 2, "G": 3, "T": 4}
_BPS = re.compile(r"^([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)([kKMGT]?)(i?)(B?)$")
_BPP = re.compile(r"^(.*?)\s*bpp$", re.IGNORECASE)
_HINT = "expected bits/s such as 64k, 1.5M or 20000, or bits per pixel such as 0.02bpp"


@dataclass(frozen=True)
class RateSpec:
    """A parsed ``-b`` value: ``value`` in bits per pixel (``unit == "bpp"``) or bits/s."""

    value: float
    unit: str  # "bpp" or "bps"
    text: str

    @property
    def is_bpp(self) -> bool:
        return self.unit == "bpp"


def parse_rate(text: str) -> RateSpec:
    """Parse a ``-b`` value; raises ``BadValue`` for zero, negative or malformed rates."""
    raw = text.strip()
    m = _BPP.match(raw)
    if m:
        try:
            value = float(m.group(1))
        except ValueError:
            raise BadValue(_HINT) from None
        return RateSpec(_positive(value), "bpp", text)
    if raw.startswith("-"):
        raise BadValue("the rate must be greater than zero")
    m = _BPS.match(raw)
    if not m:
        if re.fullmatch(r"[0-9.]+m", raw):
            raise BadValue("'m' means milli in ffmpeg's syntax; write M for mega (1.5M)")
        raise BadValue(_HINT)
    number, prefix, binary, byte = m.groups()
    if binary and not prefix:
        raise BadValue(_HINT)
    scale = (1024.0 if binary else 1000.0) ** _POWERS[prefix]
    value = float(number) * scale * (8 if byte else 1)
    return RateSpec(_positive(value), "bps", text)


def _positive(value: float) -> float:
    if math.isnan(value) or value <= 0:
        raise BadValue("the rate must be greater than zero")
    if math.isinf(value):
        raise BadValue("the rate is too large")
    return value


def to_bpp(spec: RateSpec, width: int, height: int, fps: Fraction | float) -> float:
    """The target in bits per pixel per frame for a ``width`` x ``height`` output at ``fps``."""
    if spec.is_bpp:
        return spec.value
    if width <= 0 or height <= 0 or fps <= 0:
        raise ValueError(f"cannot convert a bitrate for a {width}x{height} output at {fps} fps")
    return spec.value / (width * height * float(fps))


def to_bits_per_second(spec: RateSpec, width: int, height: int, fps: Fraction | float) -> float:
    """The inverse of ``to_bpp``: what a video encoder's ``b`` option expects."""
    if not spec.is_bpp:
        return spec.value
    return spec.value * width * height * float(fps)


def parse_audio_rate(text: str) -> int:
    """``-b:a``: bits/s (``12k``, ``24000``), 500..512000 (Opus's range)."""
    rate = parse_rate(text)
    if rate.unit == "bpp":
        raise BadValue("-b:a takes bits/s such as 12k; bits per pixel are for video")
    bps = int(round(rate.value))
    if not 500 <= bps <= 512000:
        raise BadValue("an audio rate must be 500 to 512000 bits/s")
    return bps
