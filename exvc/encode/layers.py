"""Which base-layer candidates a dinr encode weighs: the preset's search, narrowed by what
the user pinned (``-base``, ``-base_scale``, ``-base_framestep``) and by what this machine
can encode.

VVC needs an ffmpeg executable with libvvenc; without one, the strongest codec left is used
and a one-line notice says so (``BaseUnavailable`` for a user who asked for VVC by name).
"""

from __future__ import annotations

import logging

from exvc.bitstream.anchors import UNIFORM_STEPS
from exvc.encode.base_coder import BaseConfig
from exvc.encode.condition_choice import Candidates
from exvc.encode.presets import BaseSearch
from exvc.encode.refresh import DEFAULT_THRESHOLD
from exvc.encode.settings import EncodeSettings
from exvc.media import base_codecs

log = logging.getLogger("exvc.encode")

SCALES = (1, 2, 4)
MIN_CODED = 16  # pictures smaller than this a side are not coded (libvvenc refuses some)


class BaseUnavailable(ValueError):
    """The base codec asked for cannot be encoded on this machine."""


def codecs_for(search: BaseSearch, pinned: str | None) -> list[str]:
    """The codecs to try, strongest first; a notice when VVC is missing."""
    if pinned is not None:
        if pinned not in base_codecs.CODECS:
            raise BaseUnavailable(f"unknown base codec '{pinned}' (choose vvc, av1, hevc or "
                                  "none)")
        if not base_codecs.available(pinned):
            raise BaseUnavailable(f"the {pinned} base is not available here: "
                                  + _missing(pinned))
        return [pinned]
    usable = [c for c in base_codecs.CODECS if base_codecs.available(c)]
    if "vvc" not in usable:
        log.warning("VVC base unavailable (%s); using %s", _missing("vvc"),
                    usable[0] if usable else "the INR alone")
    return usable if search.codecs == "all" else usable[:1]


def _missing(codec: str) -> str:
    if codec == "vvc":
        return "no ffmpeg executable with libvvenc; pip install imageio-ffmpeg"
    return f"PyAV has no {'libsvtav1' if codec == 'av1' else 'libx265'} encoder"


def candidates_for(settings: EncodeSettings, search: BaseSearch, width: int,
                   height: int) -> Candidates:
    """The candidates of a file of ``width`` x ``height`` frames."""
    codecs = codecs_for(search, settings.base)
    scales = _pinned(settings.base_scale, search.scales, SCALES, "-base_scale")
    steps = _pinned(settings.base_framestep, search.steps, UNIFORM_STEPS, "-base_framestep")
    configs = []
    for codec in codecs:
        modes = [m for m in search.modes if m in base_codecs.rate_modes(codec)]
        configs += [BaseConfig(codec, s, t, m) for m in modes for s in scales for t in steps
                    if min(BaseConfig(codec, s).coded_size(width, height)) >= MIN_CODED]
    # a pinned frame step is kept as it is, unless a threshold is asked for too
    refresh = settings.refresh_threshold
    if refresh is None:
        refresh = 0.0 if settings.base_framestep is not None else DEFAULT_THRESHOLD
    return Candidates(tuple(configs), inr_alone=search.inr, enhancement=search.inr,
                      search_preset=search.search_preset, refresh=refresh,
                      two_pass=search.two_pass and "rate2" not in search.modes,
                      merge_scenes=search.merge_scenes)


def _pinned(value: int | None, default: tuple[int, ...], allowed: tuple[int, ...],
            option: str) -> list[int]:
    if value is None:
        return list(default)
    if value not in allowed:
        raise BaseUnavailable(f"{option} {value} is not supported (choose "
                              f"{', '.join(map(str, allowed))})")
    return [value]
