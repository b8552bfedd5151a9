"""The INR codec through its Python API: rate accuracy, round trips, determinism, segments."""

from __future__ import annotations

import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from exvc.bitstream.bytesio import DinrError
from exvc.decode.decoder import decode_video, probe
from exvc.encode.encoder import EncodeError, encode_video
from exvc.encode.segments import SceneCuts, split_segments
from exvc.encode.settings import EncodeSettings
from exvc.media.quality import psnr
from exvc.media.reader import InputOptions, open_input
from exvc.media.types import VideoInfo

pytestmark = pytest.mark.slow  # encodes, trains or decodes with the prior

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "samples", "bbb_192x108_48f.mp4")


@pytest.fixture(scope="module")
def sample():
    with open_input(SAMPLE, InputOptions()) as src:
        frames = list(src.frames())
        info = src.info
    return info.with_(frames=len(frames)), frames


def _psnr(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return psnr(np.stack(a), np.stack(b))


def _encode(frames, info, bpp, **kw) -> bytes:
    """The INR codec (``-c:v inr``) unless ``codec`` says otherwise, at ultrafast."""
    kw.setdefault("codec", "inr")
    return encode_video(frames, info.with_(frames=len(frames)),
                        EncodeSettings(bpp=bpp, preset=kw.pop("preset", "ultrafast"), **kw))


@pytest.fixture(scope="module")
def coded(sample):
    """The sample coded at several rates (shared: encoding is the slow part)."""
    info, frames = sample
    return {bpp: _encode(frames, info, bpp) for bpp in (0.005, 0.01, 0.02, 0.05, 0.1)}


def _share(sample, data: bytes, bpp: float) -> float:
    info, frames = sample
    return 8 * len(data) / (info.width * info.height * len(frames)) / bpp


@pytest.mark.parametrize("bpp", [0.005, 0.01, 0.02, 0.05, 0.1])
def test_file_size_never_goes_over_the_target(sample, coded, bpp):
    # short of it only where a coarser latent step renders better than the fullest payload
    # (rate_control.fit_to_budget; test_rate_control_never_trades_quality_for_a_fuller_
    # payload): here 0.01 and 0.05 land 8 % and 11 % short
    assert 0.85 <= _share(sample, coded[bpp], bpp) <= 1, f"{bpp} bpp target"


def test_most_files_land_within_two_percent_of_the_target(sample, coded):
    shares = [_share(sample, data, bpp) for bpp, data in coded.items()]
    assert sum(s >= 0.98 for s in shares) >= 3, shares


def test_round_trip_keeps_geometry(sample, coded):
    info, frames = sample
    for data in coded.values():
        dinfo, it = decode_video(data)
        out = list(it)
        assert len(out) == len(frames) == dinfo.video.frames
        assert out[0].shape == (3, info.height, info.width) and out[0].dtype == np.float32
        assert dinfo.video.fps == Fraction(25)


def test_quality_grows_with_rate(sample, coded):
    _, frames = sample
    psnrs = {bpp: _psnr(list(decode_video(coded[bpp])[1]), frames) for bpp in (0.01, 0.1)}
    grey = _psnr([np.full_like(f, 0.5) for f in frames], frames)
    assert psnrs[0.1] > psnrs[0.01] + 2, psnrs
    assert psnrs[0.01] > grey + 4, (psnrs, grey)


def test_decoding_twice_gives_identical_frames(coded):
    a = np.stack(list(decode_video(coded[0.02])[1]))
    b = np.stack(list(decode_video(coded[0.02])[1]))
    assert np.array_equal(a, b)


def test_encoding_is_deterministic_for_a_seed(sample):
    info, frames = sample
    for codec in ("inr", "dinr"):  # dinr: the default, a base and the prior's choices
        a = _encode(frames[:8], info, 0.05, seed=3, codec=codec)
        assert a == _encode(frames[:8], info, 0.05, seed=3, codec=codec), codec
        assert a != _encode(frames[:8], info, 0.05, seed=4, codec=codec), codec


def test_long_input_is_coded_in_segments(sample):
    info, frames = sample
    data = _encode(frames[:20], info, 0.05, segment_frames=8)
    dinfo = probe(data)
    assert [name for name, _ in dinfo.sections if name.startswith("segment")] == \
        ["segment 0", "segment 1"]
    assert 0.95 * 0.05 <= dinfo.bpp <= 0.05  # never over
    assert len(list(decode_video(data)[1])) == 20


def test_segments_never_tiny():
    lengths = [len(s) for s in split_segments(iter(range(70)), 32)]
    assert lengths == [32, 38]
    assert [len(s) for s in split_segments(iter(range(90)), 32)] == [32, 29, 29]
    assert [len(s) for s in split_segments(iter(range(5)), 32)] == [5]


def _scenes(lengths: list[int], moving: bool = False) -> list[np.ndarray]:
    """Frames of consecutive scenes, each a different flat grey with noise; ``moving`` slides a
    bright bar by 4 pixels a frame (motion, not a cut)."""
    rng = np.random.default_rng(0)
    frames = []
    for k, n in enumerate(lengths):
        for t in range(n):
            f = np.full((3, 32, 48), 0.2 + 0.3 * (k % 3), np.float32)
            f += rng.normal(0, 0.01, f.shape).astype(np.float32)
            if moving:
                f[:, :, (4 * t) % 40 : (4 * t) % 40 + 8] = 1.0
            frames.append(f)
    return frames


def test_segments_start_at_scene_cuts():
    cut = [len(s) for s in split_segments(iter(_scenes([30, 34])), 64, SceneCuts())]
    assert cut == [30, 34]
    assert [len(s) for s in split_segments(iter(_scenes([30, 34])), 64)] == [64]
    # a long scene is still split by length, and a scene too short for its own INR joins the next
    assert [len(s) for s in split_segments(iter(_scenes([20, 100])), 32, SceneCuts())] == [
        20, 32, 32, 36]
    assert [len(s) for s in split_segments(iter(range(43)), 64, lambda f: f in (20, 23))] == [
        20, 23]


def test_the_scene_cut_threshold_is_in_8_bit_levels():
    # the grey steps by 0.3 (76 levels) between the two scenes
    assert [len(s) for s in split_segments(iter(_scenes([30, 34])), 64, SceneCuts(70))] == [
        30, 34]
    assert [len(s) for s in split_segments(iter(_scenes([30, 34])), 64, SceneCuts(80))] == [64]


def test_motion_is_not_a_scene_cut():
    assert [len(s) for s in split_segments(iter(_scenes([64], moving=True)), 64,
                                           SceneCuts())] == [64]


def test_a_budget_below_the_header_is_refused(sample):
    info, frames = sample
    with pytest.raises(EncodeError, match="too low"):
        _encode(frames[:2], info, 0.0005)


def test_non_positive_rate_is_refused(sample):
    info, frames = sample
    with pytest.raises(EncodeError, match="target rate must be positive, got 0.0 bpp"):
        _encode(frames[:2], info, 0.0)


def test_an_unknown_codec_is_refused(sample):
    info, frames = sample
    with pytest.raises(EncodeError, match="unknown codec 'vae'"):
        _encode(frames[:2], info, 0.1, codec="vae")


def test_flipped_byte_is_caught(coded):
    data = bytearray(coded[0.02])
    data[len(data) // 2] ^= 0x10
    with pytest.raises(DinrError, match="CRC"):
        decode_video(bytes(data))


def test_header_info_is_kept(sample):
    info, frames = sample
    data = _encode(frames[:4], info, 0.1, metadata={"title": "bunny"})
    dinfo = probe(data)
    assert dinfo.metadata == {"title": "bunny"}
    assert (dinfo.video.width, dinfo.video.height, dinfo.video.frames) == (192, 108, 4)
    assert dinfo.video.pix_fmt == "yuv420p"


_DECODE_SNIPPET = """
import sys, numpy as np
from exvc.decode.decoder import decode_video
info, frames = decode_video(open(sys.argv[1], 'rb').read())
np.save(sys.argv[2], np.stack(list(frames)))
"""


@pytest.mark.parametrize("env", [
    {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "default"},
    {"OMP_NUM_THREADS": "1"},
])
def test_decoding_is_portable_across_cpu_paths(tmp_path, coded, env):
    src = tmp_path / "x.dinr"
    src.write_bytes(coded[0.02])
    reference = np.stack(list(decode_video(coded[0.02])[1]))
    out = tmp_path / "frames.npy"
    subprocess.run([sys.executable, "-c", _DECODE_SNIPPET, str(src), str(out)],
                   env={**os.environ, **env}, check=True)
    other = np.load(out)
    assert other.shape == reference.shape
    assert _psnr(list(other), list(reference)) > 60


def test_odd_size_and_tiny_clip_round_trip():
    rng = np.random.default_rng(0)
    base = rng.random((3, 1, 1), dtype=np.float32)
    frames = [np.clip(base + 0.02 * i + np.zeros((3, 15, 17), np.float32), 0, 1)
              for i in range(3)]
    info = VideoInfo(17, 15, Fraction(30000, 1001), frames=3)
    data = _encode(frames, info, 0.1 * 40)
    dinfo, it = decode_video(data)
    out = list(it)
    assert len(out) == 3 and out[0].shape == (3, 15, 17)
    assert dinfo.video.fps == Fraction(30000, 1001)


def test_rate_control_never_trades_quality_for_a_fuller_payload(sample, monkeypatch):
    """Among the payloads that fit (the finest step, coarser steps, the fill), the one that
    renders best is kept: neither the fill's size nor the quality is monotonic."""
    import torch

    from exvc.encode import rate_control
    from exvc.encode.presets import preset_plan
    from exvc.encode.segment_coder import fit_inr

    info, frames = sample
    video = torch.from_numpy(np.stack(frames[:8]))  # 8 frames: the check renders them all
    fitted = fit_inr(video, 420, preset_plan("veryfast").for_frames(8))

    def mse() -> float:
        return float(torch.mean((fitted.render() - video) ** 2))

    for budget in range(300, 421, 8):
        chosen = fitted.quantize(budget)
        assert chosen.size <= budget
        got = mse()
        with monkeypatch.context() as m:  # the finest plain step that fits, alone
            m.setattr(rate_control, "_fill_between", lambda *a: None)
            m.setattr(rate_control, "_coarser_codes", lambda code: [])
            finest = fitted.quantize(budget)
        assert got <= mse() + 1e-9, f"budget {budget}"
        # a finer step is only ever the fill's: the step just finer than the finest that fits
        assert chosen.payload.latent_step >= finest.payload.latent_step - 1


def test_the_trained_step_is_always_a_rate_control_candidate():
    """The geometric ladder of coarser steps can jump over step 1, the step the latents were
    rounded at in training and the synthesis learned (docs/inr.md, "Training overshot its
    rate")."""
    from exvc.bitstream.segment import LATENT_STEP_ONE
    from exvc.encode.rate_control import _coarser_codes

    for code in (180, 230, 241, 250, 255):
        assert LATENT_STEP_ONE in _coarser_codes(code), code
    assert all(c > 300 for c in _coarser_codes(300))  # never finer than the finest that fits


def test_rounded_zeros_feel_the_rate_in_the_rounding_phase():
    """The soft rate has the rounded latents' bits as its value, and the smooth proxy's pull
    toward zero as its gradient, also for latents that round to zero. The plain
    straight-through rate gives those no gradient, and training then let them drift over the
    threshold, and the rate ended far past its target (docs/inr.md, "Training overshot its
    rate")."""
    import torch

    from exvc.encode.fit import _soft_rate
    from exvc.models.rate import laplace_bits

    latents = torch.tensor([[-1.4, -0.3, 0.0, 0.2, 0.45, 0.7, 2.2]], requires_grad=True)
    log_scale = torch.zeros(1, requires_grad=True)
    bits = _soft_rate(latents, log_scale)
    assert bits.item() == pytest.approx(laplace_bits(torch.round(latents), log_scale).item())
    bits.backward()
    grad = latents.grad[0]
    values = latents.detach()[0]
    moving = values != 0
    # every nonzero latent, rounded to zero or not, is pulled toward zero
    assert torch.all(torch.sign(grad[moving]) == torch.sign(values[moving]))
    assert float(grad[3].abs()) > 0.1 and float(grad[4].abs()) > 0.1  # 0.2, 0.45 round to 0
    # the scales learn from the rounded values, as the proxy's value says
    ref = torch.zeros(1, requires_grad=True)
    laplace_bits(torch.round(latents.detach()), ref).backward()
    assert torch.allclose(log_scale.grad, ref.grad)


def _floor_bpp(info: VideoInfo, frames: int, codec: str = "dinr") -> float:
    """The rate at which the early check's floor sits, read back from its own message."""
    import re

    with pytest.raises(EncodeError, match=r"too low.*\([\d.]+ bpp\)") as caught:
        _encode([np.zeros((3, info.height, info.width), np.float32)] * frames, info, 1e-3,
                codec=codec)
    return float(re.search(r"\(([\d.]+) bpp\)", str(caught.value)).group(1))


@pytest.mark.parametrize("frames", [1, 2, 5])
def test_a_rate_below_the_floor_is_refused_before_any_frame_is_read(frames):
    info = VideoInfo(width=64, height=48, fps=Fraction(25), frames=frames)

    def untouched():
        raise AssertionError("a frame was read")
        yield

    floor = _floor_bpp(info, frames)
    with pytest.raises(EncodeError, match=rf"too low for 64x48 x {frames} frames: the smallest "
                                          r"file is about \d+ bytes"):
        encode_video(untouched(), info, EncodeSettings(bpp=0.97 * floor))


def test_at_the_floor_coding_never_fails_late():
    """Just above the early floor, an INR fit whose trained weights cost more than the budget
    still gives a file: coarser weights, at last all zero (rate_control.zero_payload)."""
    info = VideoInfo(width=64, height=48, fps=Fraction(25), frames=2)
    floor = _floor_bpp(info, 2, codec="inr")
    rng = np.random.default_rng(0)
    frames = [rng.random((3, 48, 64), dtype=np.float32) for _ in range(2)]
    data = _encode(frames, info, 1.01 * floor, codec="inr")
    assert 8 * len(data) / (64 * 48 * 2) <= 1.01 * floor
    assert len(list(decode_video(data)[1])) == 2


def test_the_zero_payload_is_the_floor_of_fit_to_budget():
    import torch

    from exvc.encode.rate_control import BudgetError, fit_to_budget, zero_payload
    from exvc.models.config import INRConfig
    from exvc.models.inr import GridINR
    from exvc.models.quantize import synthesis_tensors

    torch.manual_seed(0)
    cfg = INRConfig(levels=5, channels=2, spatial_log2=1, temporal_log2=6, temporal_slope=3,
                    mlp_width=8, mlp_layers=1, refine_layers=0)
    model = GridINR(cfg, 2, 48, 64)
    with torch.no_grad():
        for p in synthesis_tensors(model):
            p.normal_(0, 3)  # weights that cost far more than the budget below
    video = torch.rand(2, 3, 48, 64)
    floor = zero_payload(cfg.fields(), 2, 48, 64)
    codes = [32] * len(synthesis_tensors(model))
    seg = fit_to_budget(model, codes, floor.size, video)
    assert seg.size <= floor.size
    with pytest.raises(BudgetError, match=f"needs at least {floor.size} bytes, budget is "
                                          f"{floor.size - 1}"):
        fit_to_budget(model, codes, floor.size - 1, video)
