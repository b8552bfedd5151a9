"""The command line in isolation: argument walking, value syntaxes, bitrate conversion, info
and stats formatting, output-target rules, exit codes. No encoder or decoder needed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from exvc.cli import outputs
from exvc.cli.argv import OPTIONS, help_text, parse_args
from exvc.cli.bitrate import parse_rate, to_bits_per_second, to_bpp
from exvc.cli.errors import CliError, UsageError
from exvc.cli.frames import Window, apply_window, retime, retime_count
from exvc.cli.info import describe_pix_fmt, dinr_info_lines, format_duration, format_fps
from exvc.cli.log import LEVELS, parse_loglevel
from exvc.cli.main import cli
from exvc.cli.options import GlobalOptions, InputSpec, OutputSpec
from exvc.cli.progress import (
    ProgressBlocks,
    Reporter,
    Snapshot,
    StatsLines,
    format_progress_block,
    format_stats_line,
)
from exvc.cli.scale import (
    ScaleSpec,
    parse_scale_filter,
    parse_video_filter,
    resolve_scale,
)
from exvc.cli.values import BadValue, parse_frame_rate, parse_size, parse_time
from exvc.encode.settings import EncodeProgress
from exvc.media.types import ColourInfo, VideoInfo

REPO = Path(__file__).resolve().parent.parent


def invoke(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, list(args), input=input)


def error_line(result) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- option binding -------------------------------------------------------------------------

def test_options_bind_to_the_next_file():
    cmd = parse_args("-y -ss 1 -t 2 -f rawvideo -s 32x24 -pix_fmt yuv420p -r 25 -threads 2 "
                     "-i in.yuv -ss 0.5 -to 1.5 -s 16x12 -r 12.5 -threads 1 out.dinr".split())
    assert cmd.options.overwrite
    (inp,), (out,) = cmd.inputs, cmd.outputs
    assert (inp.url, inp.start, inp.duration, inp.fmt, inp.size, inp.pix_fmt, inp.rate,
            inp.threads) == ("in.yuv", 1.0, 2.0, "rawvideo", (32, 24), "yuv420p", 25, 2)
    assert (out.url, out.start, out.end, out.size, out.rate, out.threads) == (
        "out.dinr", 0.5, 1.5, (16, 12), Fraction(25, 2), 1)
    assert out.fmt is None and out.is_dinr


def test_every_output_option():
    cmd = parse_args(["-i", "a.mp4", "-f", "dinr", "-c:v", "inr", "-b:v", "64k", "-preset",
                      "slow", "-frames:v", "10", "-vf", "scale=-2:144", "-pix_fmt", "yuv420p",
                      "-metadata", "title=Hi there", "-metadata", "artist=me", "-seed", "7",
                      "-sc_threshold", "0", "-an", "-"])
    out = cmd.outputs[0]
    assert out.is_stdout and out.is_dinr and out.codec == "inr"
    assert out.bitrate == parse_rate("64k")
    assert (out.preset, out.max_frames, out.scale, out.pix_fmt, out.seed) == (
        "slow", 10, ScaleSpec(-2, 144), "yuv420p", 7)
    assert out.metadata == {"title": "Hi there", "artist": "me"}
    assert out.sc_threshold == 0


@pytest.mark.parametrize("args, field, value", [
    (["-vcodec", "libx264"], "codec", "libx264"),
    (["-codec:v", "ffv1"], "codec", "ffv1"),
    (["-c", "ffv1"], "codec", "ffv1"),
    (["-b", "0.02bpp"], "bitrate", parse_rate("0.02bpp")),
    (["-vframes", "5"], "max_frames", 5),
    (["-frames", "5"], "max_frames", 5),
    (["-filter:v", "scale=32:24"], "scale", ScaleSpec(32, 24)),
    (["-crf", "18"], "crf", "18"),
    (["-r", "ntsc"], "rate", Fraction(30000, 1001)),
    (["-r", "30000/1001"], "rate", Fraction(30000, 1001)),
    (["-s", "qcif"], "size", (176, 144)),
])
def test_aliases_and_spellings(args, field, value):
    out = parse_args(["-i", "in.mp4", *args, "out.mkv"]).outputs[0]
    assert getattr(out, field) == value


@pytest.mark.parametrize("args, field, value", [
    (["-v", "debug"], "loglevel", LEVELS["debug"]),
    (["-loglevel", "repeat+warning"], "loglevel", LEVELS["warning"]),
    (["-v", "40"], "loglevel", 40),
    (["-n"], "no_overwrite", True),
    (["-hide_banner"], "hide_banner", True),
    (["-nostats"], "stats", False),
    (["-nostats", "-stats"], "stats", True),
    (["-stats"], "stats", True),
    (["-progress", "pipe:1"], "progress_url", "pipe:1"),
    (["-nostdin"], "stdin_interaction", False),
])
def test_global_options_anywhere(args, field, value):
    for argv in ([*args, "-i", "in.mp4", "out.mkv"], ["-i", "in.mp4", "out.mkv", *args]):
        assert getattr(parse_args(argv).options, field) == value


@pytest.mark.parametrize("flag", ["-h", "-help", "--help", "-?"])
def test_help_stops_parsing(flag):
    assert parse_args([flag, "-bogus"]).options.show_help


@pytest.mark.parametrize("argv, message", [
    (["-foo"], "Unrecognized option 'foo'."),
    (["-i", "a.mp4", "-b"], "Missing argument for option 'b'."),
    (["-i"], "Missing argument for option 'i'."),
    (["-i", "a.mp4", "out.mkv", "-b:v", "1M"], "Trailing option(s) found in the command"),
    (["-preset", "slow", "-i", "a.mp4", "o.mkv"], "Option preset cannot be applied to input"),
    (["-i", "a.mp4", "-c:x", "ffv1", "o.mkv"], "Invalid stream specifier: x."),
    (["-y:v", "-i", "a.mp4", "o.mkv"], "Unrecognized option 'y:v'."),
    (["-i", "a.mp4", "-ss", "5", "-to", "2", "o.mkv"], "-to value smaller than -ss"),
    (["-i", "a.mp4", "-ss", "abc", "o.mkv"], "Invalid value 'abc' for option '-ss'"),
    (["-i", "a.mp4", "-b:v", "0", "o.dinr"], "must be greater than zero"),
    (["-i", "a.mp4", "-b", "-5k", "o.dinr"], "must be greater than zero"),
    (["-i", "a.mp4", "-b", "fast", "o.dinr"], "expected bits/s such as 64k"),
    (["-i", "a.mp4", "-vf", "scale=80:60,", "o.mkv"],
     "Invalid value 'scale=80:60,' for option '-vf': Error parsing the filter graph "
     "'scale=80:60,': No such filter: ''"),
    (["-i", "a.mp4", "-vf", "[a", "o.mkv"], "Bad (empty?) label found"),
    (["-i", "a.mp4", "-vf", "hflip [o] x", "o.mkv"], "Unable to parse graph description"),
    (["-i", "a.mp4", "-frames:v", "-1", "o.mkv"], "non-negative integer"),
    (["-i", "a.mp4", "-metadata", "title", "o.mkv"], "expected key=value"),
    (["-i", "a.mp4", "-r", "0", "o.mkv"], "frame rate must be greater than 0"),
    (["-i", "a.mp4", "-s", "12", "o.mkv"], "expected a frame size"),
    (["-v", "loud"], 'Invalid loglevel "loud"'),
])
def test_usage_errors(argv, message):
    with pytest.raises(UsageError) as exc:
        parse_args(argv)
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_audio_options_set_the_audio_and_other_streams_are_ignored_with_a_warning():
    cmd = parse_args(["-i", "a.mp4", "-c:a", "aac", "-b:a", "128k", "-ac", "2", "-c:s", "srt",
                      "o.mkv"])
    out = cmd.outputs[0]
    assert out.codec is None and out.bitrate is None
    assert (out.audio_codec, out.audio_bitrate, out.audio_channels, out.no_audio) == (
        "aac", 128000, 2, False)
    assert cmd.warnings == ["exvc handles video only; ignoring option '-c:s'."]
    assert parse_args(["-i", "a.mp4", "-an", "o.mkv"]).outputs[0].no_audio


@pytest.mark.parametrize("value, message", [
    ("0.02bpp", "-b:a takes bits/s such as 12k"), ("100", "500 to 512000 bits/s"),
])
def test_bad_audio_rates(value, message):
    with pytest.raises(UsageError, match=message):
        parse_args(["-i", "a.mp4", "-b:a", value, "o.dinr"])


def test_t_wins_over_to():
    cmd = parse_args(["-i", "a.mp4", "-t", "1", "-to", "3", "o.mkv"])
    assert cmd.outputs[0].duration == 1 and cmd.outputs[0].end is None
    assert "-t and -to cannot be used together; using -t." in cmd.warnings


def test_empty_metadata_value_removes_the_key():
    out = parse_args(["-i", "a", "-metadata", "a=1", "-metadata", "a=", "o.dinr"]).outputs[0]
    assert out.metadata == {}


def test_help_lists_every_option():
    text = help_text()
    for option in OPTIONS:
        if option.name not in ("sn", "dn"):
            assert re.search(rf"-{re.escape(option.name)}\b", text), option.name


# --- values ---------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [
    ("12.5", 12.5), ("0", 0.0), ("90", 90.0), ("500ms", 0.5), ("250000us", 0.25),
    ("3s", 3.0), ("01:30", 90.0), ("1:02:03.5", 3723.5), ("00:00:02.13", 2.13), (".5", 0.5),
])
def test_parse_time(text, seconds):
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "-1", "1:60", "1:60:00", "1.2.3", "5min"])
def test_parse_time_rejects(text):
    with pytest.raises(BadValue, match=r"expected seconds \(12\.5, 500ms\) or \[HH:\]MM:SS"):
        parse_time(text)


def test_frame_rates_and_sizes():
    assert parse_frame_rate("29.97") == Fraction(30000, 1001)
    assert parse_frame_rate("23.976") == Fraction(24000, 1001)
    assert parse_frame_rate("59.94") == Fraction(60000, 1001)
    assert parse_frame_rate("12.5") == Fraction(25, 2)
    assert parse_frame_rate("pal") == 25
    assert parse_frame_rate("24000:1001") == Fraction(24000, 1001)
    assert parse_size("176x144") == (176, 144) and parse_size("hd720") == (1280, 720)
    for bad in ("0x10", "10x", "axb"):
        with pytest.raises(BadValue, match=r"expected a frame size WxH"):
            parse_size(bad)


def test_loglevel_names_and_numbers():
    assert parse_loglevel("quiet") == -8 and parse_loglevel("info") == 32
    assert parse_loglevel("level+debug") == 48


# --- bitrate ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, unit, value", [
    ("0.02bpp", "bpp", 0.02), ("0.5BPP", "bpp", 0.5), ("64k", "bps", 64000),
    ("64K", "bps", 64000), ("1.5M", "bps", 1.5e6), ("20000", "bps", 20000),
    ("1G", "bps", 1e9), ("1Ki", "bps", 1024), ("2kB", "bps", 16000), ("1e4", "bps", 1e4),
])
def test_parse_rate(text, unit, value):
    spec = parse_rate(text)
    assert spec.unit == unit and spec.value == pytest.approx(value)


_RATE_HINT = r"expected bits/s such as 64k"


@pytest.mark.parametrize("text, message", [
    ("0", "greater than zero"), ("0k", "greater than zero"), ("-1k", "greater than zero"),
    ("-0.1bpp", "greater than zero"), ("0bpp", "greater than zero"), ("abc", _RATE_HINT),
    ("k", _RATE_HINT), ("1.5m", "'m' means milli"), ("bpp", _RATE_HINT), ("nan", _RATE_HINT),
    ("1e999", "the rate is too large"), ("64 kbps", _RATE_HINT),
])
def test_parse_rate_rejects(text, message):
    with pytest.raises(BadValue, match=message):
        parse_rate(text)


def test_to_bpp_uses_output_geometry():
    # 176x144 at 29.97 fps: 64 kbit/s is 64000 / (176*144*30000/1001) bits per pixel.
    fps = Fraction(30000, 1001)
    bpp = to_bpp(parse_rate("64k"), 176, 144, fps)
    assert bpp == pytest.approx(64000 / (176 * 144 * 30000 / 1001))
    assert to_bpp(parse_rate("0.02bpp"), 176, 144, fps) == 0.02
    assert to_bits_per_second(parse_rate("0.02bpp"), 100, 100, 25) == pytest.approx(5000)
    with pytest.raises(ValueError, match=r"cannot convert a bitrate for a 0x144 output"):
        to_bpp(parse_rate("64k"), 0, 144, fps)


# --- scale ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, spec", [
    ("scale=320:240", ScaleSpec(320, 240)), ("scale=-2:144", ScaleSpec(-2, 144)),
    ("scale=w=64:h=-1", ScaleSpec(64, -1)), ("scale=h=10:w=20", ScaleSpec(20, 10)),
    ("scale=320x240", ScaleSpec(320, 240)),
])
def test_parse_scale(text, spec):
    assert parse_scale_filter(text) == spec


@pytest.mark.parametrize("text", ["hflip", "scale=320:240,hflip", "scale=iw/2:ih/2",
                                  "scale=320", "scale=320:240:flags=lanczos", "fps=25"])
def test_parse_scale_rejects(text):
    with pytest.raises(BadValue, match="only -vf scale=W:H is supported"):
        parse_scale_filter(text)


@pytest.mark.parametrize("text, plain", [
    ("scale=320:240", ScaleSpec(320, 240)), (" scale = -2:144 ", ScaleSpec(-2, 144)),
    ("hflip", None), ("scale=iw/2:ih/2", None), ("scale=320:240:flags=lanczos", None),
    ("scale=320:240,hflip", None), ("[in]scale=320:240[out]", None),
])
def test_vf_is_a_plain_scale_or_a_libavfilter_graph(text, plain):
    spec = parse_video_filter(text)
    assert (spec.text, spec.scale) == (text, plain)


def test_resolve_scale_keeps_aspect():
    assert resolve_scale(ScaleSpec(-1, 144), 1920, 1080) == (256, 144)
    assert resolve_scale(ScaleSpec(-2, 100), 1920, 1080) == (178, 100)
    assert resolve_scale(ScaleSpec(100, -2), 1920, 1080) == (100, 56)
    assert resolve_scale(ScaleSpec(0, 50), 64, 36) == (64, 50)
    assert resolve_scale(ScaleSpec(-1, -1), 64, 36) == (64, 36)


# --- frame windows and rate conversion --------------------------------------------------------

def _numbered(n: int):
    return [np.full((3, 2, 2), i, np.float32) for i in range(n)]


def test_window():
    fps = Fraction(30)
    w = Window.of(0.1, 0.2, None, None)
    assert w.index_range(fps) == (3, 9) and w.count(100, fps) == 6
    assert [int(f[0, 0, 0]) for f in apply_window(_numbered(20), w, fps)] == [3, 4, 5, 6, 7, 8]
    assert Window.of(None, None, None, 4).count(10, fps) == 4
    assert Window.of(None, None, 1.0, None).count(None, fps) is None
    assert list(apply_window(_numbered(5), Window.of(None, None, None, 0), fps)) == []


@pytest.mark.parametrize("src, dst", [(30, 15), (15, 30), (25, 24), (Fraction(30000, 1001), 25),
                                      (25, 25)])
def test_retime_count_matches(src, dst):
    frames = list(retime(iter(_numbered(17)), Fraction(src), Fraction(dst)))
    assert len(frames) == retime_count(17, Fraction(src), Fraction(dst))
    picked = [int(f[0, 0, 0]) for f in frames]
    assert picked == sorted(picked) and picked[0] == 0


def test_retime_duplicates_are_distinct_arrays():
    frames = list(retime(iter(_numbered(2)), Fraction(10), Fraction(30)))
    assert len(frames) == 6 and frames[0] is not frames[1]


# --- info ---------------------------------------------------------------------------------

def _dinr_info():
    video = VideoInfo(176, 144, Fraction(30000, 1001), colour=ColourInfo(1, 1, 1), frames=64)
    return SimpleNamespace(
        video=video, codec="inr", version="1.0", file_bytes=4051,
        sections=[("header", 27), ("metadata", 12), ("segment 0", 4012)],
        metadata={"title": "Test clip"}, bpp=0.02)


def test_dinr_info_block():
    lines = dinr_info_lines(_dinr_info(), "x.dinr")
    assert lines[0] == "Input #0, dinr, from 'x.dinr':"
    assert lines[1] == "  Metadata:"
    assert lines[2] == "    title           : Test clip"
    assert lines[3] == "  Duration: 00:00:02.14, start: 0.000000, bitrate: 15 kb/s"
    assert lines[4] == ("  Stream #0:0: Video: inr (exvc INR), yuv420p(tv, bt709), 176x144, "
                        "29.97 fps, 64 frames, 0.0200 bpp")
    table = "\n".join(lines[5:])
    for name, size in [("header", 27), ("metadata", 12), ("segment 0", 4012), ("total", 4051)]:
        assert re.search(rf"{name}\s+:\s+{size} bytes", table), name


def test_dinr_info_names_a_bundled_prior_without_loading_torch():
    """Since format 1.2 a file records 8 bytes of its prior's identity and no name; probing
    names the bundled prior it belongs to, and stays torch-free."""
    compat = REPO / "tests" / "data" / "compat"
    code = ("import sys; from pathlib import Path; from exvc.cli.info import dinr_info_lines; "
            "from exvc.decode.decoder import probe; "
            f"print(dinr_info_lines(probe(Path({str(compat / 'v1.2' / 'basic_16x16_4f.dinr')!r})"
            ".read_bytes()), 'x')[3]); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out == ["  Prior: exvc-default-1 (bundled, sha256 abe8c98b5a4b3915), ddim-mixed 1 "
                   "of 8 steps, mixed 0/16 with its condition", "False"]


def test_colour_and_number_formats():
    assert describe_pix_fmt("yuv420p", ColourInfo()) == "yuv420p(tv)"
    assert describe_pix_fmt("yuv420p10le", ColourInfo(9, 9, 16, True)) == (
        "yuv420p10le(pc, bt2020nc/bt2020/smpte2084)")
    assert format_fps(25) == "25" and format_fps(Fraction(24000, 1001)) == "23.98"
    assert format_duration(None) == "N/A" and format_duration(3723.5) == "01:02:03.50"


# --- progress -------------------------------------------------------------------------------

STATS = re.compile(r"^frame=\s*\d+ fps=\s*[\d.]+ q=-0\.0 L?size=\s*(\d+kB|N/A) "
                   r"time=\d\d:\d\d:\d\d\.\d\d bitrate=\s*([\d.]+kbits/s|N/A) "
                   r"speed=\s*([\d.e+]+x|N/A) elapsed=\d+:\d\d:\d\d\.\d\d( \[.*\])?$")


def test_stats_line_format():
    snap = Snapshot(frame=64, fps=Fraction(30), elapsed=4.27, total_frames=64, size=4012)
    line = format_stats_line(snap)
    assert line == ("frame=   64 fps= 15 q=-0.0 size=       4kB time=00:00:02.13 "
                    "bitrate=  15.0kbits/s speed= 0.5x elapsed=0:00:04.27")
    assert STATS.match(line) and "Lsize=" in format_stats_line(snap, last=True)
    assert STATS.match(format_stats_line(Snapshot(3, Fraction(25), 1.0)))


def test_progress_block_format():
    snap = Snapshot(frame=64, fps=Fraction(30), elapsed=4.27, size=4012)
    block = format_progress_block(snap)
    keys = dict(line.split("=", 1) for line in block.splitlines())
    assert keys["frame"] == "64" and keys["total_size"] == "4012"
    assert keys["out_time_us"] == "2133333" and keys["out_time"] == "00:00:02.133333"
    assert keys["progress"] == "continue" and keys["speed"].strip() == "0.5x"
    assert format_progress_block(snap, end=True).endswith("progress=end\n")


def test_reporter_throttles_and_ends(tmp_path):
    now = [0.0]
    path = tmp_path / "progress.txt"
    import io

    err = io.StringIO()
    reporter = Reporter([StatsLines(lambda: err), ProgressBlocks(open(path, "w"), True)],
                        Fraction(25), 10, clock=lambda: now[0])
    for _ in range(10):
        now[0] += 0.1
        reporter.frames()
    reporter.finish(True)
    text = path.read_text()
    blocks = text.count("progress=")
    assert 2 <= blocks <= 4 and text.endswith("progress=end\n")
    assert "frame=10\n" in text.split("progress=continue")[-1]
    stats = err.getvalue()
    assert stats.endswith("\n") and "\r" in stats
    assert STATS.match(stats.rstrip("\n").split("\r")[-1])


def test_reporter_from_encoder_progress():
    shown = []
    display = SimpleNamespace(throttled=False, show=lambda s: shown.append(
        (s.frame, s.size, s.fraction)), close=lambda s, ok: None)
    reporter = Reporter([display], Fraction(25), None)
    reporter.encoder(EncodeProgress(frames_read=64, frames_done=0, total_frames=128,
                                    bytes_written=30, segment=0, step=50, steps=100,
                                    stage="fit"))
    # half the fit of a 64-frame segment: the fit spans 0.35..0.75 of it (STAGE_SHARES)
    assert shown[-1] == (0, 30, pytest.approx(64 * 0.55 / 128))
    assert reporter.snapshot.stage == "segment 0 fit 50/100"


def _progress(read, done, segment, step, steps, stage, total=32):
    return EncodeProgress(frames_read=read, frames_done=done, total_frames=total,
                          bytes_written=10, segment=segment, step=step, steps=steps,
                          stage=stage)


def test_the_encoder_bar_never_goes_back_and_the_clock_never_stops():
    now = [0.0]
    shown = []
    display = SimpleNamespace(throttled=False, show=lambda s: shown.append(
        (s.frame, s.fraction, s.eta, s.elapsed)), close=lambda s, ok: None)
    reporter = Reporter([display], Fraction(25), 32, clock=lambda: now[0])
    steps = [_progress(16, 0, 0, 1, 4, "base"), _progress(16, 0, 0, 4, 4, "base"),
             _progress(16, 0, 0, 100, 100, "fit"), _progress(16, 0, 0, 1, 400, "fit"),
             _progress(16, 0, 0, 1, 400, "adapter"), _progress(16, 0, 0, 400, 400, "adapter"),
             _progress(16, 16, 0, 1, 1, "coded"), _progress(32, 16, 1, 1, 4, "base")]
    for p in steps:
        now[0] += 10.0
        reporter.encoder(p)
    fractions = [f for _, f, _, _ in shown]
    assert fractions == sorted(fractions) and max(fractions) < 1.0
    # a second fit (of a residual) restarting at step 1 does not move the bar back
    assert fractions[3] == fractions[2]
    assert [e for _, _, _, e in shown] == [10.0 * (i + 1) for i in range(len(steps))]
    # the remaining time is unknown until a segment is coded, then measured: 70 s for 16
    # frames, so 70 s more for the other 16, less the 10 s already spent on them
    assert [eta for _, _, eta, _ in shown[:6]] == [None] * 6
    assert shown[6][2] == pytest.approx(70.0) and shown[7][2] == pytest.approx(60.0)
    now[0] += 500.0  # overrun: unknown, not 0:00:00
    reporter.encoder(_progress(32, 16, 1, 2, 4, "base"))
    assert shown[-1][2] is None
    now[0] += 10.0  # every frame coded, the file still being finished: unknown, not 0:00:00
    reporter.encoder(_progress(32, 32, 1, 1, 1, "coded"))
    assert shown[-1][0] == 32 and shown[-1][2] is None


def test_the_rich_bar_ends_only_when_the_work_does():
    from exvc.cli.progress import RichBar

    bar = RichBar("encode", 16)
    try:
        snap = Snapshot(frame=16, fps=Fraction(25), elapsed=1.0, total_frames=16,
                        fraction=1.0, stage="segment 0 adapter 400/400")
        bar.show(snap)
        task = bar._progress.tasks[0]
        assert not task.finished and task.fields["eta"] == "ETA -:--:--"
        bar.close(snap, ok=True)
        assert task.finished
    finally:
        bar._progress.stop()


def test_stats_lines_show_the_stage_and_the_remaining_time():
    snap = Snapshot(frame=0, fps=Fraction(25), elapsed=75.5, total_frames=16,
                    stage="segment 0 fit 12/400")
    line = format_stats_line(snap)
    assert STATS.match(line) and line.endswith(
        "elapsed=0:01:15.50 [segment 0 fit 12/400, ETA -:--:--]")
    snap.eta = 3725.0
    assert format_stats_line(snap).endswith("[segment 0 fit 12/400, ETA 1:02:05]")
    assert "[" not in format_stats_line(snap, last=True)


# --- output targets -------------------------------------------------------------------------

def _target(tmp_path, name="out.dinr", content=b"old"):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    return OutputSpec(str(path)), InputSpec(str(tmp_path / "in.mp4"))


def test_existing_output_rules(tmp_path, monkeypatch):
    out, inp = _target(tmp_path)
    outputs.check_output_target(out, inp, GlobalOptions(overwrite=True))
    with pytest.raises(CliError, match=r"File '.*out.dinr' already exists. Exiting."):
        outputs.check_output_target(out, inp, GlobalOptions(no_overwrite=True))
    monkeypatch.setattr(outputs, "stdin_is_terminal", lambda: False)
    with pytest.raises(CliError, match="already exists. Exiting."):
        outputs.check_output_target(out, inp, GlobalOptions())


def test_overwrite_prompt_on_a_terminal(tmp_path, monkeypatch, capsys):
    import io

    out, inp = _target(tmp_path)
    monkeypatch.setattr(outputs, "stdin_is_terminal", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    outputs.check_output_target(out, inp, GlobalOptions())
    assert "already exists. Overwrite? [y/N]" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    with pytest.raises(CliError, match="Not overwriting - exiting"):
        outputs.check_output_target(out, inp, GlobalOptions())
    # -n, -nostdin and stdin as the input never ask
    for opts, spec in ((GlobalOptions(no_overwrite=True), inp),
                       (GlobalOptions(stdin_interaction=False), inp),
                       (GlobalOptions(), InputSpec("-"))):
        with pytest.raises(CliError, match="already exists. Exiting."):
            outputs.check_output_target(out, spec, opts)


def test_same_file_and_missing_folder(tmp_path):
    out, _ = _target(tmp_path)
    with pytest.raises(CliError, match="same as Input #0"):
        outputs.check_output_target(out, InputSpec(out.url), GlobalOptions(overwrite=True))
    missing = OutputSpec(str(tmp_path / "nope" / "x.dinr"))
    with pytest.raises(CliError, match="No such file or directory"):
        outputs.check_output_target(missing, InputSpec("in.mp4"), GlobalOptions())
    with pytest.raises(CliError, match="Is a directory"):
        outputs.check_output_target(OutputSpec(str(tmp_path)), InputSpec("i"), GlobalOptions())


def test_atomic_write_leaves_nothing_behind(tmp_path, monkeypatch):
    out, _ = _target(tmp_path)
    outputs.write_output_bytes(out, b"DINRnew")
    assert Path(out.url).read_bytes() == b"DINRnew"
    assert os.stat(out.url).st_mode & 0o777 == 0o666 & ~outputs._umask()

    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        outputs.write_output_bytes(out, b"DINRnewer")
    assert Path(out.url).read_bytes() == b"DINRnew"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.dinr"]


# --- the command through click ----------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["-foo"], "Unrecognized option 'foo'."),
    (["-i", "a.mp4", "-b"], "Missing argument for option 'b'."),
    (["-i", "a.mp4", "o.mkv", "-y", "-r", "5"], "Trailing option(s) found in the command"),
    (["-hide_banner", "-i", "does-not-exist.mp4", "o.mkv"], "does-not-exist.mp4"),
])
def test_errors_are_one_line_with_status_1(argv, message):
    result = invoke(*argv)
    assert result.exit_code == 1
    assert message in error_line(result)
    assert result.stdout == ""


def test_quiet_prints_nothing():
    result = invoke("-v", "quiet", "-foo")
    assert result.exit_code == 1 and result.stderr == ""
    result = invoke("-v", "quiet", "-i", "does-not-exist.mp4", "o.mkv")
    assert result.exit_code == 1 and result.stderr == ""


@pytest.mark.parametrize("flag", ["-h", "-help", "--help"])
def test_help_goes_to_stdout(flag):
    result = invoke(flag)
    assert result.exit_code == 0
    assert result.stdout.startswith("usage: exvc") and "-b:v RATE" in result.stdout


@pytest.mark.parametrize("flag", ["-version", "--version"])
def test_version(flag):
    from exvc import __version__

    result = invoke(flag)
    assert result.exit_code == 0 and f"exvc version {__version__}" in result.stdout


def test_no_arguments_shows_usage():
    result = invoke()
    assert result.exit_code == 1 and "usage: exvc" in result.stderr
    assert result.stderr.startswith("exvc version ")  # the banner, as ffmpeg
    assert "exvc version" not in invoke("-hide_banner").stderr


def test_click_passes_ffmpeg_arguments_through(monkeypatch):
    seen = []
    monkeypatch.setattr("exvc.cli.main.execute", lambda args: seen.append(args) or 0)
    argv = ["-hide_banner", "-v", "debug", "-i", "-", "-vf", "scale=-1:-1", "-c:v", "inr",
            "-b:v", "1.5M", "-metadata", "k=v=w", "--x=1", "-y", "-"]
    assert invoke(*argv).exit_code == 0
    assert seen == [argv]


def test_cli_import_is_light():
    code = ("import sys, exvc.cli.main; "
            "print(','.join(m for m in ('torch', 'av', 'rich', 'exvc.cli.run') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == ""


def test_python_dash_m_entry_point():
    out = subprocess.run([sys.executable, "-m", "exvc", "-hide_banner", "-i"], cwd=REPO,
                         capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.strip() == "Missing argument for option 'i'."
