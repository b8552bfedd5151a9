"""Parsers for option values in ffmpeg's syntax: times, frame sizes, frame rates, counts.

Each raises ``BadValue`` saying what was expected; the argument walker adds the option name.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction


class BadValue(ValueError):
    """An option value that does not parse; ``str()`` is what was expected instead."""


# ffmpeg's frame size abbreviations (libavutil/parseutils.c), the commonly used ones.
SIZE_NAMES = {
    "ntsc": (720, 480), "pal": (720, 576), "qntsc": (352, 240), "qpal": (352, 288),
    "sntsc": (640, 480), "spal": (768, 576), "film": (352, 240), "ntsc-film": (352, 240),
    "sqcif": (128, 96), "qcif": (176, 144), "cif": (352, 288), "4cif": (704, 576),
    "16cif": (1408, 1152), "qqvga": (160, 120), "qvga": (320, 240), "vga": (640, 480),
    "svga": (800, 600), "xga": (1024, 768), "uxga": (1600, 1200), "hd480": (852, 480),
    "hd720": (1280, 720), "hd1080": (1920, 1080), "2k": (2048, 1080), "2kflat": (1998, 1080),
    "2kscope": (2048, 858), "4k": (4096, 2160), "4kflat": (3996, 2160),
    "4kscope": (4096, 1716), "uhd2160": (3840, 2160), "uhd4320": (7680, 4320),
}
# ffmpeg's frame rate abbreviations.
RATE_NAMES = {
    "ntsc": Fraction(30000, 1001), "pal": Fraction(25), "qntsc": Fraction(30000, 1001),
    "qpal": Fraction(25), "sntsc": Fraction(30000, 1001), "spal": Fraction(25),
    "film": Fraction(24), "ntsc-film": Fraction(24000, 1001),
}

_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")
_SECONDS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(s|ms|us)?$")
_TIME_HINT = "expected seconds (12.5, 500ms) or [HH:]MM:SS[.m], not negative"


def parse_time(text: str) -> float:
    """ffmpeg duration syntax: ``[HH:]MM:SS[.m...]`` or ``S[.m...][s|ms|us]``, in seconds."""
    text = text.strip()
    m = _CLOCK.match(text)
    if m:
        hours = int(m.group(1) or 0)
        minutes, seconds = int(m.group(2)), float(m.group(3))
        if seconds >= 60 or (m.group(1) is not None and minutes >= 60):
            raise BadValue(_TIME_HINT)
        return hours * 3600 + minutes * 60 + seconds
    m = _SECONDS.match(text)
    if m:
        scale = {"s": 1.0, None: 1.0, "ms": 1e-3, "us": 1e-6}[m.group(2)]
        return float(m.group(1)) * scale
    raise BadValue(_TIME_HINT)


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` or an ffmpeg size name (``qcif``, ``hd720``...) -> (width, height)."""
    key = text.strip().lower()
    if key in SIZE_NAMES:
        return SIZE_NAMES[key]
    m = re.fullmatch(r"(\d+)x(\d+)", key)
    if not m or int(m.group(1)) <= 0 or int(m.group(2)) <= 0:
        raise BadValue("expected a frame size WxH such as 176x144, or a name such as hd720")
    return int(m.group(1)), int(m.group(2))


def parse_frame_rate(text: str) -> Fraction:
    """``25``, ``30000/1001`` (or ``30000:1001``), ``29.97`` or ``ntsc``/``pal``/``film``.

    Decimal rates within 0.005 of an NTSC rate (k * 1000/1001) are taken as that exact
    rational, so ``29.97`` means 30000/1001 rather than 2997/100.
    """
    key = text.strip().lower()
    if key in RATE_NAMES:
        return RATE_NAMES[key]
    try:
        rate = Fraction(key.replace(":", "/"))
    except (ValueError, ZeroDivisionError):
        raise BadValue("expected a frame rate such as 25, 30000/1001, 29.97 or ntsc") from None
    if rate <= 0 or rate > 1000:
        raise BadValue("the frame rate must be greater than 0 and at most 1000")
    if "." in key and rate.denominator != 1:
        k = round(rate * Fraction(1001, 1000))
        ntsc = Fraction(k * 1000, 1001)
        if abs(rate - ntsc) < Fraction(5, 1000):
            return ntsc
    return rate


def parse_count(text: str) -> int:
    """A non-negative decimal integer (``-frames:v``, ``-seed``)."""
    if not re.fullmatch(r"\+?\d+", text.strip()):
        raise BadValue("expected a non-negative integer")
    return int(text)


def parse_refresh_threshold(text: str) -> float:
    """``-refresh_threshold``: a share from 0 (off) to 10, e.g. ``0.5``."""
    try:
        value = float(text.strip())
    except ValueError:
        raise BadValue("expected a number from 0 (off) to 10, e.g. 0.5") from None
    if not 0 <= value <= 10:
        raise BadValue("expected a number from 0 (off) to 10, e.g. 0.5")
    return value


BASE_CODECS = ("vvc", "av1", "hevc", "none")


def parse_base_codec(text: str) -> str:
    """``-base``: a base-layer codec, or ``none``."""
    name = text.strip().lower()
    if name not in BASE_CODECS:
        raise BadValue(f"expected one of {', '.join(BASE_CODECS)}")
    return name


def parse_threads(text: str) -> int:
    """``-threads``: a count, ``0`` or ``auto`` meaning "let the library choose" (0)."""
    if text.strip().lower() == "auto":
        return 0
    try:
        return parse_count(text)
    except BadValue:
        raise BadValue("expected a thread count (0 or auto = automatic)") from None


def parse_gop(text: str) -> int:
    """``-g``: frames per segment (GOP size), 1 .. 4096."""
    value = parse_count(text)
    if not 1 <= value <= 4096:
        raise BadValue("expected a frame count from 1 to 4096")
    return value


def parse_workers(text: str) -> int:
    """``-workers``: how many segments are coded at once (at least 1)."""
    value = parse_count(text)
    if value < 1:
        raise BadValue("expected a worker count of 1 or more")
    return value


def parse_hwaccel(text: str) -> str:
    """``-hwaccel``: auto, cpu or cuda (ffmpeg's ``none`` means cpu)."""
    name = text.strip().lower()
    from exvc.models.device import HWACCELS

    name = "cpu" if name == "none" else name
    if name not in HWACCELS:
        raise BadValue(f"expected one of {', '.join(HWACCELS)}")
    return name


def parse_metadata(text: str) -> tuple[str, str]:
    """``key=value``; an empty value removes the key (as in ffmpeg)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise BadValue("expected key=value")
    return key.strip(), value


def parse_crf(text: str) -> str:
    """``-crf``: a number handed to the video encoder as is."""
    try:
        value = float(text)
    except ValueError:
        raise BadValue("expected a number") from None
    if not math.isfinite(value) or value < 0:
        raise BadValue("expected a non-negative number")
    return text.strip()
