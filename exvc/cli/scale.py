"""The one video filter exvc supports, ``-vf scale=W:H``, and the output frame size it gives.

A negative side keeps the input's aspect ratio: ``-1`` exactly, ``-n`` rounded to a multiple of
n (``-2`` for 4:2:0 encoders); ``0`` keeps that side of the input, as in ffmpeg's scale filter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .values import BadValue

ONLY_SCALE = "only -vf scale=W:H is supported"


@dataclass(frozen=True)
class ScaleSpec:
    width: int
    height: int


def parse_scale_filter(text: str) -> ScaleSpec:
    """``scale=W:H``, ``scale=w=W:h=H`` or ``scale=WxH``; anything else is refused."""
    name, sep, args = text.strip().partition("=")
    if name.strip() != "scale" or not sep or "," in args or ";" in args:
        raise BadValue(ONLY_SCALE)
    m = re.fullmatch(r"(-?\d+)x(-?\d+)", args.strip())
    parts = [m.group(1), m.group(2)] if m else args.split(":")
    values: dict[str, str] = {}
    for i, part in enumerate(parts):
        key, eq, value = part.partition("=")
        if eq:
            key = {"width": "w", "height": "h"}.get(key.strip(), key.strip())
        else:
            key, value = ("w", "h")[i] if i < 2 else "", part
        if key not in ("w", "h") or key in values:
            raise BadValue(ONLY_SCALE)
        values[key] = value.strip()
    if set(values) != {"w", "h"}:
        raise BadValue(ONLY_SCALE)
    try:
        width, height = int(values["w"]), int(values["h"])
    except ValueError:
        raise BadValue(ONLY_SCALE + " (W and H as integers; -1/-2 keep the aspect)") from None
    return ScaleSpec(width, height)


def resolve_scale(spec: ScaleSpec, in_w: int, in_h: int) -> tuple[int, int]:
    """Output (width, height) of ``spec`` applied to an ``in_w`` x ``in_h`` picture."""
    w, h = spec.width, spec.height
    w = in_w if w == 0 else w
    h = in_h if h == 0 else h
    if w < 0 and h < 0:
        return in_w, in_h
    if w < 0:
        w = max(1, round(h * in_w / (in_h * -w))) * -w
    elif h < 0:
        h = max(1, round(w * in_h / (in_w * -h))) * -h
    return w, h
