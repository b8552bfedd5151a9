"""exvc-bench: ST-LPIPS behaviour, Bjøntegaard deltas on hand-computed cases, the rate search,
stripped anchor streams, FID plumbing, and a whole (tiny) run through the command."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner

from exvc.bench import anchors as A
from exvc.bench.bd import bd_metric, bd_rate
from exvc.bench.fid import FrameFID, frechet_distance
from exvc.bench.metrics import ClipScore

pytestmark = pytest.mark.slow  # encodes, trains or decodes with the prior

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "samples" / "bbb_192x108_48f.mp4"


# -- ST-LPIPS -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stlpips():
    from exvc.bench.stlpips import STLPIPS

    return STLPIPS()


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """Four real frames (N, 3, H, W) from the sample clip."""
    from exvc.bench.clips import ClipSpec, load_clip

    frames, _ = load_clip(ClipSpec(str(SAMPLE)), 48)
    return torch.from_numpy(frames[::12].copy())


def _blur(x: torch.Tensor, radius: int) -> torch.Tensor:
    k = 2 * radius + 1
    padded = torch.nn.functional.pad(x, (radius,) * 4, mode="replicate")
    return torch.nn.functional.avg_pool2d(padded, k, stride=1)


def _quantise(x: torch.Tensor, levels: int) -> torch.Tensor:
    return torch.round(x * (levels - 1)) / (levels - 1)


def test_stlpips_is_zero_for_identical_frames(stlpips, photo):
    assert torch.all(stlpips.distances(photo, photo) == 0)


def test_stlpips_grows_with_blur(stlpips, photo):
    scores = [float(stlpips.distances(photo, _blur(photo, r)).mean()) for r in (1, 2, 4)]
    assert 0 < scores[0] < scores[1] < scores[2]


def test_stlpips_grows_with_quantisation(stlpips, photo):
    scores = [float(stlpips.distances(photo, _quantise(photo, n)).mean()) for n in (32, 8, 3)]
    assert 0 < scores[0] < scores[1] < scores[2]


def test_stlpips_tolerates_a_one_pixel_shift_better_than_blur(stlpips, photo):
    shifted = torch.roll(photo, 1, dims=-1)
    assert float(stlpips.distances(photo, shifted).mean()) < float(
        stlpips.distances(photo, _blur(photo, 2)).mean())


def test_stlpips_leaves_no_placeholder_modules(stlpips):
    import sys

    for name in ("torchvision", "torchsummary", "IPython"):
        module = sys.modules.get(name)
        assert module is None or getattr(module, "__file__", None) is not None


# -- pixel metrics added for the bench ------------------------------------------------------


def test_psnr_y_and_flicker_on_known_cases():
    ref = np.full((4, 3, 8, 8), 0.5)
    constant = ref + 0.1  # the same error on every frame: no flicker
    score = ClipScore()
    for a, b in zip(ref, constant, strict=True):
        score.add(a, b)
    assert score.psnr_y == pytest.approx(20.0)  # luma error 0.1 too (weights sum to 1)
    assert score.flicker == pytest.approx(0.0, abs=1e-9)
    alternating = ref.copy()
    alternating[1::2] += 0.1  # changes by +-0.1 between every pair of frames
    score = ClipScore()
    score.add(ref[:1], alternating[:1])
    score.add(ref[1:], alternating[1:])  # batches chain across calls
    assert score.flicker == pytest.approx(25.5)


# -- Bjøntegaard ----------------------------------------------------------------------------


RATES = [0.01, 0.02, 0.04, 0.1]


def _line(rates, offset, slope):
    return [offset + slope * math.log10(r) for r in rates]


def test_bd_metric_of_a_constant_offset():
    assert bd_metric(RATES, _line(RATES, 40, 10), RATES, _line(RATES, 41.5, 10)) == \
        pytest.approx(1.5)


def test_bd_rate_of_a_constant_rate_factor():
    test_rates = [r * 0.8 for r in RATES]
    assert bd_rate(RATES, _line(RATES, 40, 10), test_rates, _line(RATES, 40, 10)) == \
        pytest.approx(-20.0)


def test_bd_figures_of_curves_with_different_slopes():
    # Anchor D = 40 + 10 L and test D = 60 + 20 L, L = log10(bpp) in [-2, -1].
    # BD-metric: mean of (20 + 10 L) over L in [-2, -1] = 20 - 15 = 5 dB.
    # BD-rate: L_a(D) = (D - 40) / 10, L_t(D) = (D - 60) / 20; D overlaps on [20, 30];
    # mean of L_t - L_a = mean of (20 - D) / 20 = -0.25, so 10^-0.25 - 1 = -43.77 %.
    rates = [0.01, 0.02, 0.05, 0.1]
    anchor, test = _line(rates, 40, 10), _line(rates, 60, 20)
    assert bd_metric(rates, anchor, rates, test) == pytest.approx(5.0)
    assert bd_rate(rates, anchor, rates, test) == pytest.approx((10**-0.25 - 1) * 100)


def test_repeated_unreachable_points_count_once():
    from exvc.bench.report import bd_table, curve
    from exvc.bench.run import ClipInfo, Result

    def row(codec, target, size, psnr, status="matched"):
        return Result("c", target, codec, status, int(target * 1000), bytes=size,
                      bpp=size / 1000, psnr=psnr)

    anchor = [row("a", b, b * 1000, 30 + 10 * math.log10(b)) for b in RATES]
    stuck = [row("t", b, 15, 31 + 10 * math.log10(0.015), "cannot reach") for b in RATES[:2]]
    test = stuck + [row("t", b, b * 1000, 31 + 10 * math.log10(b)) for b in RATES[2:]]
    assert curve(test, "c", "t", "psnr")[0] == [0.015, 0.04, 0.1]
    clip = ClipInfo("c", "c.y4m", 8, 8, 1, 25.0, 40.0)
    (bd,) = bd_table(anchor + test, [clip], "a")
    assert bd["bd_psnr"] == pytest.approx(1.0)


def test_bd_uses_only_the_overlap_and_reports_none_without_one():
    low, high = [0.01, 0.02, 0.03], [0.05, 0.08, 0.1]
    assert bd_metric(low, _line(low, 40, 10), high, _line(high, 40, 10)) is None
    assert bd_metric(RATES, _line(RATES, 40, 10), RATES[:1], [50.0]) is None
    part = [0.02, 0.04, 0.08]  # overlapping part of the range: still the exact offset
    assert bd_metric(RATES, _line(RATES, 40, 10), part, _line(part, 42, 10)) == \
        pytest.approx(2.0)


# -- the rate search ------------------------------------------------------------------------


def _fake(anchor, size_of):
    def run(setting):
        return A.Trial(setting, [b"x" * int(size_of(setting))], 0.0)

    return run


def test_float_knob_lands_within_tolerance():
    anchor = A.ANCHORS["x265"]
    match = A.match_rate(anchor, 1000, _fake(anchor, lambda s: 20000 * 0.9 ** s.value))
    assert match.status == "matched"
    assert abs(match.error) <= 0.01


def test_integer_knob_falls_back_to_bitrate_between_steps():
    anchor = A.ANCHORS["svtav1"]  # steps of 20 %: no crf lands within 3 %

    def size(s):
        return 1.25 ** (70 - s.value) if s.mode == "knob" else s.value / 8

    match = A.match_rate(anchor, 900, _fake(anchor, size), clip_seconds=1.0)
    assert match.status == "matched"
    assert match.trial.setting.mode == "bitrate"
    assert abs(match.error) <= 0.03


def test_unreachable_rate_is_marked_with_the_smallest_stream():
    anchor = A.ANCHORS["vvc"]
    match = A.match_rate(anchor, 100, _fake(anchor, lambda s: 5000 - 10 * s.value))
    assert match.status == "cannot reach"
    assert match.trial.size == 5000 - 630
    assert all(t.setting.mode == "knob" for t in match.trials)  # no bitrate mode below qp 63


# -- stripped anchor streams ----------------------------------------------------------------


@pytest.fixture(scope="module")
def clip420() -> A.Clip420:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (80, 80), dtype=np.uint8)
    planes = np.stack([np.concatenate([base[t:t + 64, t:t + 64],
                                       np.full((32, 64), 128, np.uint8)]) for t in range(8)])
    return A.Clip420(planes, 64, 64, Fraction(25))


def _annexb_nal_types(stream: bytes, hevc: bool) -> set[int]:
    types = set()
    for part in stream.split(b"\x00\x00\x01")[1:]:
        if part:
            types.add((part[0] >> 1) & 0x3F if hevc else part[0] & 0x1F)
    return types


@pytest.mark.parametrize(("name", "sei", "hevc"), [("x264", {6}, False),
                                                    ("x265", {39, 40}, True)])
def test_annexb_anchors_carry_no_sei_and_still_decode(clip420, name, sei, hevc):
    anchor = A.ANCHORS[name]
    trial = A.encode(anchor, clip420, A.Setting("knob", 30))
    assert not _annexb_nal_types(b"".join(trial.stream), hevc) & sei
    frames, _ = A.decode(anchor, trial.stream)
    assert len(frames) == 8 and frames[0].shape == (3, 64, 64)


def test_av1_anchor_is_low_overhead_obus_without_temporal_delimiters(clip420):
    anchor = A.ANCHORS["svtav1"]
    trial = A.encode(anchor, clip420, A.Setting("knob", 40))
    for packet in trial.stream:
        assert (packet[0] >> 3) & 0xF != 2  # first OBU of each packet is not a TD
    frames, _ = A.decode(anchor, trial.stream)
    assert len(frames) == 8


# -- FID plumbing ---------------------------------------------------------------------------


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + np.array([1.0, 2.0, 0.0])) == pytest.approx(5.0, rel=1e-6)
    # Same mean, variance 4 vs 1 on one axis: (2 - 1)^2 = 1.
    scaled = a * np.array([2.0, 1.0, 1.0])
    assert frechet_distance(a, scaled) == pytest.approx(1.0, rel=0.05)


class _Features(torch.nn.Module):
    def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
        x = x.float() / 255.0
        return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)


def test_fid_loads_a_local_torchscript_network(tmp_path):
    path = tmp_path / "features.pt"
    torch.jit.script(_Features()).save(str(path))
    fid = FrameFID(path)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, (16, 3, 8, 8), dtype=np.uint8)
    assert fid.distance(frames, frames) == pytest.approx(0.0, abs=1e-6)
    assert fid.distance(frames, frames // 2) > 0.01


# -- a whole run ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    """8 frames of 64x64 moving texture (x265 is unreliable on frames under 64 px)."""
    path = tmp_path_factory.mktemp("bench") / "tiny.y4m"
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (80, 80, 3), dtype=np.uint8)
    base = np.asarray(_blur(torch.from_numpy(base).permute(2, 0, 1)[None].double(), 1)[0]
                      .permute(1, 2, 0)).astype(np.uint8)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("rawvideo", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for t in range(8):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(base[t:t + 64, t:t + 64]),
                                               format="rgb24")
            out.mux(stream.encode(frame.reformat(format="yuv420p")))
        out.mux(stream.encode())
    return path


def test_unavailable_codecs_are_marked_not_dropped(tiny_clip):
    from exvc.bench.clips import ClipSpec
    from exvc.bench.run import BenchConfig, run

    config = BenchConfig([ClipSpec(str(tiny_clip))], rates=(0.1,), codecs=("vvc",),
                         ffmpeg=None, vmaf=False, stlpips=False)
    _, results, missing = run(config)
    assert [(r.codec, r.status) for r in results] == [("vvc", "unavailable")]
    assert "ffmpeg" in results[0].note
    assert set(missing) == {"st_lpips", "vmaf", "fid"}
    odd = BenchConfig([ClipSpec(str(tiny_clip), (63, 64))], rates=(0.1,), codecs=("x264",),
                      vmaf=False, stlpips=False)
    _, results, _ = run(odd)
    assert [(r.codec, r.status) for r in results] == [("x264", "unavailable")]
    assert "even" in results[0].note


def test_bench_command_writes_json_markdown_and_plots(tiny_clip, tmp_path):
    from exvc.bench.cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(main, [str(tiny_clip), "--rates", "0.15,0.3",
                                       "--codecs", "inr,x264,x265", "--preset", "ultrafast",
                                       "--no-vmaf", "--out-dir", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / "results.json").read_text())
    rows = doc["results"]
    assert {(r["codec"], r["target_bpp"]) for r in rows} == {
        (c, b) for c in ("inr", "x264", "x265") for b in (0.15, 0.3)}
    pixels = 64 * 64 * 8
    for r in rows:
        assert r["status"] in ("matched", "cannot reach", "off target"), r
        assert r["bpp"] == pytest.approx(8 * r["bytes"] / pixels)
        if r["status"] == "matched":
            assert abs(r["bytes"] / r["target_bytes"] - 1) <= 0.03
        assert r["st_lpips"] is not None and r["psnr"] > 5
    assert {b["codec"] for b in doc["bd"]} == {"inr", "x264"}
    markdown = (out / "results.md").read_text()
    assert "| 0.15 | exvc (inr) |" in markdown and "Bjøntegaard" in markdown
    png = (out / "rd_tiny.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
    # The reports re-render from the JSON alone, against another anchor.
    again = CliRunner().invoke(main, ["--from-json", str(out / "results.json"),
                                      "--anchor", "x264", "--out-dir", str(tmp_path / "re")])
    assert again.exit_code == 0, again.output
    redone = json.loads((tmp_path / "re" / "results.json").read_text())
    assert redone["results"] == rows
    assert {(b["codec"], b["anchor"]) for b in redone["bd"]} == {("inr", "x264"),
                                                                 ("x265", "x264")}


def test_bench_command_rejects_bad_arguments(tiny_clip):
    from exvc.bench.cli import main

    runner = CliRunner()
    assert runner.invoke(main, [str(tiny_clip), "--rates", "abc"]).exit_code == 2
    assert runner.invoke(main, [str(tiny_clip), "--codecs", "mpeg1"]).exit_code == 2
    missing = runner.invoke(main, ["/nonexistent.mp4"])
    assert missing.exit_code == 1 and "no such file" in missing.output
