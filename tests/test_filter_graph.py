"""-vf as ffmpeg's filtergraph syntax, run by libavfilter (exvc.media.filter_syntax/graph)."""

from __future__ import annotations

import re
from fractions import Fraction

import av
import numpy as np
import pytest

from exvc.media.filter_graph import FilterError, VideoFilter
from exvc.media.filter_syntax import (
    FilterSpec,
    FilterSyntaxError,
    changes_timing,
    parse_filtergraph,
    plain_scale,
)


def test_chains_filters_labels_and_quoting():
    chains = parse_filtergraph(
        "split [a][b]; [a] crop=w=8:h='6' , hflip [c];[b][c] hstack, "
        "drawtext=text='a,b;c':x=1\\,2 ")
    assert chains == [
        [FilterSpec("split", None, [], ["a", "b"])],
        [FilterSpec("crop", "w=8:h=6", ["a"]), FilterSpec("hflip", None, [], ["c"])],
        [FilterSpec("hstack", None, ["b", "c"]), FilterSpec("drawtext", "text=a,b;c:x=1,2")],
    ]


@pytest.mark.parametrize("text, message", [
    ("", "the filter graph is empty"),
    ("scale=8:6,", "No such filter: ''"),
    ("[a", "Bad (empty?) label"),
    ("[]hflip", "Bad (empty?) label"),
    ("hflip [o] vflip", "Unable to parse graph description substring"),
])
def test_syntax_errors(text, message):
    with pytest.raises(FilterSyntaxError, match=re.escape(message)):
        parse_filtergraph(text)


def test_plain_scale_and_timing():
    assert plain_scale(parse_filtergraph("scale=8:6")) == "8:6"
    assert plain_scale(parse_filtergraph("scale=8:6,hflip")) is None
    assert plain_scale(parse_filtergraph("[x]scale=8:6")) is None
    assert not changes_timing(parse_filtergraph("crop=8:6,hflip"))
    assert changes_timing(parse_filtergraph("hflip,fps=50"))


def _frames(n: int = 4, w: int = 16, h: int = 12):
    for i in range(n):
        rgb = np.zeros((h, w, 3), np.uint8)
        rgb[:, : w // 4] = 255  # a white band on the left
        rgb[0, 0] = 10 * i
        yield Fraction(i, 25), av.VideoFrame.from_ndarray(rgb, format="rgb24")


def _run(text: str, **kw) -> list[tuple[Fraction, av.VideoFrame]]:
    return list(VideoFilter(text, Fraction(25)).run(_frames(**kw)))


def test_a_chain_runs_and_keeps_times():
    out = _run("hflip,crop=8:6:8:0")
    assert [t for t, _ in out] == [Fraction(i, 25) for i in range(4)]
    rgb = out[0][1].to_ndarray(format="rgb24")[1:]  # row 0 holds a marker pixel
    assert rgb.shape == (5, 8, 3)
    assert rgb[:, 4:].min() == 255 and rgb[:, :4].max() == 0  # the band is now on the right


def test_labels_link_across_chains():
    out = _run("split[a][b];[a]hflip[c];[b][c]hstack")
    rgb = out[0][1].to_ndarray(format="rgb24")[1:]
    assert rgb.shape == (11, 32, 3)
    assert rgb[:, :4].min() == 255 and rgb[:, 28:].min() == 255 and rgb[:, 8:24].max() == 0


def test_timing_filters_give_their_times_and_rate():
    vf = VideoFilter("fps=50", Fraction(25))
    out = list(vf.run(_frames()))
    assert len(out) == 8 and out[1][0] == Fraction(1, 50)
    assert vf.rate_of(out[0][1], Fraction(25)) == 50
    kept = _run("select='not(mod(n\\,2))'")
    assert [t for t, _ in kept] == [0, Fraction(2, 25)]


@pytest.mark.parametrize("text, message", [
    ("nosuch", "No such filter: 'nosuch'"),
    ("crop=80:60", "Invalid too big or non positive size for width '80' or height '60'"),
    ("scale=foo=3", "No such option: foo"),
    ("split", "expected to have exactly 1 input and 1 output. However, it had 1 input(s) and "
              "2 output(s)"),
    ("hflip;vflip", "it had 2 input(s) and 2 output(s)"),
])
def test_libavfilter_errors_carry_its_message(text, message):
    with pytest.raises(FilterError, match=re.escape(message)):
        _run(text)
