"""``-vf``: a libavfilter graph of one video input and one output, run through PyAV.

The graph is built when the first frame arrives, from that frame's size and pixel format,
as ffmpeg does (pixels are square: exvc carries no aspect ratio). Frames go in with their
times and come out with the times the graph gives them (``fps``, ``select`` or ``setpts``
change them). Errors carry libavfilter's own message.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from fractions import Fraction

import av
import av.filter
import av.logging

from .errors import MediaError
from .filter_syntax import FilterSpec, FilterSyntaxError, parse_filtergraph

# Input frame times are given to the graph in this time base (that of MPEG-TS), so that
# variable-rate frames keep their exact times.
TIME_BASE = Fraction(1, 90000)


class FilterError(MediaError):
    """A graph that libavfilter refuses, or that fails on a frame."""


class VideoFilter:
    """``text`` as a graph: ``run`` maps (seconds, frame) pairs to the graph's output."""

    def __init__(self, text: str, fps: Fraction) -> None:
        try:
            self.chains = parse_filtergraph(text)
        except FilterSyntaxError as exc:
            raise FilterError(f"Error parsing the filter graph '{text}': {exc}") from None
        self.text = text
        self.fps = Fraction(fps)
        unknown = [f.name for chain in self.chains for f in chain
                   if f.name not in av.filter.filters_available]
        if unknown:
            raise FilterError(f"Error parsing the filter graph '{text}': No such filter: "
                              f"'{unknown[0]}'")

    def run(self, frames: Iterable[tuple[Fraction, av.VideoFrame]]
            ) -> Iterator[tuple[Fraction, av.VideoFrame]]:
        """The graph's output frames with their times in seconds (the same origin)."""
        graph = source = sink = None  # the graph must outlive its filters (PyAV frees it)
        period = max(1, round(1 / (self.fps * TIME_BASE)))
        for t, frame in frames:
            if source is None:
                graph, source, sink = self._build(frame)
            frame.pts = round(t / TIME_BASE)
            frame.time_base = TIME_BASE
            frame.duration = period
            with self._errors():
                source.push(frame)
            yield from self._drain(sink)
        if source is not None:
            with self._errors():
                source.push(None)
            yield from self._drain(sink)
        del graph

    @staticmethod
    def rate_of(frame: av.VideoFrame, default: Fraction) -> Fraction:
        """The frame rate that an output frame's duration tells (``default`` without one)."""
        if frame.duration and frame.time_base:
            return 1 / (Fraction(frame.duration) * frame.time_base)
        return default

    def _drain(self, sink) -> Iterator[tuple[Fraction, av.VideoFrame]]:
        while True:
            with self._errors():
                try:
                    out = sink.pull()
                except (av.error.BlockingIOError, av.error.EOFError):
                    return
            yield Fraction(out.pts) * out.time_base, out

    def _build(self, first: av.VideoFrame):
        graph = av.filter.Graph()
        rate = self.fps
        args = (f"video_size={first.width}x{first.height}:pix_fmt={first.format.name}"
                f":time_base={TIME_BASE.numerator}/{TIME_BASE.denominator}"
                f":frame_rate={rate.numerator}/{rate.denominator}:pixel_aspect=1/1")
        with self._errors():
            source = graph.add("buffer", args)
            opened_in, opened_out = _link(graph, self.chains)
            if len(opened_in) != 1 or len(opened_out) != 1:
                raise FilterError(
                    f"Simple filtergraph '{self.text}' was expected to have exactly 1 input "
                    f"and 1 output. However, it had {len(opened_in)} input(s) and "
                    f"{len(opened_out)} output(s). Please adjust, or use a complex filtergraph "
                    "(-filter_complex) instead.")
            sink = graph.add("buffersink")
            (ctx, pad), = opened_in
            source.link_to(ctx, 0, pad)
            (ctx, pad), = opened_out
            ctx.link_to(sink, pad, 0)
            graph.configure()
        return graph, source, sink

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """libavfilter's logged reason as the message of any failure inside."""
        level = av.logging.get_level()
        av.logging.set_level(av.logging.ERROR)
        try:
            with av.logging.Capture() as logs:
                try:
                    yield
                except (av.error.FFmpegError, ValueError) as exc:
                    said = [line.strip() for _, _, line in logs if line.strip()]
                    reason = said[0] if said else str(exc)
                    raise FilterError(f"Error in the filter graph '{self.text}': "
                                      f"{reason}") from None
        finally:
            av.logging.set_level(level)


Pad = tuple[av.filter.context.FilterContext, int]


def _link(graph: av.filter.Graph, chains: list[list[FilterSpec]]
          ) -> tuple[list[Pad], list[Pad]]:
    """Add and link the filters of ``chains`` as libavfilter's parser does: a filter's
    output pads take its labels in order and the rest feed the next filter of the chain;
    a filter's input pads take the previous filter's free outputs, then its labels. Returns
    the input and output pads left open."""
    wanted: dict[str, list[Pad]] = {}  # input label -> pads waiting for it
    given: dict[str, list[Pad]] = {}  # output label -> pads offering it
    opened_in: list[Pad] = []
    opened_out: list[Pad] = []
    for chain in chains:
        carried: list[Pad] = []  # outputs of the previous filter in this chain
        for spec in chain:
            ctx = graph.add(spec.name, spec.args)
            n_in, n_out = len(ctx.inputs), len(ctx.outputs)
            feeds = carried + [None] * len(spec.inputs)
            if len(feeds) > n_in:
                raise FilterError(f"Too many inputs specified for the \"{spec.name}\" filter.")
            for pad, feed in enumerate(feeds):
                if feed is not None:
                    feed[0].link_to(ctx, feed[1], pad)
            for pad, label in enumerate(spec.inputs, len(carried)):
                wanted.setdefault(label, []).append((ctx, pad))
            opened_in += [(ctx, pad) for pad in range(len(feeds), n_in)]
            if len(spec.outputs) > n_out:
                raise FilterError(f"Too many outputs specified for the \"{spec.name}\" "
                                  "filter.")
            for pad, label in enumerate(spec.outputs):
                given.setdefault(label, []).append((ctx, pad))
            carried = [(ctx, pad) for pad in range(len(spec.outputs), n_out)]
        opened_out += carried
    for label, pads in wanted.items():
        offers = given.pop(label, [])
        for (ctx, pad), offer in zip(pads, offers, strict=False):
            offer[0].link_to(ctx, offer[1], pad)
        opened_in += pads[len(offers):]
        opened_out += offers[len(pads):]
    for offers in given.values():
        opened_out += offers
    return opened_in, opened_out
