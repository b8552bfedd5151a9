"""Dispatch with the real media layer and a stand-in encoder/decoder (monkeypatched), so the
CLI's calls into the codec layers, its output handling and exit statuses are checked without
training any INR."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import types
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from exvc.cli.main import cli
from exvc.encode.settings import EncodeProgress
from exvc.media.types import ColourInfo, VideoInfo

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}

# The stand-in codec: a .dinr is "DINR" + a JSON line + padding; frames decode to a ramp.
FAKE_CODEC = '''
import json
from fractions import Fraction
from types import SimpleNamespace

import numpy as np

from exvc.encode.settings import EncodeProgress
from exvc.media.types import ColourInfo, VideoInfo


def DinrInfo(video, codec, version, file_bytes, sections, metadata, bpp):
    return SimpleNamespace(video=video, codec=codec, version=version, file_bytes=file_bytes,
                           sections=sections, metadata=metadata, bpp=bpp)


CALLS = []


def make_dinr(width, height, fps, frames, metadata=None, pad=100):
    head = {"w": width, "h": height, "fps": str(fps), "n": frames, "meta": metadata or {}}
    return b"DINR" + json.dumps(head).encode() + b"\\n" + bytes(pad)


def probe(data):
    if data[:4] != b"DINR":
        from exvc.bitstream.bytesio import DinrError
        raise DinrError("not a .dinr file (bad magic)")
    head = json.loads(data[4:].split(b"\\n", 1)[0])
    video = VideoInfo(head["w"], head["h"], Fraction(head["fps"]),
                      colour=ColourInfo(1, 1, 1), frames=head["n"])
    return DinrInfo(video, "inr", "1.0", len(data), [("header", 20), ("segment 0", len(data) - 20)],
                    head["meta"], 8 * len(data) / (head["w"] * head["h"] * max(1, head["n"])))


def decode_video(data, threads=None, band_bytes=None, prior=None, hwaccel="cpu"):
    info = probe(data)
    CALLS.append(("decode_video", threads))
    v = info.video

    def frames():
        for i in range(v.frames):
            yield np.full((3, v.height, v.width), i / max(1, v.frames - 1), np.float32)
    return info, frames()


def encode_video(frames, info, settings, on_progress=None):
    got = []
    for frame in frames:
        assert frame.shape == (3, info.height, info.width) and frame.dtype == np.float32
        got.append(frame)
        if on_progress:
            on_progress(EncodeProgress(len(got), len(got), info.frames, 10 * len(got), 0, 1, 1,
                                       "fit"))
    CALLS.append(("encode_video", info, settings, len(got)))
    return make_dinr(info.width, info.height, info.fps, len(got), settings.metadata)
'''


@pytest.fixture
def codec(monkeypatch):
    """Install the stand-in as exvc.encode.encoder and exvc.decode.decoder."""
    module = types.ModuleType("exvc_fake_codec")
    exec(FAKE_CODEC, module.__dict__)
    monkeypatch.setitem(sys.modules, "exvc.encode.encoder", module)
    monkeypatch.setitem(sys.modules, "exvc.decode.decoder", module)
    return module


def write_clip(path: Path, frames: int = 10, size=(32, 24), rate=Fraction(25)) -> Path:
    import av

    w, h = size
    with av.open(str(path), "w") as out:
        stream = out.add_stream("ffv1", rate=rate)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        for i in range(frames):
            rgb = np.full((h, w, 3), 20 * i % 256, np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def read_frames(path: Path) -> list[np.ndarray]:
    from exvc.media.reader import open_input

    with open_input(str(path)) as src:
        return list(src.frames())


def invoke(*args: str, input: bytes | None = None):
    return CliRunner().invoke(cli, ["-hide_banner", *args], input=input)


@pytest.fixture
def clip(tmp_path):
    return write_clip(tmp_path / "in.mkv")


@pytest.fixture
def dinr(tmp_path, codec):
    path = tmp_path / "clip.dinr"
    path.write_bytes(codec.make_dinr(32, 24, 25, 10, {"title": "hello"}))
    return path


def calls(codec, name):
    return [c for c in codec.CALLS if c[0] == name]


# --- encode ---------------------------------------------------------------------------------

def test_encode_builds_settings_from_the_output_geometry(tmp_path, clip, codec):
    out = tmp_path / "out.dinr"
    result = invoke("-i", str(clip), "-vf", "scale=-2:12", "-r", "12.5", "-b:v", "1k",
                    "-preset", "fast", "-seed", "3", "-metadata", "title=x", "-threads", "2",
                    str(out))
    assert result.exit_code == 0, result.stderr
    (_, info, settings, n), = calls(codec, "encode_video")
    assert (info.width, info.height, info.fps) == (16, 12, Fraction(25, 2))
    assert info.frames == n == 5
    assert settings.bpp == pytest.approx(1000 / (16 * 12 * 12.5))
    assert (settings.preset, settings.seed, settings.codec, settings.threads) == (
        "fast", 3, "dinr", 2)
    assert settings.metadata == {"title": "x"}
    assert out.read_bytes()[:4] == b"DINR"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "out.dinr"]
    assert "Output #0, dinr, to" in result.stderr and "video:" in result.stderr


def test_encode_defaults_and_windows(tmp_path, clip, codec):
    out = tmp_path / "out.dinr"
    assert invoke("-ss", "0.08", "-i", str(clip), "-frames:v", "3", str(out)).exit_code == 0
    (_, info, settings, n), = calls(codec, "encode_video")
    assert n == 3 and info.frames == 3 and settings.bpp == 0.02 and settings.preset == "medium"


def test_encode_to_stdout_keeps_stdout_clean(clip, codec):
    result = invoke("-i", str(clip), "-b", "0.1bpp", "-f", "dinr", "-")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"DINR")
    assert codec.probe(result.stdout_bytes).video.frames == 10


@pytest.mark.parametrize("args, message", [
    (["-c:v", "inr", "-prior", "x"], "-prior applies to the dinr encoder, not -c:v inr"),
    (["-c:v", "libx264"], "Unknown encoder 'libx264' for a .dinr output"),
    (["-preset", "ludicrous"], "Invalid preset 'ludicrous'"),
    (["-crf", "20"], "-crf applies to FFmpeg video encoders"),
    (["-c:v", "copy"], "-c:v copy is only supported from a .dinr to a .dinr"),
    (["-c:v", "inr", "-base", "vvc"], "-base applies to the dinr encoder, not -c:v inr"),
    (["-base", "none", "-base_scale", "2"], "-base none codes no base layer"),
    (["-base_scale", "3"], "Invalid value 3 for -base_scale (choose 1, 2 or 4)"),
    (["-base_framestep", "3"], "Invalid value 3 for -base_framestep (choose 1, 2, 4, 8, 16 or 32)"),
    (["-base", "mpeg2"], "Invalid value 'mpeg2' for option '-base': expected one of vvc, "
                         "av1, hevc, none"),
])
def test_encode_option_errors(tmp_path, clip, codec, args, message):
    result = invoke("-i", str(clip), *args, str(tmp_path / "o.dinr"))
    assert result.exit_code == 1 and message in result.stderr.splitlines()[-1]
    assert not (tmp_path / "o.dinr").exists()


def test_encoder_value_error_is_a_user_error(tmp_path, clip, codec, monkeypatch):
    def refuse(frames, info, settings, on_progress=None):
        raise ValueError("bpp 0.0001 is below what the header costs")

    monkeypatch.setattr(codec, "encode_video", refuse)
    result = invoke("-nostats", "-v", "error", "-i", str(clip), str(tmp_path / "o.dinr"))
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("bpp 0.0001 is below what the header costs")
    assert len(result.stderr.splitlines()) == 1


def test_internal_error_status_2_and_traceback_only_in_debug(tmp_path, clip, codec,
                                                             monkeypatch):
    def crash(frames, info, settings, on_progress=None):
        raise RuntimeError("boom")

    monkeypatch.setattr(codec, "encode_video", crash)
    result = invoke("-nostats", "-v", "error", "-i", str(clip), str(tmp_path / "o.dinr"))
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr and "RuntimeError: boom" in result.stderr
    result = invoke("-nostats", "-v", "debug", "-i", str(clip), str(tmp_path / "o.dinr"))
    assert result.exit_code == 2 and "Traceback" in result.stderr


def test_interrupt_exits_255_without_leaving_files(tmp_path, clip, codec, monkeypatch):
    def interrupted(frames, info, settings, on_progress=None):
        next(iter(frames))
        raise KeyboardInterrupt

    monkeypatch.setattr(codec, "encode_video", interrupted)
    result = invoke("-i", str(clip), str(tmp_path / "o.dinr"))
    assert result.exit_code == 255
    assert "received signal 2" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv"]


# --- decode ---------------------------------------------------------------------------------

def test_decode_to_a_video_file(tmp_path, dinr, codec):
    out = tmp_path / "out.y4m"
    result = invoke("-threads", "3", "-i", str(dinr), "-s", "16x12", "-r", "50",
                    "-frames:v", "7", str(out))
    assert result.exit_code == 0, result.stderr
    frames = read_frames(out)
    assert len(frames) == 7 and frames[0].shape == (3, 12, 16)
    assert calls(codec, "decode_video") == [("decode_video", 3)]
    # 25 -> 50 fps doubles every frame: 0, 0, 1, 1, ...
    means = [round(float(f.mean()) * 9) for f in frames]
    assert means == [0, 0, 1, 1, 2, 2, 3]


def test_decode_input_window_and_output_window(tmp_path, dinr, codec):
    out = tmp_path / "out.y4m"
    result = invoke("-ss", "0.08", "-i", str(dinr), "-ss", "0.04", "-t", "0.12", str(out))
    assert result.exit_code == 0, result.stderr
    means = [round(float(f.mean()) * 9) for f in read_frames(out)]
    assert means == [3, 4, 5]  # input skips 2 frames, output one more, then 3 frames


def test_decode_to_stdout_and_null(dinr, codec):
    result = invoke("-i", str(dinr), "-f", "yuv4mpegpipe", "-")
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes.startswith(b"YUV4MPEG2 W32 H24")
    result = invoke("-i", str(dinr), "-f", "null", "-")
    assert result.exit_code == 0 and "frame=   10" in result.stderr


def test_dinr_is_sniffed_by_its_magic(tmp_path, dinr, codec):
    renamed = tmp_path / "clip.bin"
    renamed.write_bytes(dinr.read_bytes())
    result = invoke("-i", str(renamed), str(tmp_path / "a.y4m"))
    assert result.exit_code == 0, result.stderr
    result = invoke("-i", "-", str(tmp_path / "b.y4m"), input=dinr.read_bytes())
    assert result.exit_code == 0, result.stderr
    assert len(read_frames(tmp_path / "b.y4m")) == 10
    result = invoke("-f", "dinr", "-i", "pipe:0", "-f", "null", "-", input=dinr.read_bytes())
    assert result.exit_code == 0, result.stderr


def test_video_on_stdin_is_not_mistaken_for_dinr(tmp_path, codec):
    y4m = tmp_path / "in.y4m"
    assert invoke("-i", str(write_clip(tmp_path / "c.mkv")), str(y4m)).exit_code == 0
    result = invoke("-i", "-", str(tmp_path / "o.dinr"), input=y4m.read_bytes())
    assert result.exit_code == 0, result.stderr
    assert calls(codec, "encode_video")[0][3] == 10


def test_corrupt_dinr_is_one_line(tmp_path, codec):
    bad = tmp_path / "bad.dinr"
    bad.write_bytes(b"XXXX not a dinr")
    result = invoke("-f", "dinr", "-i", str(bad), str(tmp_path / "o.y4m"))
    assert result.exit_code == 1
    assert result.stderr.strip() == f"{bad}: not a .dinr file (bad magic)"


def test_dinr_input_rejects_size_options(tmp_path, dinr, codec):
    result = invoke("-s", "8x8", "-i", str(dinr), str(tmp_path / "o.y4m"))
    assert result.exit_code == 1 and "cannot be applied to a .dinr input" in result.stderr


# --- copy, transcode, info ------------------------------------------------------------------

def test_dinr_to_dinr_is_a_copy(tmp_path, dinr, codec):
    out = tmp_path / "copy.dinr"
    assert invoke("-i", str(dinr), str(out)).exit_code == 0
    assert out.read_bytes() == dinr.read_bytes() and not calls(codec, "decode_video")
    result = invoke("-i", str(dinr), "-c:v", "copy", "-b", "1k", str(tmp_path / "x.dinr"))
    assert result.exit_code == 1 and "cannot be used with -c:v copy" in result.stderr


def test_dinr_to_dinr_with_new_rate_reencodes(tmp_path, dinr, codec):
    result = invoke("-i", str(dinr), "-b", "0.5bpp", str(tmp_path / "re.dinr"))
    assert result.exit_code == 0, result.stderr
    assert calls(codec, "decode_video") and calls(codec, "encode_video")[0][2].bpp == 0.5


def test_transcode_video_to_video(tmp_path, clip):
    out = tmp_path / "out.y4m"
    result = invoke("-i", str(clip), "-vf", "scale=16:-2", "-r", "5", str(out))
    assert result.exit_code == 0, result.stderr
    frames = read_frames(out)
    assert len(frames) == 2 and frames[0].shape == (3, 12, 16)


def test_vf_graph_on_a_transcode(tmp_path):
    src = tmp_path / "in.mkv"
    write_clip(src, frames=4, size=(32, 24))
    out = tmp_path / "out.y4m"
    result = invoke("-i", str(src), "-vf", "crop=16:12:0:0,hflip,fps=50", str(out))
    assert result.exit_code == 0, result.stderr
    frames = read_frames(out)
    # 4 frames at 25 fps -> 8 at 50, each of 16x12; the grey levels repeat pairwise
    assert len(frames) == 8 and frames[0].shape == (3, 12, 16)
    means = [round(float(f.mean()) * 255 / 20) for f in frames]
    assert means == [0, 0, 1, 1, 2, 2, 3, 3]


def test_vf_graph_on_a_decode_and_an_encode(tmp_path, dinr, codec):
    out = tmp_path / "out.y4m"
    result = invoke("-i", str(dinr), "-vf", "crop=iw/2:ih/2,format=gray", str(out))
    assert result.exit_code == 0, result.stderr
    frames = read_frames(out)
    assert len(frames) == 10 and frames[0].shape == (3, 12, 16)
    result = invoke("-i", str(tmp_path / "out.y4m"), "-vf", "pad=20:16", "-b", "0.1bpp",
                    str(tmp_path / "re.dinr"))
    assert result.exit_code == 0, result.stderr
    (_, info, settings, n), = calls(codec, "encode_video")
    assert (info.width, info.height, info.frames, n) == (20, 16, 10, 10)


def test_a_bad_preset_names_the_encoder_in_use(tmp_path, clip, codec):
    for args, name in ((["-preset", "placebo"], "dinr"),
                       (["-c:v", "inr", "-preset", "placebo"], "inr")):
        result = invoke("-i", str(clip), *args, str(tmp_path / "o.dinr"))
        assert result.exit_code == 1
        assert result.stderr.strip().splitlines()[-1].startswith(
            f"Invalid preset 'placebo' for the {name} encoder; expected one of ultrafast")
        assert not calls(codec, "encode_video")


@pytest.mark.parametrize("graph, message", [
    ("crop=400:300", "Error in the filter graph 'crop=400:300': Invalid too big or non "
                     "positive size for width '400' or height '300'"),
    ("nosuch=1", "Error parsing the filter graph 'nosuch=1': No such filter: 'nosuch'"),
    ("split", "Simple filtergraph 'split' was expected to have exactly 1 input and 1 output"),
])
def test_a_bad_graph_is_one_line_and_writes_nothing(tmp_path, clip, graph, message):
    out = tmp_path / "out.mkv"
    result = invoke("-i", str(clip), "-vf", graph, str(out))
    assert result.exit_code == 1
    assert message in result.stderr.strip().splitlines()[-1]
    assert not out.exists()


def test_info_only_prints_the_input_and_exits_1(dinr, clip, codec):
    result = invoke("-i", str(dinr))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"Input #0, dinr, from '{dinr}':"
    assert "    title           : hello" in lines
    assert any(re.match(r"  Duration: 00:00:00\.40, start: 0\.000000, bitrate: [\d.]+ kb/s", x)
               for x in lines)
    assert any(x.startswith("  Stream #0:0: Video: inr (exvc INR), yuv420p(tv, bt709), 32x24, "
                            "25 fps, 10 frames, ") for x in lines)
    assert any(re.match(r"\s+segment 0\s+:\s+\d+ bytes", x) for x in lines)
    assert lines[-1] == "At least one output file must be specified"
    result = invoke("-i", str(clip))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"Input #0, matroska, from '{clip}':"
    assert "32x24, 25 fps, 10 frames" in result.stderr
    assert result.stderr.splitlines()[-1] == "At least one output file must be specified"


def test_probe_path_does_not_import_torch(tmp_path, dinr):
    script = tmp_path / "probe_check.py"
    script.write_text(textwrap.dedent(f"""
        import sys, types
        fake = types.ModuleType("fake")
        exec({FAKE_CODEC!r}, fake.__dict__)
        sys.modules["exvc.decode.decoder"] = fake
        from exvc.cli.main import execute
        code = execute(["-i", {str(dinr)!r}])
        print(code, "torch" in sys.modules)
    """))
    out = subprocess.run([sys.executable, str(script)], cwd=REPO, env=ENV,
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "False"]


# --- output rules, progress -------------------------------------------------------------------

def test_existing_output_needs_y(tmp_path, clip, codec):
    out = tmp_path / "o.dinr"
    out.write_bytes(b"precious")
    for flags in ([], ["-n"]):
        result = invoke(*flags, "-i", str(clip), str(out))
        assert result.exit_code == 1
        assert result.stderr.splitlines()[-1] == f"File '{out}' already exists. Exiting."
        assert out.read_bytes() == b"precious"
    assert invoke("-y", "-i", str(clip), str(out)).exit_code == 0
    assert out.read_bytes()[:4] == b"DINR"


def test_stdout_output_needs_a_format(clip):
    result = invoke("-i", str(clip), "-")
    assert result.exit_code == 1 and "Unable to choose an output format" in result.stderr


def test_a_transcode_reports_the_size_it_wrote(tmp_path, clip):
    progress = tmp_path / "p.txt"
    out = tmp_path / "o.mkv"
    result = invoke("-progress", str(progress), "-i", str(clip), str(out))
    assert result.exit_code == 0, result.stderr
    last = progress.read_text().split("progress=continue\n")[-1].splitlines()
    assert f"total_size={out.stat().st_size}" in last
    assert re.search(r"Lsize=\s+\d+kB", result.stderr) and "Lsize=N/A" not in result.stderr


def test_progress_file_and_stats(tmp_path, clip, codec):
    progress = tmp_path / "p.txt"
    result = invoke("-progress", str(progress), "-i", str(clip), str(tmp_path / "o.dinr"))
    assert result.exit_code == 0, result.stderr
    text = progress.read_text()
    assert text.endswith("progress=end\n")
    last = dict(x.split("=", 1) for x in text.split("progress=continue\n")[-1].splitlines())
    assert last["frame"] == "10" and last["out_time_us"] == "400000"
    assert int(last["total_size"]) == (tmp_path / "o.dinr").stat().st_size
    assert re.search(r"frame=\s+10 fps=.* Lsize=\s+\d+kB time=00:00:00\.40 ", result.stderr)
    quiet = invoke("-y", "-nostats", "-i", str(clip), str(tmp_path / "o.dinr"))
    assert "frame=" not in quiet.stderr
    assert "frame=" not in invoke("-y", "-v", "error", "-i", str(clip),
                                  str(tmp_path / "o.dinr")).stderr
    only_stats = invoke("-y", "-v", "error", "-stats", "-i", str(clip), str(tmp_path / "o.dinr"))
    assert only_stats.stderr.startswith("frame=") and "Input #0" not in only_stats.stderr


def test_progress_to_stdout_conflicts_with_stdout_output(clip):
    result = invoke("-progress", "pipe:1", "-i", str(clip), "-f", "dinr", "-")
    assert result.exit_code == 1 and "-progress cannot write to stdout" in result.stderr


def test_decode_interrupt_aborts_the_sink(tmp_path, dinr, codec, monkeypatch):
    real = codec.decode_video

    def interrupted(data, threads=None, prior=None, hwaccel="cpu"):
        info, frames = real(data, threads)

        def gen():
            yield next(frames)
            raise KeyboardInterrupt
        return info, gen()

    monkeypatch.setattr(codec, "decode_video", interrupted)
    result = invoke("-i", str(dinr), str(tmp_path / "o.mkv"))
    assert result.exit_code == 255
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.dinr"]


def test_broken_pipe_exits_1_quietly(tmp_path, dinr):
    script = tmp_path / "pipe_check.py"
    script.write_text(textwrap.dedent(f"""
        import sys, types
        fake = types.ModuleType("fake")
        exec({FAKE_CODEC!r}, fake.__dict__)
        _decode = fake.decode_video

        def decode_video(data, threads=None, prior=None, hwaccel="cpu"):  # a long clip
            info, _ = _decode(data, threads)
            import numpy as np
            return info, (np.zeros((3, 24, 32), np.float32) for _ in range(100000))

        fake.decode_video = decode_video
        sys.modules["exvc.decode.decoder"] = fake
        from exvc.cli.main import main
        main(sys.argv[1:])
    """))
    reader = subprocess.Popen(["head", "-c", "100"], stdin=subprocess.PIPE,
                              stdout=subprocess.DEVNULL)
    writer = subprocess.run([sys.executable, str(script), "-hide_banner", "-i", str(dinr),
                             "-f", "yuv4mpegpipe", "-"], cwd=REPO, env=ENV, stdout=reader.stdin,
                            stderr=subprocess.PIPE, text=True, timeout=120)
    reader.stdin.close()
    reader.wait()
    assert writer.returncode == 1
    assert "Traceback" not in writer.stderr and "Exception ignored" not in writer.stderr


def test_stand_in_matches_the_real_interfaces():
    """Guards the fixture against the real codec: the stand-in's functions take the real
    ones' leading parameters, in order (what the real ones add is optional), and its info
    has the real DinrInfo's fields, in order, so a change of either breaks this test."""
    import dataclasses
    import inspect

    from exvc.decode import decoder
    from exvc.encode import encoder

    fake = types.ModuleType("fake")
    exec(FAKE_CODEC, fake.__dict__)
    for name, real in (("decode_video", decoder.decode_video), ("probe", decoder.probe),
                       ("encode_video", encoder.encode_video)):
        mine = list(inspect.signature(getattr(fake, name)).parameters)
        theirs = inspect.signature(real).parameters
        assert mine == list(theirs)[:len(mine)], name
        assert all(p.default is not inspect.Parameter.empty
                   for n, p in theirs.items() if n not in mine), name
    fields = [f.name for f in dataclasses.fields(decoder.DinrInfo)]
    assert list(inspect.signature(fake.DinrInfo).parameters) == fields[:7]
    info = fake.probe(fake.make_dinr(8, 8, Fraction(30000, 1001), 2))
    assert isinstance(info.video, VideoInfo) and info.video.fps == Fraction(30000, 1001)
    assert isinstance(info.video.colour, ColourInfo)
    assert [f.name for f in dataclasses.fields(EncodeProgress)][-1] == "stage"
    assert EncodeProgress(1, 1, 1, 1, 0, 1, 1, "fit").frames_done == 1
