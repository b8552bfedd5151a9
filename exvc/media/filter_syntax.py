"""ffmpeg's filtergraph syntax (``-vf``): chains of filters, link labels and quoting.

PyAV builds a libavfilter graph one filter at a time and does not expose libavfilter's own
parser, so the text is parsed here, by the rules of ffmpeg's filters documentation
("Filtergraph syntax"): chains are separated by ``;``, filters by ``,``; a filter is
``[in]...name=args[out]...``; outside quotes ``\\`` escapes the next character, and
``'...'`` keeps everything up to the next quote. One level of quoting is removed here, as
libavfilter does, and the filter's own option parser removes the next.

No PyAV here: the CLI checks the syntax while it reads the command line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

_SPACE = " \t\n\r"
# Filters that add, drop or re-time frames: after them the frame count is not the input's.
TIMING_FILTERS = frozenset({
    "fps", "framerate", "framestep", "select", "trim", "setpts", "tpad", "minterpolate",
    "decimate", "mpdecimate", "loop", "reverse", "interlace", "telecine", "tinterlace",
    "fieldmatch", "yadif", "bwdif", "w3fdif", "detelecine", "pullup", "random", "shuffleframes",
    "freezeframes", "settb", "framepack", "separatefields", "weave", "doubleweave", "thumbnail",
    "concat", "blend", "tblend", "mix", "tmix",
})


class FilterSyntaxError(ValueError):
    """A filtergraph that does not parse; the message is ffmpeg's wording where it has one."""


@dataclass
class FilterSpec:
    """One filter of a chain: its name, its argument string and the labels of its pads."""

    name: str
    args: str | None = None
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


def parse_filtergraph(text: str) -> list[list[FilterSpec]]:
    """The chains of ``text``, each a list of filters in order; raises FilterSyntaxError."""
    chains: list[list[FilterSpec]] = []
    pos = _skip(text, 0)
    if pos == len(text):
        raise FilterSyntaxError("the filter graph is empty")
    while True:
        chain: list[FilterSpec] = []
        while True:
            spec, pos = _filter(text, pos)
            chain.append(spec)
            pos = _skip(text, pos)
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            break
        chains.append(chain)
        if pos == len(text):
            return chains
        if text[pos] != ";":
            raise FilterSyntaxError(f"Unable to parse graph description substring: "
                                    f"\"{text[pos:]}\"")
        pos = _skip(text, pos + 1)
        if pos == len(text):
            return chains


def changes_timing(chains: list[list[FilterSpec]]) -> bool:
    """Whether any filter may change the number or times of frames."""
    return any(f.name in TIMING_FILTERS for chain in chains for f in chain)


def plain_scale(chains: list[list[FilterSpec]]) -> str | None:
    """The argument string of a graph that is one unlabelled ``scale`` filter, else None."""
    if len(chains) == 1 and len(chains[0]) == 1:
        only = chains[0][0]
        if only.name == "scale" and not only.inputs and not only.outputs:
            return only.args
    return None


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _SPACE:
        pos += 1
    return pos


def _labels(text: str, pos: int) -> tuple[list[str], int]:
    labels = []
    pos = _skip(text, pos)
    while pos < len(text) and text[pos] == "[":
        end = text.find("]", pos)
        name = text[pos + 1:end] if end > 0 else ""
        if end < 0 or not name or any(c in name for c in "[];,'=" + _SPACE):
            raise FilterSyntaxError(f"Bad (empty?) label found in the following: "
                                    f"\"{text[pos:]}\"")
        labels.append(name)
        pos = _skip(text, end + 1)
    return labels, pos


def _filter(text: str, pos: int) -> tuple[FilterSpec, int]:
    inputs, pos = _labels(text, pos)
    name, pos = _token(text, pos, "=,;[")
    if not name:
        raise FilterSyntaxError(f"No such filter: '{name}'")
    args = None
    if pos < len(text) and text[pos] == "=":
        args, pos = _token(text, pos + 1, "[],;")
    outputs, pos = _labels(text, pos)
    return FilterSpec(name.split("@")[0], args, inputs, outputs), pos


def _token(text: str, pos: int, stop: str) -> tuple[str, int]:
    """libavutil's av_get_token: up to an unquoted character of ``stop``, quotes and escapes
    removed, leading and trailing unquoted white space trimmed."""
    pos = _skip(text, pos)
    out: list[str] = []
    kept = 0  # length of ``out`` that trailing-space trimming must not cut into
    while pos < len(text) and text[pos] not in stop:
        c = text[pos]
        if c == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
            kept = len(out)
        elif c == "'":
            end = text.find("'", pos + 1)
            end = len(text) if end < 0 else end
            out.extend(text[pos + 1:end])
            pos = end + 1
            kept = len(out)
        else:
            out.append(c)
            pos += 1
    while len(out) > kept and out[-1] in _SPACE:
        out.pop()
    return "".join(out), pos
