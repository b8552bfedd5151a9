"""``-map``: which of the input's streams an output gets, in ffmpeg's common forms.

exvc carries the input's first video stream and its first audio stream, so the forms it
takes are those that name them: ``0`` (every stream), ``0:v``, ``0:v:0``, ``0:a``,
``0:a:0``, each with an optional trailing ``?`` (no error when nothing matches). Without
``-map`` an output gets both, as ffmpeg's default selection does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import CliError
from .values import BadValue

_FORM = re.compile(r"(-?)(\d+)(?::([vVas])(?::(\d+))?)?(\??)")


@dataclass(frozen=True)
class MapSpec:
    text: str
    kind: str | None  # "v", "a", or None for every stream
    optional: bool


def parse_map(text: str) -> MapSpec:
    """One ``-map`` value; anything but input 0's first video or audio is refused."""
    m = _FORM.fullmatch(text.strip())
    if m is None:
        raise BadValue("expected a stream map such as 0, 0:v, 0:a:0 or 0:a?")
    negative, file, kind, index, optional = m.groups()
    if negative:
        raise BadValue("negative maps are not supported; map the streams to keep")
    if file != "0":
        raise BadValue(f"Invalid input file index: {file}. exvc reads one input")
    if kind == "s":
        raise BadValue("exvc carries no subtitles")
    if index not in (None, "0"):
        raise BadValue("exvc maps the first video and the first audio stream only "
                       f"({file}:{kind}:0)")
    return MapSpec(text, {"V": "v"}.get(kind, kind), bool(optional))


def audio_is_mapped(maps: list[MapSpec], has_audio: bool) -> bool:
    """Whether the output gets the input's audio under ``maps`` (none given: yes). Raises
    CliError, as ffmpeg does, for a map that matches no stream and has no ``?``, and when
    the video is left out (exvc's outputs are video)."""
    if not maps:
        return True
    if not any(m.kind in (None, "v") for m in maps):
        raise CliError("exvc writes video: add -map 0:v (an output of audio alone is not "
                       "supported)")
    for m in maps:
        if m.kind == "a" and not has_audio and not m.optional:
            raise CliError(f"Stream map '{m.text}' matches no streams. To ignore this, add a "
                           "trailing '?' to the map.")
    return any(m.kind in (None, "a") for m in maps)
