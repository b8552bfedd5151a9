"""The base layer (format 1.3): BASE payloads, stream packing, each codec's round trip, a base
at reduced size and rate, the enhancement INR, the fallback without VVC, hostile streams,
and repeatable decoding."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch

from exvc.bitstream.base import (
    AV1,
    HEVC,
    VVC,
    BasePayload,
    pack,
    read_base,
    to_decoder,
    write_base,
)
from exvc.bitstream.bytesio import DinrError
from exvc.bitstream.container import BASE, HEAD, SEGMENT, Chunk, read_container, write_container
from exvc.decode.decoder import decode_video, parse_stream, probe
from exvc.encode.base_coder import BaseConfig, code_base
from exvc.encode.encoder import encode_video, make_header
from exvc.encode.settings import EncodeSettings
from exvc.media import base_codecs
from exvc.media.base_video import expand_frames, to_pictures
from exvc.media.quality import psnr
from exvc.media.types import VideoInfo

pytestmark = pytest.mark.slow  # encodes, trains or decodes with the prior

W, H, T = 64, 48, 8
CODEC_IDS = {"hevc": HEVC, "av1": AV1, "vvc": VVC}
CODECS = [c for c in ("vvc", "av1", "hevc") if base_codecs.available(c)]


def clip(n: int = T, w: int = W, h: int = H) -> np.ndarray:
    """A moving pattern with edges and texture: float32 (n, 3, h, w) on the 8-bit grid."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for i in range(n):
        r = 0.5 + 0.35 * np.sin((x + 2 * i) / 5.0) * np.cos(y / 7.0)
        g = 0.5 + 0.3 * np.sign(np.sin((x - y + 3 * i) / 9.0))
        b = 0.5 + 0.3 * np.cos((x + y) / 11.0 + 0.4 * i)
        frames.append(np.rint(np.clip(np.stack([r, g, b]), 0, 1) * 255) / 255)
    return np.stack(frames).astype(np.float32)


def info_for(video: np.ndarray) -> VideoInfo:
    n, _, h, w = video.shape
    return VideoInfo(w, h, Fraction(25), pix_fmt="yuv420p", bit_depth=8, frames=n)


def encode(video: np.ndarray, bpp: float = 0.6, **settings) -> bytes:
    settings.setdefault("preset", "ultrafast")
    return encode_video(iter(video), info_for(video), EncodeSettings(bpp=bpp, **settings))


def decode(data: bytes) -> np.ndarray:
    return np.stack(list(decode_video(data)[1]))


def as_8bit(frames: np.ndarray) -> np.ndarray:
    """``frames`` as an 8-bit output would deliver them (clipped, rounded), for ``psnr``."""
    return np.rint(np.clip(frames, 0, 1) * 255) / 255


# -- payload and packing ---------------------------------------------------------------------


def test_a_base_payload_round_trips():
    p = BasePayload(12, VVC, 32, 24, 2, 0, (b"\x00\x01abc", b"\x40\x01" + bytes(200)))
    data = write_base(p)
    assert read_base(data, 64, 48, 16) == p
    assert p.coded_frames == 6


@pytest.mark.parametrize("field, value, message", [
    ("frames", 17, "base of 17 frames"),
    ("codec", 9, "needs a newer exvc: unknown base codec 9"),
    ("width", 33, "width 33 \\(must be even"),
    ("width", 66, "width 66 \\(must be even, 2..64\\)"),
    ("height", 0, "height 0"),
    ("frame_step", 9, "frame step 9"),
    ("frame_step", 0, "a base anchor gap of 0"),  # 0: a listed layout of 3 anchors follows
    ("enhancement", 2, "enhancement flag 2"),
])
def test_a_base_payload_out_of_range_is_refused(field, value, message):
    fields = dict(frames=12, codec=VVC, width=32, height=24, frame_step=2, enhancement=0)
    fields[field] = value
    from exvc.bitstream.bytesio import ByteWriter

    w = ByteWriter().uleb(fields["frames"]).u8(fields["codec"]).uleb(fields["width"])
    w.uleb(fields["height"]).u8(fields["frame_step"]).u8(fields["enhancement"])
    w.uleb(3).raw(b"\x00\x01a")
    with pytest.raises(DinrError, match=message):
        read_base(w.getvalue(), 64, 48, 16)


@pytest.mark.parametrize("units, message", [
    (b"", "holds no stream"),
    (b"\x00", "empty unit"),
    (b"\x01\x40", "shorter than its header"),
    (b"\x05ab", "ends early"),
])
def test_malformed_units_are_refused(units, message):
    head = write_base(BasePayload(4, VVC, 32, 24, 1, 0, (b"xx",)))[:-3]
    with pytest.raises(DinrError, match=message):
        read_base(head + units, 64, 48, 16)


@pytest.mark.parametrize("codec", CODECS)
def test_packing_keeps_every_picture_and_drops_the_rest(codec):
    pictures = to_pictures(torch.from_numpy(clip()), (W, H))
    raw = base_codecs.encode(codec, pictures, Fraction(25), base_codecs.RateSetting("qp", 40),
                             "ultrafast")
    units = pack(CODEC_IDS[codec], raw)
    rebuilt = to_decoder(CODEC_IDS[codec], units)
    assert sum(len(u) + 1 for u in units) < len(raw)  # start codes and AUDs are gone
    a = [p for p, _ in base_codecs.decode(codec, raw, W, H, T)]
    b = [p for p, _ in base_codecs.decode(codec, rebuilt, W, H, T)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# -- frames from pictures ----------------------------------------------------------------------


def test_frames_between_coded_pictures_are_blended_and_the_last_held():
    pictures = [torch.full((1,), float(v)) for v in (0, 4, 8)]
    out = [float(f) for f in expand_frames(pictures, 8, (0, 3, 6))]
    assert out == pytest.approx([0, 4 / 3, 8 / 3, 4, 4 + 4 / 3, 4 + 8 / 3, 8, 8])


def test_colour_round_trip_is_close():
    from exvc.media.base_video import to_rgb

    video = torch.from_numpy(clip(2))
    pictures = to_pictures(video, (W, H))
    back = torch.stack([to_rgb(p, 10) for p in pictures]).clamp(0, 1)
    assert pictures.dtype == np.uint16 and pictures.shape == (2, H * 3 // 2, W)
    assert psnr(video.numpy(), as_8bit(back.numpy())) > 30  # only 4:2:0 chroma is lost


def _upsampling(n: int) -> torch.Tensor:
    """The decoder's 1-D chroma upsampling as an (n, n / 2) matrix."""
    eye = torch.eye(n // 2, dtype=torch.float64)[None]
    return torch.nn.functional.interpolate(eye, size=n, mode="linear",
                                           align_corners=False)[0].T


@pytest.mark.parametrize("h, w", [(2, 2), (6, 10), (24, 32), (136, 320)])
def test_chroma_is_the_least_squares_inverse_of_the_decoders_upsampling(h, w):
    from exvc.media.base_video import chroma_down

    chroma = torch.rand(2, 2, h, w, generator=torch.Generator().manual_seed(h),
                        dtype=torch.float64) - 0.5
    exact = torch.linalg.pinv(_upsampling(h)) @ chroma @ torch.linalg.pinv(_upsampling(w)).T
    down = chroma_down(chroma).double()
    assert down.shape == (2, 2, h // 2, w // 2)
    assert (down - exact).abs().max() < 1e-4  # a 10-bit chroma step is 1.1e-3
    averaged = torch.nn.functional.avg_pool2d(chroma, 2)
    up = torch.nn.functional.interpolate
    error = ((up(down, size=(h, w), mode="bilinear") - chroma) ** 2).mean()
    if h > 2:  # with one sample a side both are the mean
        assert error < ((up(averaged, size=(h, w), mode="bilinear") - chroma) ** 2).mean()
    flat = torch.full((1, 2, h, w), 0.25)
    assert torch.allclose(chroma_down(flat), torch.full((1, 2, h // 2, w // 2), 0.25), atol=1e-4)


def test_least_squares_chroma_survives_the_round_trip_better_than_an_average():
    """The real pictures of a clip: 4:2:0 and back, with the 2x2 average it replaced."""
    from exvc.media import base_video
    from exvc.media.base_video import to_rgb

    video = torch.from_numpy(clip(2))
    scores = []
    for down in (base_video.chroma_down, lambda c: torch.nn.functional.avg_pool2d(c, 2)):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(base_video, "chroma_down", down)
            pictures = to_pictures(video, (W, H))
        back = torch.stack([to_rgb(p, 10) for p in pictures]).clamp(0, 1)
        scores.append(psnr(video.numpy(), as_8bit(back.numpy())))
    assert scores[0] > scores[1] + 1


# -- whole files -------------------------------------------------------------------------------


@pytest.mark.parametrize("codec", CODECS)
def test_each_codec_round_trips_through_a_file(codec):
    video = clip()
    data = encode(video, base=codec, base_scale=1, base_framestep=1)
    stream = parse_stream(data)
    assert [b.codec_name for b in stream.bases] == [codec]
    assert stream.segments == [None]
    out = decode(data)
    assert out.shape == video.shape
    assert psnr(video, as_8bit(out)) > 22
    assert len(data) <= 0.6 * W * H * T / 8


def test_a_degraded_base_is_coded_small_and_brought_back():
    video = clip(16, 96, 64)
    data = encode(video, bpp=0.3, base=CODECS[0], base_scale=2, base_framestep=2)
    base = parse_stream(data).bases[0]
    assert (base.width, base.height, base.frame_step) == (48, 32, 2)
    assert base.coded_frames == 8
    out = decode(data)
    assert out.shape == video.shape  # full size, every frame
    assert psnr(video, as_8bit(out)) > 18
    assert "1 frame in 2" in probe(data).layers[0]


def test_a_frame_step_above_8_is_written_as_listed_anchors_and_decodes_every_frame():
    video = clip(40, 96, 64)
    data = encode(video, bpp=0.3, base=CODECS[0], base_scale=1, base_framestep=16)
    base = parse_stream(data).bases[0]
    assert base.frame_step == 0 and base.anchors == (0, 16, 32)  # the BASE lists them
    out = decode(data)
    assert out.shape == video.shape
    assert "1 frame in 16" in probe(data).layers[0]


def test_the_decoder_rebuilds_exactly_the_frames_the_encoder_judged():
    video = torch.from_numpy(clip())
    coded = code_base(video, 900, BaseConfig(CODECS[0], 2, 2), Fraction(25), "ultrafast")
    header = make_header(info_for(video.numpy()), EncodeSettings(bpp=1, codec="inr"), T)
    data = write_container([Chunk(HEAD, header.to_bytes()),
                            Chunk(BASE, write_base(coded.payload))])
    assert np.allclose(decode(data), coded.frames.numpy(), atol=1e-5)


def test_the_rate_search_fills_the_budget_without_going_over():
    video = torch.from_numpy(clip(16, 96, 64))
    for budget in (1500, 3000):
        coded = code_base(video, budget, BaseConfig(CODECS[0]), Fraction(25), "ultrafast")
        assert 0.9 * budget <= coded.size <= budget


def test_an_enhancement_inr_adds_the_residual():
    from exvc.encode.condition import BaseJob, EnhancedCondition, residual_target
    from exvc.encode.presets import preset_plan
    from exvc.encode.segment_coder import fit_inr

    video = torch.from_numpy(clip())
    job = BaseJob(video, Fraction(25), "ultrafast")
    base = job.code(BaseConfig(CODECS[0]), 700)
    fitted = fit_inr(residual_target(video, base), 400, preset_plan("ultrafast"), seed=1)
    cond = EnhancedCondition.combine(base, fitted, 1200)
    assert cond.size() <= 1200
    header = make_header(info_for(video.numpy()), EncodeSettings(bpp=1, codec="inr"), T)
    data = write_container([Chunk(HEAD, header.to_bytes()), *cond.chunks()])
    stream = parse_stream(data)
    assert stream.bases[0].enhancement == 1 and stream.segments[0] is not None
    out = decode(data)
    assert np.allclose(out, cond.frames.numpy(), atol=1e-4)
    assert psnr(video.numpy(), as_8bit(out)) > psnr(video.numpy(), as_8bit(base.frames.numpy()))
    assert probe(data).sections[1][0] == "base 0"
    assert probe(data).sections[2][0] == "enhancement 0"


def test_a_base_announcing_an_enhancement_needs_its_segment():
    data = (pytest.importorskip("pathlib").Path(__file__).parent / "data" / "compat" / "v1.3"
            / "base_vvc_enhanced_32x24_6f.dinr").read_bytes()
    chunks = read_container(data).chunks
    without = [c for c in chunks if c.type != SEGMENT]
    with pytest.raises(DinrError, match="must be followed by a segment"):
        parse_stream(write_container(without))


def test_decoding_is_repeatable():
    data = encode(clip(), base=CODECS[0], base_scale=2)
    assert np.array_equal(decode(data), decode(data))


def test_without_vvc_the_encoder_says_so_and_uses_av1(monkeypatch, caplog):
    if not base_codecs.available("av1"):
        pytest.skip("PyAV has no libsvtav1 here")
    monkeypatch.setenv("EXVC_FFMPEG", "none")
    assert not base_codecs.available("vvc")
    with caplog.at_level(logging.WARNING, logger="exvc"):
        data = encode(clip())
    assert [r.getMessage() for r in caplog.records if "VVC" in r.getMessage()] == [
        "VVC base unavailable (no ffmpeg executable with libvvenc; pip install "
        "imageio-ffmpeg); using av1"]
    assert {b.codec_name for b in parse_stream(data).bases if b} <= {"av1"}
    with pytest.raises(ValueError, match="the vvc base is not available here"):
        encode(clip(), base="vvc")


# -- hostile streams ---------------------------------------------------------------------------


def _file_with_base(payload: BasePayload, w: int = W, h: int = H) -> bytes:
    header = make_header(VideoInfo(w, h, Fraction(25), frames=payload.frames),
                         EncodeSettings(bpp=1, codec="inr"), payload.frames)
    return write_container([Chunk(HEAD, header.to_bytes()), Chunk(BASE, write_base(payload))])


def _real_base(codec: str) -> BasePayload:
    video = torch.from_numpy(clip())
    return code_base(video, 1200, BaseConfig(codec), Fraction(25), "ultrafast").payload


@pytest.mark.parametrize("change, message", [
    (dict(width=32, height=24), "has a picture of 64x48, not the 32x24 declared"),
    (dict(frames=12), "holds 8 pictures, not the 12 declared"),
    (dict(frames=4), "holds more than the 4 pictures declared"),
    (dict(units=(b"\x40\x01garbage",)), "does not decode|holds 0 pictures"),
])
def test_a_base_stream_that_is_not_what_it_declares_is_refused(change, message):
    from dataclasses import replace

    data = _file_with_base(replace(_real_base(CODECS[0]), **change))
    with pytest.raises(DinrError, match=f"the base stream of segment 0 ({message})"):
        decode_video(data)


def test_a_stream_claiming_huge_pictures_is_refused_before_they_are_allocated():
    video = torch.from_numpy(clip(2, 512, 384))
    big = code_base(video, 20000, BaseConfig(CODECS[0]), Fraction(25), "ultrafast").payload
    from dataclasses import replace

    lie = replace(big, width=16, height=16, frames=2)  # max_pixels (16 + 256)^2 < 512 x 384
    with pytest.raises(DinrError, match="the base stream of segment 0"):
        decode_video(_file_with_base(lie, 16, 16))


# -- the command line --------------------------------------------------------------------------


def _exvc(*args: str, env: dict | None = None):
    import os
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "exvc", "-hide_banner", "-nostats", *args],
                          capture_output=True, text=True, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def y4m(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.y4m"
    from exvc.media.writer import OutputOptions, open_output

    video = clip(16)
    sink = open_output(str(path), info_for(video), OutputOptions())
    for frame in video:
        sink.write(frame)
    sink.close()
    return path


def test_the_info_print_shows_the_layers_and_their_bytes(tmp_path, y4m):
    out = tmp_path / "o.dinr"
    r = _exvc("-i", str(y4m), "-b", "0.5bpp", "-preset", "ultrafast", "-base", CODECS[0],
              "-base_scale", "2", str(out))
    assert r.returncode == 0, r.stderr
    info = _exvc("-i", str(out)).stderr
    assert f"Layers: segment 0: {CODECS[0]} base 32x24" in info
    rows = dict(__import__("re").findall(r"\n\s+([a-z][a-z0-9 ,]*?)\s+:\s+(\d+) bytes", info))
    total = int(rows.pop("total"))
    assert total == out.stat().st_size
    assert sum(map(int, rows.values())) == total  # the sections add up to the file


def test_a_hostile_base_stream_is_one_line_exit_1_and_no_output(tmp_path):
    from dataclasses import replace

    bad = tmp_path / "bad.dinr"
    bad.write_bytes(_file_with_base(replace(_real_base(CODECS[0]), width=32, height=24)))
    out = tmp_path / "out.mp4"
    r = _exvc("-i", str(bad), str(out))
    assert r.returncode == 1
    # the input's description may come first (docs/bad_input.md); the error is one line
    lines = r.stderr.strip().splitlines()
    assert "the base stream of segment 0 has a picture of 64x48" in lines[-1]
    assert "Traceback" not in r.stderr and "corrupt" not in "\n".join(lines[:-1])
    assert not out.exists()


def test_without_vvc_the_command_prints_one_notice(tmp_path, y4m):
    if not base_codecs.available("av1"):
        pytest.skip("PyAV has no libsvtav1 here")
    out = tmp_path / "o.dinr"
    r = _exvc("-i", str(y4m), "-b", "0.5bpp", "-preset", "ultrafast", str(out),
              env={"EXVC_FFMPEG": "none"})
    assert r.returncode == 0, r.stderr
    notices = [line for line in r.stderr.splitlines() if "VVC" in line]
    assert len(notices) == 1 and "using av1" in notices[0]
    r = _exvc("-i", str(y4m), "-base", "vvc", str(tmp_path / "v.dinr"),
              env={"EXVC_FFMPEG": "none"})
    assert r.returncode == 1 and "the vvc base is not available here" in r.stderr


def test_a_base_search_that_asks_again_reuses_its_streams(monkeypatch):
    """A job keeps the streams it coded (by configuration, rate setting and preset): the
    top-up's second search of a configuration codes nothing again and gives the same
    payload, which a fresh job also gives (the encoders are repeatable)."""
    from exvc.encode.condition import BaseJob

    video = torch.from_numpy(clip())
    encodes = []
    real = base_codecs.encode

    def counted(*args, **kwargs):
        encodes.append(args[3])
        return real(*args, **kwargs)

    monkeypatch.setattr(base_codecs, "encode", counted)
    job = BaseJob(video, Fraction(25), "ultrafast")
    first = job.code(BaseConfig(CODECS[0]), 1500, thorough=True)
    assert encodes
    coded = len(encodes)
    again = job.code(BaseConfig(CODECS[0]), 1500, thorough=True)
    assert len(encodes) == coded and again.payload.units == first.payload.units
    fresh = BaseJob(video, Fraction(25), "ultrafast").code(BaseConfig(CODECS[0]), 1500,
                                                             thorough=True)
    assert len(encodes) == 2 * coded and fresh.payload.units == first.payload.units


def test_a_vvenc_encode_that_writes_nothing_with_one_thread_is_tried_with_two(monkeypatch):
    """libvvenc 1.15 with one thread can exit 0 without a stream (docs/base.md, "The three
    codecs"): that encode is tried again with 2 threads; other failures, and the same
    failure at other thread counts, stay errors."""
    calls, failing = [], {1}

    def once(pictures, fps, setting, preset, threads, timeout):
        calls.append(threads)
        if threads in failing:
            raise base_codecs.NothingWritten("libvvenc failed: no stream written")
        return b"stream"

    monkeypatch.setattr(base_codecs, "_vvenc_once", once)
    args = (None, Fraction(25), base_codecs.RateSetting("qp", 63), "medium")
    assert base_codecs._encode_vvenc(*args, 1, None) == b"stream" and calls == [1, 2]
    calls.clear()
    failing.add(2)
    with pytest.raises(base_codecs.NothingWritten):
        base_codecs._encode_vvenc(*args, 2, None)
    assert calls == [2]


def test_candidates_can_be_searched_at_a_faster_preset_and_the_chosen_one_coded_at_the_files():
    """docs/base.md, "Speed": at -preset fast the grid is compared with the encoder's faster
    settings, and only the chosen configuration is coded again at the file's preset; the file
    holds that last coding, within the budget. (Here the file's preset is medium, the
    encoder's slowest that -preset fast would not reach, to tell the two apart.)"""
    import torch

    from exvc.encode import condition
    from exvc.encode.condition import BaseCondition, BaseJob
    from exvc.encode.condition_choice import Candidates, choose_condition
    from exvc.encode.presets import preset_plan

    assert preset_plan("fast").base.search_preset == "faster"
    assert preset_plan("medium").base.search_preset is None  # the default searches at its own
    presets = []
    real = condition.code_base

    def spy(video, budget, config, fps, preset="medium", threads=None, thorough=False,
            streams=None):
        presets.append((config.step, preset))
        return real(video, budget, config, fps, preset, threads, thorough, streams)

    video = torch.from_numpy(clip())
    job = BaseJob(video, Fraction(25), "medium")
    cands = Candidates((BaseConfig(CODECS[0], 1, 1), BaseConfig(CODECS[0], 1, 2)),
                       search_preset="faster")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(condition, "code_base", spy)
        choice = choose_condition(video, 1500, cands, job, preset_plan("medium"))
    chosen = choice.condition
    assert isinstance(chosen, BaseCondition) and chosen.job is job
    assert presets[:2] == [(1, "faster"), (2, "faster")]
    assert presets[2] == (chosen.coded.config.step, "medium")  # then the chosen one only
    assert all(p == "medium" for _, p in presets[2:]) and chosen.size() <= 1500


def _pollute_freed_heap(byte: int) -> None:
    """Leave freed heap chunks of many sizes holding ``byte`` for the next allocations."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
    chunks = []
    for size in [64, 256, 1024, 4096, 16384, 65536, 100000] * 40:
        chunk = libc.malloc(size)
        ctypes.memset(chunk, byte, size)
        chunks.append(chunk)
    for chunk in chunks:
        libc.free(chunk)


@pytest.mark.skipif(not sys.platform.startswith("linux") or not base_codecs.available("hevc"),
                    reason="glibc and libx265 needed")
def test_hevc_codes_small_pictures_the_same_whatever_the_heap_held():
    # libx265 read unwritten memory on 64x64 pictures: the stream at QP 33 changed with the
    # garbage that earlier frees had left (three bytes, three streams) before filled_memory
    y, x = np.mgrid[0:80, 0:80]
    texture = (512 + 300 * np.sin(x / 5.0) * np.cos(y / 7.0)).astype(np.uint16)
    grey = np.full((32, 64), 512, np.uint16)
    pictures = np.stack([np.concatenate([texture[k:k + 64, k:k + 64], grey]) for k in range(8)])
    streams = set()
    for byte in (0x00, 0xA7, 0x3C):
        _pollute_freed_heap(byte)
        streams.add(base_codecs.encode("hevc", pictures, Fraction(25, 2),
                                       base_codecs.RateSetting("qp", 33), threads=1))
    assert len(streams) == 1


@pytest.mark.skipif(not base_codecs.available("vvc"), reason="libvvenc needed")
def test_two_pass_vvc_codes_a_stream_that_fills_its_budget():
    """The first pass writes only statistics, no stream: it is not an encoder that wrote
    nothing (that mistake made every two-pass candidate fail, silently, until 2026-12-05)."""
    video = torch.from_numpy(clip(16, 96, 64))
    coded = code_base(video, 3000, BaseConfig("vvc", mode="rate2"), Fraction(25), "faster")
    assert coded.setting.mode == "rate2" and 0.9 * 3000 <= coded.size <= 3000


@pytest.mark.skipif(not base_codecs.available("vvc"), reason="libvvenc needed")
def test_the_best_one_pass_base_is_coded_with_two_passes_as_one_more_candidate():
    """docs/base.md, "One pass or two": the medium preset adds the two-pass coding of the
    best one-pass configuration, once, after the grid; the judge picks as for any other."""
    from exvc.encode import condition
    from exvc.encode.condition import BaseJob
    from exvc.encode.condition_choice import Candidates, choose_condition
    from exvc.encode.layers import candidates_for
    from exvc.encode.presets import preset_plan

    assert candidates_for(EncodeSettings(bpp=0.1), preset_plan("medium").base, 64, 48).two_pass
    assert not candidates_for(EncodeSettings(bpp=0.1, preset="slow"),
                              preset_plan("slow").base, 64, 48).two_pass  # rate2 is in its grid
    coded, real = [], condition.code_base

    def spy(video, budget, config, fps, preset="medium", threads=None, thorough=False,
            streams=None):
        coded.append((config.step, config.mode))
        return real(video, budget, config, fps, preset, threads, thorough, streams)

    video = torch.from_numpy(clip())
    cands = Candidates((BaseConfig("vvc", 1, 1), BaseConfig("vvc", 1, 2)), two_pass=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(condition, "code_base", spy)
        choice = choose_condition(video, 1500, cands, BaseJob(video, Fraction(25), "faster"),
                                  preset_plan("medium"))
    labels = [label for label, _ in choice.judged]
    assert coded[:2] == [(1, "rate"), (2, "rate")] and coded[2][1] == "rate2"
    assert len(labels) == 3 and sum("2-pass" in label for label in labels) == 1


# -- filling a budget at a fixed quantiser ------------------------------------------------------


VVC_HERE = pytest.mark.skipif(not base_codecs.available("vvc"), reason="needs libvvenc")


@VVC_HERE
def test_a_finer_chroma_quantiser_makes_a_larger_stream():
    pictures = to_pictures(torch.from_numpy(clip()), (W, H))
    size = {}
    for chroma in (0, -6):
        setting = base_codecs.RateSetting("qp", 40, chroma)
        size[chroma] = len(base_codecs.encode("vvc", pictures, Fraction(25), setting,
                                              "ultrafast"))
    assert size[0] < size[-6]
    assert base_codecs.RateSetting("qp", 40, -6).describe() == "qp 40, chroma -6"


@VVC_HERE
def test_a_fixed_quantiser_base_spends_what_one_quantiser_step_leaves(monkeypatch):
    """Without rate control (SVT-AV1 on tiny pictures, or libvvenc where its floor is over
    the budget) the quantiser bisection ends up to a whole step under the budget; a finer
    chroma quantiser takes what it leaves."""
    video = torch.from_numpy(clip())
    monkeypatch.setattr(base_codecs, "rate_control_works", lambda *a: False)
    at40, at39 = size_at(video, 40), size_at(video, 39)
    budget = size_at(video, 40, chroma=-1)  # chroma steps are coarse on this synthetic clip
    assert at40 < budget < at39  # the quantiser bisection stops at 40, short of the budget
    filled = code_base(video, budget, BaseConfig("vvc"), Fraction(25), "ultrafast")
    assert (filled.setting.mode, filled.setting.value) == ("qp", 40)
    assert filled.setting.chroma < 0
    assert at40 < filled.size <= budget


def size_at(video: torch.Tensor, qp: int, chroma: int = 0) -> int:
    """The BASE payload bytes of ``video`` at quantiser ``qp`` (and chroma offset)."""
    from exvc.bitstream.base import BasePayload, pack, write_base

    pictures = to_pictures(video, (W, H))
    stream = base_codecs.encode("vvc", pictures, Fraction(25),
                                base_codecs.RateSetting("qp", qp, chroma), "ultrafast")
    return len(write_base(BasePayload(len(video), VVC, W, H, 1, 0, pack(VVC, stream), ())))


@VVC_HERE
def test_libvvenc_writes_the_same_stream_every_time_at_any_thread_count():
    """With frame-level parallelism libvvenc 1.15 wrote nothing in four of five of these
    encodes at one thread (at random), and its rate control gave other streams at two: files
    changed from run to run (docs/base.md, "The three codecs")."""
    pictures = to_pictures(torch.from_numpy(clip(48)), (W, H))
    for setting in (base_codecs.RateSetting("qp", 50), base_codecs.RateSetting("rate", 20000)):
        streams = [base_codecs._vvenc_once(pictures, Fraction(25), setting, "faster", threads,
                                           None) for threads in (1, 1, 1, 1, 2, 2)]
        assert streams[0] and all(s == streams[0] for s in streams), setting
