"""``-vf``: a plain ``scale=W:H`` that exvc resizes itself, or any libavfilter graph.

A plain scale keeps exvc's own resize (area filtering when shrinking, so no aliasing, and
bicubic otherwise). A negative side keeps the input's aspect ratio: ``-1`` exactly, ``-n``
rounded to a multiple of n (``-2`` for 4:2:0 encoders); ``0`` keeps that side of the input,
as in ffmpeg's scale filter. Every other graph (expressions such as ``iw/2``, ``flags=``,
chains, labels) runs through libavfilter (exvc.media.filter_graph).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from exvc.media.filter_syntax import FilterSyntaxError, parse_filtergraph, plain_scale

from .values import BadValue

ONLY_SCALE = "only -vf scale=W:H is supported"


@dataclass(frozen=True)
class ScaleSpec:
    width: int
    height: int


@dataclass(frozen=True)
class VideoFilterSpec:
    """The ``-vf`` text; ``scale`` when it is a plain scale=W:H that exvc does itself."""

    text: str
    scale: ScaleSpec | None = None


def parse_video_filter(text: str) -> VideoFilterSpec:
    """``-vf``/``-filter:v``: its syntax is checked now, its filters when the graph is built."""
    try:
        chains = parse_filtergraph(text)
    except FilterSyntaxError as exc:
        raise BadValue(f"Error parsing the filter graph '{text}': {exc}") from None
    args = plain_scale(chains)
    if args is not None:
        try:
            return VideoFilterSpec(text, parse_scale_filter("scale=" + args))
        except BadValue:
            pass  # expressions, flags, options: libavfilter's scale
    return VideoFilterSpec(text)


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
