"""Media layer: PyAV input/output, pipes, trimming, rate conversion, atomic output, errors."""

from __future__ import annotations

import hashlib
import io
import os
import re
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from exvc.media.errors import MediaError, OutputClosed
from exvc.media.probe import PrefixedReader, is_dinr_bytes, peek_input
from exvc.media.quality import psnr
from exvc.media.reader import InputOptions, open_input
from exvc.media.types import ColourInfo, VideoInfo
from exvc.media.writer import OutputOptions, open_output

REPO = Path(__file__).resolve().parent.parent


def read_all(url, opts: InputOptions | None = None, **kw) -> tuple[VideoInfo, list[np.ndarray]]:
    with open_input(url, opts or InputOptions()) as src:
        return src.info, list(src.frames(**kw))


def write_all(path, info: VideoInfo, frames, opts: OutputOptions | None = None) -> str:
    with open_output(str(path), info, opts or OutputOptions()) as sink:
        for f in frames:
            sink.write(f)
        return sink.pix_fmt


def pipe_reader(data: bytes):
    """A real non-seekable pipe fed by a thread, as stdin would be."""
    r, w = os.pipe()

    def feed() -> None:
        with open(w, "wb") as f:
            try:
                f.write(data)
            except BrokenPipeError:
                pass

    threading.Thread(target=feed, daemon=True).start()
    return open(r, "rb", buffering=0)


def worst(ref: list[np.ndarray], got: list[np.ndarray]) -> float:
    """Lowest PSNR over the delivered frames, against the first len(got) references."""
    assert 0 < len(got) <= len(ref)
    return min(psnr(a, b) for a, b in zip(ref[: len(got)], got, strict=True))


def to8(frame: np.ndarray) -> np.ndarray:
    return np.rint(frame * 255).astype(np.uint8)


def nearest(frame: np.ndarray, refs: list[np.ndarray]) -> int:
    return int(np.argmin([np.mean((frame - r) ** 2) for r in refs]))


@pytest.fixture(scope="module")
def sample_frames(media_sample) -> list[np.ndarray]:
    return read_all(str(media_sample))[1]


# --- the sample clip --------------------------------------------------------------------

def test_sample_clip(media_sample, sample_frames):
    assert media_sample.stat().st_size <= 1_000_000
    with open_input(str(media_sample)) as src:
        info = src.info
    assert (info.width, info.height, info.fps, info.frames) == (192, 108, Fraction(25), 48)
    assert info.pix_fmt == "yuv420p" and info.bit_depth == 8
    assert len(sample_frames) == 48
    f = sample_frames[0]
    assert f.shape == (3, 108, 192) and f.dtype == np.float32
    assert 0.0 <= f.min() and f.max() <= 1.0 and f.std() > 0.05
    readme = (REPO / "samples" / "README.md").read_text()
    digest = hashlib.sha256(media_sample.read_bytes()).hexdigest()
    assert digest in readme, "samples/README.md states a stale sha256"
    assert "Blender Foundation" in readme and "CC BY 3.0" in readme.replace("Attribution 3.0",
                                                                            "CC BY 3.0")


# --- writing and reading back -----------------------------------------------------------

@pytest.mark.parametrize("ext", ["y4m", "mkv", "mp4", "nut"])
@pytest.mark.parametrize("fps", [Fraction(25), Fraction(30000, 1001)])
def test_roundtrip_containers(tmp_path, ext, fps, media_frames):
    frames = media_frames(6, 64, 36)
    info = VideoInfo(64, 36, fps, pix_fmt="yuv444p")
    write_all(tmp_path / f"o.{ext}", info, frames)
    got_info, got = read_all(str(tmp_path / f"o.{ext}"))
    assert len(got) == 6 and got_info.frames == 6
    assert got_info.fps == fps and isinstance(got_info.fps, Fraction)
    assert (got_info.width, got_info.height) == (64, 36)
    quality = worst(frames, got)
    assert quality > (40 if ext == "mp4" else 48), quality
    assert os.listdir(tmp_path) == [f"o.{ext}"]  # no temporary file left behind


def test_default_codecs_and_formats(tmp_path, media_frames):
    info = VideoInfo(64, 36, Fraction(25), pix_fmt="yuv420p")
    frames = media_frames(2, 64, 36)
    expect = {"mp4": ("h264", "yuv420p"), "mkv": ("ffv1", "yuv420p"),
              "y4m": ("rawvideo", "yuv420p"), "nut": ("rawvideo", "yuv420p")}
    for ext, (codec, pix_fmt) in expect.items():
        write_all(tmp_path / f"d.{ext}", info, frames)
        with av.open(str(tmp_path / f"d.{ext}")) as c:
            s = c.streams.video[0]
            assert (s.codec_context.name, s.codec_context.format.name) == (codec, pix_fmt), ext


def test_mp4_default_quality_on_real_clip(tmp_path, sample_frames):
    info = VideoInfo(192, 108, Fraction(25))
    write_all(tmp_path / "bbb.mp4", info, sample_frames[:8])
    _, got = read_all(str(tmp_path / "bbb.mp4"))
    assert len(got) == 8
    assert worst(sample_frames, got) > 40


def test_ffv1_rgb_is_lossless(tmp_path, media_frames):
    frames = media_frames(3, 48, 32)
    info = VideoInfo(48, 32, Fraction(25), pix_fmt="rgb24")
    assert write_all(tmp_path / "rgb.mkv", info, frames) == "bgr0"
    _, got = read_all(str(tmp_path / "rgb.mkv"))
    assert all(np.array_equal(to8(a), to8(b)) for a, b in zip(frames, got, strict=True))


def test_ffv1_yuv420_roundtrip_of_decoded_video(tmp_path, sample_frames):
    """Frames read from a 4:2:0 source survive a 4:2:0 ffv1 round trip almost exactly."""
    info = VideoInfo(192, 108, Fraction(25), pix_fmt="yuv420p")
    write_all(tmp_path / "bbb.mkv", info, sample_frames[:4])
    _, got = read_all(str(tmp_path / "bbb.mkv"))
    assert worst(sample_frames, got) > 45


def test_ten_bit_roundtrip_keeps_depth(tmp_path, media_frames):
    frames = media_frames(3, 64, 36, quantise=None)
    info = VideoInfo(64, 36, Fraction(25), pix_fmt="yuv444p10le", bit_depth=10)
    assert write_all(tmp_path / "t.mkv", info, frames) == "yuv444p10le"
    got_info, got = read_all(str(tmp_path / "t.mkv"))
    assert got_info.bit_depth == 10 and got_info.pix_fmt == "yuv444p10le"
    assert worst(frames, got) > 58  # 8 bits would cap near 50 dB


@pytest.mark.parametrize("ext", ["mkv", "y4m", "mp4"])
def test_odd_size(tmp_path, ext, media_frames):
    frames = media_frames(3, 175, 143)
    info = VideoInfo(175, 143, Fraction(25), pix_fmt="yuv420p")
    pix_fmt = write_all(tmp_path / f"odd.{ext}", info, frames)
    assert pix_fmt == ("yuv444p" if ext == "mp4" else "yuv420p")
    got_info, got = read_all(str(tmp_path / f"odd.{ext}"))
    assert (got_info.width, got_info.height) == (175, 143)
    assert len(got) == 3 and got[0].shape == (3, 143, 175)
    assert worst(frames, got) > 35


def test_explicit_codec_and_pix_fmt(tmp_path, media_frames):
    info = VideoInfo(64, 36, Fraction(25))
    frames = media_frames(2, 64, 36)
    opts = OutputOptions(codec="libx264", pix_fmt="yuv444p", codec_options={"crf": "0"})
    write_all(tmp_path / "x.mkv", info, frames, opts)
    with av.open(str(tmp_path / "x.mkv")) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.video[0].codec_context.format.name == "yuv444p"
    with pytest.raises(MediaError, match="cannot encode"):
        open_output(str(tmp_path / "y.mp4"), info, OutputOptions(pix_fmt="rgb48le"))
    with pytest.raises(MediaError, match="odd size"):
        open_output(str(tmp_path / "y.mp4"), info.with_(width=63), OutputOptions(pix_fmt="yuv420p"))
    assert sorted(os.listdir(tmp_path)) == ["x.mkv"]


def test_metadata_and_colour_tags(tmp_path, media_frames):
    frames = media_frames(2, 64, 36)
    colour = ColourInfo(matrix=1, primaries=1, transfer=1, full_range=False)
    info = VideoInfo(64, 36, Fraction(25), pix_fmt="yuv444p", colour=colour)
    write_all(tmp_path / "c.mkv", info, frames, OutputOptions(metadata={"title": "exvc test"}))
    with av.open(str(tmp_path / "c.mkv")) as c:
        assert c.metadata.get("title") == "exvc test" or c.metadata.get("TITLE") == "exvc test"
        raw = next(c.decode(video=0))
    got_info, got = read_all(str(tmp_path / "c.mkv"))
    assert got_info.colour == colour
    assert psnr(frames[0], got[0]) > 48
    # Decoding with the wrong (BT.601) matrix would be visibly off: the tag is what we used.
    wrong = raw.reformat(format="rgb24", src_colorspace=5).to_ndarray().transpose(2, 0, 1) / 255
    assert psnr(frames[0], wrong) < psnr(frames[0], got[0]) - 10


# --- source formats -----------------------------------------------------------------------

def test_read_10bit_source(media_clip):
    path = media_clip("ten.mkv", frames=3, pix_fmt="yuv420p10le")
    info, got = read_all(path)
    assert info.pix_fmt == "yuv420p10le" and info.bit_depth == 10 and len(got) == 3
    off_grid = np.abs(got[0] * 255 - np.rint(got[0] * 255)) > 1e-3
    assert off_grid.mean() > 0.5  # not squeezed through 8 bits


@pytest.mark.parametrize("pix_fmt,codec,ext", [("yuv444p", "ffv1", "mkv"),
                                               ("gray", "ffv1", "mkv"),
                                               ("rgb24", "rawvideo", "nut")])
def test_read_source_formats(media_clip, pix_fmt, codec, ext, media_frames):
    path = media_clip(f"s.{ext}", frames=4, pix_fmt=pix_fmt, codec=codec)
    info, got = read_all(path)
    assert info.pix_fmt == pix_fmt and info.bit_depth == 8 and len(got) == 4
    want = media_frames(4, 64, 36)
    if pix_fmt == "gray":
        assert np.array_equal(got[0][0], got[0][1]) and np.array_equal(got[0][1], got[0][2])
    elif pix_fmt == "rgb24":
        with av.open(path) as c:
            stored = next(c.decode(video=0)).to_ndarray().transpose(2, 0, 1)
        assert np.array_equal(to8(got[0]), stored)
        assert worst(want, got) > 50
    else:
        assert worst(want, got) > 45


def test_rawvideo_from_file_object():
    w, h, n = 32, 18, 5
    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, n * w * h * 3, dtype=np.uint8).tobytes()
    opts = InputOptions(fmt="rawvideo", video_size=(w, h), pix_fmt="rgb24",
                        framerate=Fraction(30000, 1001))
    info, got = read_all(io.BufferedReader(io.BytesIO(data)), opts)
    assert info.fps == Fraction(30000, 1001) and (info.width, info.height) == (w, h)
    assert len(got) == n
    first = np.frombuffer(data[: w * h * 3], np.uint8).reshape(h, w, 3).transpose(2, 0, 1)
    assert np.array_equal(np.rint(got[0] * 255).astype(np.uint8), first)


@pytest.mark.parametrize("opts,match", [
    (InputOptions(fmt="rawvideo"), "frame size"),
    (InputOptions(fmt="rawvideo", video_size=(0, 4)), "invalid rawvideo frame size"),
    (InputOptions(fmt="rawvideo", video_size=(4, 4), pix_fmt="nope"), "unknown pixel format"),
    (InputOptions(fmt="nosuchformat"), "unknown input format"),
])
def test_bad_input_options(opts, match):
    with pytest.raises(MediaError, match=match):
        open_input(io.BytesIO(b"\0" * 64), opts)


# --- pipes ----------------------------------------------------------------------------------

@pytest.mark.parametrize("ext,fmt,codec", [("y4m", "yuv4mpegpipe", "rawvideo"),
                                           ("nut", "nut", "rawvideo"),
                                           ("mkv", "matroska", "ffv1"),
                                           ("mp4", "mp4", "libx264")])
def test_read_from_pipe(media_clip, ext, fmt, codec):
    path = media_clip(f"p.{ext}", frames=7, codec=codec, fmt=fmt)
    with open(path, "rb") as f:
        data = f.read()
    with open_input(pipe_reader(data)) as src:
        spool = src._spool
        if ext == "mp4":
            assert spool and os.path.exists(spool) and src.info.frames == 7
        else:
            assert spool is None and src.info.frames is None
        got = list(src.frames())
    assert len(got) == 7 and got[0].shape == (3, 36, 64)
    assert spool is None or not os.path.exists(spool)


def test_trim_on_pipe(media_clip):
    path = media_clip("t.y4m", frames=8, codec="rawvideo", fmt="yuv4mpegpipe")
    with open(path, "rb") as f:
        data = f.read()
    _, everything = read_all(path)
    info, got = read_all(pipe_reader(data), InputOptions(start=0.2, duration=0.08))
    assert info.frames is None and len(got) == 2
    assert np.array_equal(got[0], everything[5]) and np.array_equal(got[1], everything[6])


def test_stdin_and_stdout_dash(media_clip):
    """Real `-` stdin (peeked for DINR first) and `-` stdout, in a child process."""
    path = media_clip("in.y4m", frames=5, codec="rawvideo", fmt="yuv4mpegpipe")
    script = (
        "from exvc.media.probe import peek_input, is_dinr_bytes\n"
        "from exvc.media.reader import open_input, InputOptions\n"
        "from exvc.media.writer import open_output, OutputOptions\n"
        "head, _ = peek_input('-')\n"
        "assert head == b'YUV4' and not is_dinr_bytes(head)\n"
        "with open_input('-', InputOptions()) as s:\n"
        "    with open_output('-', s.info, OutputOptions(fmt='nut')) as o:\n"
        "        for f in s.frames(): o.write(f)\n"
    )
    with open(path, "rb") as stdin:
        res = subprocess.run([sys.executable, "-c", script], stdin=stdin, capture_output=True,
                             cwd=REPO, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    assert res.stdout.startswith(b"nut/multimedia container")
    info, got = read_all(pipe_reader(res.stdout))
    assert len(got) == 5 and info.fps == 25
    _, orig = read_all(path)
    assert worst(orig, got) > 45


def test_write_to_pipe_needs_format_and_fragments_mp4(media_frames):
    info = VideoInfo(64, 36, Fraction(25))
    with pytest.raises(MediaError, match="use -f"):
        open_output("-", info, OutputOptions())
    r, w = os.pipe()
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(open(r, "rb").read()))
    reader.start()
    with open(w, "wb") as out:
        with open_output(out, info, OutputOptions(fmt="mp4")) as sink:
            for f in media_frames(4, 64, 36):
                sink.write(f)
    reader.join()
    assert chunks[0][4:8] == b"ftyp"
    _, got = read_all(pipe_reader(chunks[0]))
    assert len(got) == 4


def test_closed_pipe_raises_output_closed():
    r, w = os.pipe()
    os.close(r)
    out = open(w, "wb", buffering=0)
    info = VideoInfo(320, 180, Fraction(25))
    try:
        with pytest.raises(OutputClosed, match=r"was closed by the reader"):
            with open_output(out, info, OutputOptions(fmt="yuv4mpegpipe")) as sink:
                for _ in range(10):
                    sink.write(np.zeros((3, 180, 320), np.float32))
    finally:
        out.close()


def test_peek_keeps_prefix(tmp_path):
    p = tmp_path / "x.dinr"
    p.write_bytes(b"DINR\x01\x00rest")
    head, again = peek_input(str(p))
    assert is_dinr_bytes(head) and again == str(p)
    stream = PrefixedReader(io.BytesIO(b"DINR\x01\x00rest"))
    head, again = peek_input(stream)
    assert head == b"DINR" and again.read() == b"DINR\x01\x00rest"
    assert not is_dinr_bytes(b"\x00\x00\x00\x18ftyp")


# --- trimming and rate ---------------------------------------------------------------------

@pytest.mark.parametrize("opts,first,count", [
    (InputOptions(start=0.4), 10, 38),
    (InputOptions(start=0.4, duration=0.4), 10, 10),
    (InputOptions(start=1.0, end=1.6), 25, 15),
    (InputOptions(end=0.2), 0, 5),
])
def test_trim_by_time(media_sample, sample_frames, opts, first, count):
    with open_input(str(media_sample), opts) as src:
        assert src.info.frames == count
        got = list(src.frames())
    assert len(got) == count
    assert [nearest(g, sample_frames) for g in got[:3]] == [first, first + 1, first + 2]
    assert np.array_equal(got[0], sample_frames[first])


def test_max_frames_and_size(media_sample):
    with open_input(str(media_sample), InputOptions(start=0.2)) as src:
        assert src.expected_frames(max_frames=4) == 4
        got = list(src.frames(max_frames=4, size=(96, 54)))
        assert src.info_for(4, (96, 54)).frames == 4
    assert len(got) == 4 and got[0].shape == (3, 54, 96)


def test_rate_conversion(media_sample, sample_frames):
    with open_input(str(media_sample)) as src:
        assert src.expected_frames(rate=Fraction(25, 2)) == 24
        half = list(src.frames(rate=Fraction(25, 2)))
    assert len(half) == 24
    assert [nearest(f, sample_frames) for f in half[:4]] == [0, 2, 4, 6]
    with open_input(str(media_sample), InputOptions(end=0.4)) as src:
        double = list(src.frames(rate=Fraction(50)))
    assert len(double) == 20
    assert [nearest(f, sample_frames) for f in double[:5]] == [0, 0, 1, 1, 2]


def test_forced_input_rate(media_clip):
    path = media_clip("r.mkv", frames=10)
    info, got = read_all(path, InputOptions(framerate=Fraction(50), start=0.1))
    assert info.fps == 50 and len(got) == 5


# --- atomic output -------------------------------------------------------------------------

def test_atomic_output(tmp_path, media_frames):
    target = tmp_path / "out.mkv"
    target.write_bytes(b"old")
    info = VideoInfo(64, 36, Fraction(25))
    sink = open_output(str(target), info, OutputOptions())
    sink.write(media_frames(1, 64, 36)[0])
    temps = [n for n in os.listdir(tmp_path) if n != "out.mkv"]
    assert len(temps) == 1 and temps[0].startswith(".out.") and temps[0].endswith(".mkv")
    assert target.read_bytes() == b"old"
    sink.abort()
    assert os.listdir(tmp_path) == ["out.mkv"] and target.read_bytes() == b"old"

    with open_output(str(target), info, OutputOptions()) as sink:
        sink.write(media_frames(1, 64, 36)[0])
        assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.mkv"] and target.read_bytes() != b"old"
    assert len(read_all(str(target))[1]) == 1

    with pytest.raises(RuntimeError, match=r"^encoder crashed$"):
        with open_output(str(target), info, OutputOptions()) as sink:
            raise RuntimeError("encoder crashed")
    assert os.listdir(tmp_path) == ["out.mkv"]


def test_output_errors(tmp_path):
    info = VideoInfo(64, 36, Fraction(25))
    cases = [(str(tmp_path / "x.unknownext"), OutputOptions(), "use -f"),
             (str(tmp_path / "x.mp4"), OutputOptions(fmt="nosuchmuxer"), "unknown output format"),
             (str(tmp_path / "x.mp4"), OutputOptions(codec="nosuchcodec"), "unknown encoder"),
             (str(tmp_path / "missing" / "x.mp4"), OutputOptions(), "cannot write")]
    for url, opts, match in cases:
        with pytest.raises(MediaError, match=match):
            open_output(url, info, opts)
    assert os.listdir(tmp_path) == []


# --- input errors ----------------------------------------------------------------------------

def _audio_only(path) -> str:
    with av.open(str(path), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        c.mux(s.encode(frame))
        c.mux(s.encode(None))
    return str(path)


def test_input_errors(tmp_path, media_clip):
    mp4 = media_clip("good.mp4", frames=8, codec="libx264")
    with open(mp4, "rb") as f:
        data = f.read()
    (tmp_path / "trunc.mp4").write_bytes(data[: len(data) // 2])
    (tmp_path / "notes.txt").write_text("not a video at all\n" * 50)
    (tmp_path / "notes.mp4").write_text("not a video at all\n" * 50)
    (tmp_path / "empty.mkv").write_bytes(b"")
    cases = {
        str(tmp_path / "missing.mp4"): "no such file",
        str(tmp_path / "notes.txt"): "text file|not a video",
        str(tmp_path / "notes.mp4"): "not a video",
        str(tmp_path / "empty.mkv"): "empty",
        str(tmp_path / "trunc.mp4"): "corrupt or truncated",
        _audio_only(tmp_path / "a.wav"): "no video stream in",
        str(tmp_path): "directory",
    }
    for url, match in cases.items():
        with pytest.raises(MediaError, match=match) as exc:
            with open_input(url) as src:
                list(src.frames())
        message = str(exc.value)
        assert "\n" not in message and re.search(r"\S", message)
    with pytest.raises(MediaError, match="empty"):
        open_input(io.BytesIO(b""))


def test_which_names_are_image_sequences():
    from exvc.media.image_names import is_image_name, is_image_pattern, pattern_regex

    assert is_image_pattern("out_%03d.png") and is_image_pattern("d/f%d.JPG")
    assert not is_image_pattern("frame.png") and not is_image_pattern("o%d.mkv")
    assert is_image_name("a.tiff") and not is_image_name("a.mkv")
    names = pattern_regex("dir/out_%03d.png")
    assert names.fullmatch("out_001.png") and names.fullmatch("out_1000.png")
    assert not names.fullmatch("out_.png") and not names.fullmatch("xout_001.png")
