"""The real `exvc` command end to end: files, pipes in both directions, info, corruption."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from exvc.media.reader import InputOptions, open_input

pytestmark = pytest.mark.slow  # encodes, trains or decodes with the prior

SAMPLE = str(Path(__file__).resolve().parent.parent / "samples" / "bbb_192x108_48f.mp4")
QUIET = ["-hide_banner", "-nostats"]
FAST = ["-preset", "ultrafast"]  # an output option: goes right before the output


def exvc(*args: str, stdin: bytes | None = None, check: bool = True):
    proc = subprocess.run([sys.executable, "-m", "exvc", *args], input=stdin,
                          capture_output=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(proc.stderr.decode(errors="replace"))
    return proc


def _count(path: str | Path) -> tuple[int, Fraction, tuple[int, int]]:
    with open_input(str(path), InputOptions()) as src:
        n = sum(1 for _ in src.frames())
        return n, src.info.fps, (src.info.width, src.info.height)


@pytest.fixture(scope="module")
def dinr(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("e2e") / "out.dinr"
    exvc(*QUIET, "-i", SAMPLE, "-frames:v", "12", "-b", "0.02bpp", *FAST, str(out))
    return out


def test_encode_then_decode_files(dinr, tmp_path):
    # never over the target (the rate is the file), and within 2 % under it
    assert 0.98 * 0.02 <= 8 * dinr.stat().st_size / (192 * 108 * 12) <= 0.02
    exvc("-hide_banner", "-nostats", "-i", str(dinr), str(tmp_path / "out.mp4"))
    assert _count(tmp_path / "out.mp4") == (12, Fraction(25), (192, 108))


def test_info_print_without_output(dinr):
    proc = exvc("-hide_banner", "-i", str(dinr), check=False)
    err = proc.stderr.decode()
    assert proc.returncode == 1
    assert "Input #0, dinr" in err and "192x108" in err and "12 frames" in err
    assert "segment 0" in err and "At least one output file must be specified" in err


@pytest.mark.parametrize("fmt, codec", [("yuv4mpegpipe", "dinr"), ("nut", "inr")])
def test_pipeline_through_stdin_and_stdout(tmp_path, fmt, codec):
    """ffmpeg -f FMT - | exvc -i - -f dinr - | exvc -i - -f FMT - | ffmpeg -i - y.mkv, with exvc
    itself standing in for ffmpeg at both ends (no ffmpeg binary is needed). The second
    container codes the INR alone: the pipes are what differs, and it is quicker."""
    video = exvc(*QUIET, "-i", SAMPLE, "-frames:v", "8", "-f", fmt, "-").stdout
    coded = exvc(*QUIET, "-i", "-", "-b", "0.05bpp", "-c:v", codec, *FAST, "-f", "dinr", "-",
                 stdin=video).stdout
    assert coded[:4] == b"DINR"
    # never over; a base of 4-8 coded pictures at 1 KB moves in steps of 5-10 %
    # (docs/base.md, "Rate accuracy")
    assert 0.9 * 0.05 <= 8 * len(coded) / (192 * 108 * 8) <= 0.05
    back = exvc("-hide_banner", "-nostats", "-i", "-", "-f", fmt, "-", stdin=coded).stdout
    exvc("-hide_banner", "-nostats", "-f", fmt, "-i", "-", str(tmp_path / "y.mkv"), stdin=back)
    assert _count(tmp_path / "y.mkv") == (8, Fraction(25), (192, 108))


def test_bitrate_in_bits_per_second_and_geometry_options(tmp_path):
    out = tmp_path / "small.dinr"
    exvc(*QUIET, "-i", SAMPLE, "-t", "0.4", "-vf", "scale=96:-2", "-b", "20k", *FAST, str(out))
    n, fps = 10, 25
    target_bytes = 20_000 / fps * n / 8
    assert 0.9 * target_bytes <= out.stat().st_size <= target_bytes  # as above
    proc = exvc("-hide_banner", "-i", str(out), check=False)
    assert "96x54" in proc.stderr.decode() and f"{n} frames" in proc.stderr.decode()


def test_flipped_byte_fails_cleanly(dinr, tmp_path):
    bad = tmp_path / "bad.dinr"
    data = bytearray(dinr.read_bytes())
    data[len(data) // 2] ^= 0x01
    bad.write_bytes(bytes(data))
    target = tmp_path / "never.mp4"
    proc = exvc("-hide_banner", "-i", str(bad), str(target), check=False)
    lines = proc.stderr.decode().strip().splitlines()
    assert proc.returncode == 1
    assert "CRC" in lines[-1] and "Traceback" not in proc.stderr.decode()
    assert not target.exists() and os.listdir(tmp_path) == ["bad.dinr"]


def test_existing_output_is_kept_without_y(dinr, tmp_path):
    target = tmp_path / "keep.mp4"
    target.write_bytes(b"precious")
    proc = exvc("-hide_banner", "-i", str(dinr), str(target), check=False)
    assert proc.returncode == 1 and target.read_bytes() == b"precious"
    exvc("-hide_banner", "-nostats", "-y", "-i", str(dinr), str(target))
    assert _count(target)[0] == 12


def _y4m_with_a_cut(path: Path, frames: int = 20, cut: int = 10) -> None:
    """A 64x48 4:2:0 clip whose grey level jumps by 100 levels at frame ``cut``."""
    import numpy as np

    rng = np.random.default_rng(0)
    with open(path, "wb") as f:
        f.write(b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\n")
        for t in range(frames):
            y = np.clip(rng.normal(60 if t < cut else 160, 4, (48, 64)), 0, 255)
            f.write(b"FRAME\n" + y.astype(np.uint8).tobytes() + bytes([128]) * (2 * 24 * 32))


@pytest.mark.parametrize("threshold, segments", [(None, 2), ("0", 1)])
def test_sc_threshold_sets_where_segments_start(tmp_path, threshold, segments):
    _y4m_with_a_cut(tmp_path / "cut.y4m")
    opts = ["-sc_threshold", threshold] if threshold is not None else []
    out = tmp_path / "out.dinr"
    exvc(*QUIET, "-i", str(tmp_path / "cut.y4m"), "-c:v", "inr", "-b", "0.5bpp", *opts,
         *FAST, str(out))
    err = exvc("-hide_banner", "-i", str(out), check=False).stderr.decode()
    assert f"segment {segments - 1}" in err and f"segment {segments}" not in err
