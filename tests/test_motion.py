"""MOTION chunks (format 1.5): global motion and masks that predict the frames between a
base's coded pictures."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
import torch

from exvc.bitstream.anchors import uniform
from exvc.bitstream.base import write_base
from exvc.bitstream.bytesio import DinrError
from exvc.bitstream.container import (
    BASE,
    HEAD,
    MOTION,
    SEGMENT,
    Chunk,
    chunk_size,
    write_container,
)
from exvc.bitstream.entropy import encode_symbols
from exvc.bitstream.motion import (
    AFFINE,
    MAX_MASK_CELLS,
    TRANSLATION,
    FrameMotion,
    MotionPayload,
    between_frames,
    rdiv,
    read_motion,
    write_motion,
)
from exvc.decode.decoder import decode_video, parse_stream, probe
from exvc.encode.base_coder import BaseConfig, code_base
from exvc.encode.condition import BaseJob
from exvc.encode.encoder import make_header
from exvc.encode.motion_estimation import estimate_motion, fit_warp, phase_shift
from exvc.encode.settings import EncodeSettings
from exvc.media import base_codecs
from exvc.media.global_motion import LINEAR, NEAREST, next_weight, time_weight, warp
from exvc.media.types import VideoInfo

W, H = 64, 48
CODEC = next(c for c in ("vvc", "av1", "hevc") if base_codecs.available(c))


def last_anchor(frames: int, step: int) -> int:
    return uniform(frames, step)[-1]


def motions(frames: int, step: int, affine: bool = False, cell: int = 0,
            seed: int = 0) -> tuple[FrameMotion, ...]:
    """Arbitrary motions for every frame between anchors (a mask where there is a next)."""
    rng = np.random.default_rng(seed)
    last = last_anchor(frames, step)
    n = 6 if affine else 2
    out = []
    for i in range(frames):
        if i % step:
            prev = tuple(int(v) for v in rng.integers(-40, 40, n)) + (0,) * (6 - n)
            nxt = (tuple(int(v) for v in rng.integers(-40, 40, n)) + (0,) * (6 - n)
                   if i < last else None)
            mask = None
            if cell and nxt is not None:
                mask = rng.integers(0, 3, (-(-H // cell), -(-W // cell)))
            out.append(FrameMotion(prev, nxt, mask))
    return tuple(out)


# -- the payload --------------------------------------------------------------------------------


@pytest.mark.parametrize("frames, step, model, cell", [
    (13, 4, AFFINE, 16), (13, 4, TRANSLATION, 0), (8, 2, TRANSLATION, 8), (9, 8, AFFINE, 0),
    (3, 4, TRANSLATION, 16),  # no next anchor at all: only frames after the last
])
def test_a_motion_payload_round_trips(frames, step, model, cell):
    p = MotionPayload(model, 2, NEAREST, cell, motions(frames, step, model == AFFINE, cell))
    q = read_motion(write_motion(p, frames, uniform(frames, step), H, W), frames,
                    uniform(frames, step), H, W)
    assert (q.model, q.precision, q.blend, q.cell) == (model, 2, NEAREST, cell)
    for a, b in zip(p.motions, q.motions, strict=True):
        assert a.previous == b.previous and a.next == b.next
        assert (a.mask is None) == (b.mask is None)
        if a.mask is not None:
            assert np.array_equal(a.mask, b.mask)


def test_steady_motion_is_predicted_and_costs_almost_nothing():
    frames, step = 33, 8
    last = last_anchor(frames, step)
    steady = tuple(FrameMotion((3 * (i % step), -(i % step), 0, 0, 0, 0),
                               (-3 * (step - i % step), step - i % step, 0, 0, 0, 0)
                               if i < last else None)
                   for i in range(frames) if i % step)
    jittery = tuple(replace(m, previous=(m.previous[0] + i % 3,) + m.previous[1:])
                    for i, m in enumerate(steady))
    size = len(write_motion(MotionPayload(TRANSLATION, 0, LINEAR, 0, steady), frames,
                            uniform(frames, step), H, W))
    assert size <= 16  # 4 fixed bytes, the models, the two non-zero residuals
    assert size < len(write_motion(MotionPayload(TRANSLATION, 0, LINEAR, 0, jittery), frames,
                                   uniform(frames, step), H, W))


def test_integer_rounding_is_halves_up():
    assert [rdiv(n, 2) for n in (-3, -1, 1, 3)] == [-1, 0, 1, 2]
    assert rdiv(-7, 3) == -2 and rdiv(7, 3) == 2
    assert between_frames(13, uniform(13, 4)) == (9, 9)
    assert between_frames(10, uniform(10, 4)) == (7, 6)


def _payload(model=TRANSLATION, precision=2, blend=0, cell=0, tensors=None, frames=9,
             step=4) -> bytes:
    total, with_next = between_frames(frames, uniform(frames, step))
    if tensors is None:
        tensors = [np.zeros(total * 2, np.int64), np.zeros(with_next * 2, np.int64)]
    return bytes([model, precision, blend, cell]) + encode_symbols(tensors)


@pytest.mark.parametrize("data, message", [
    (_payload(model=3), "needs a newer exvc: unknown motion model 3"),
    (_payload(precision=4), "motion precision 4"),
    (_payload(blend=2), "motion blend rule 2"),
    (_payload(cell=7), "motion mask cell of 7 pixels"),
    (_payload(cell=16, tensors=[np.zeros(12, np.int64), np.zeros(12, np.int64),
                                np.full(6 * 3 * 4, 3, np.int64)]), "mask value outside 0..2"),
    (_payload(tensors=[np.full(12, 40000, np.int64), np.zeros(12, np.int64)]),
     "motion parameter beyond"),
    (_payload(tensors=[np.arange(12) % 3, np.zeros(12, np.int64)]) + b"\x00\x00\x00\x00",
     "not the one its symbols encode to"),
    (_payload() + b"\x00\x00\x00\x00", "unexpected data after the entropy model"),
    (_payload()[:3], "truncated"),
])
def test_a_hostile_motion_payload_is_refused(data, message):
    with pytest.raises(DinrError, match=message):
        read_motion(data, 9, uniform(9, 4), H, W)


def test_motion_for_a_base_with_nothing_between_its_pictures_is_refused():
    with pytest.raises(DinrError, match="no frame between its pictures"):
        read_motion(_payload(), 8, uniform(8, 1), H, W)


def test_masks_beyond_the_limit_are_refused_before_decoding():
    # 16384 x 16384 frames with 8-pixel cells: 2048 x 2048 cells a frame
    with pytest.raises(DinrError, match=f"limit {MAX_MASK_CELLS}"):
        read_motion(bytes([1, 0, 0, 8]), 9, uniform(9, 4), 16384, 16384)


# -- warping ------------------------------------------------------------------------------------


def test_warps_shift_by_their_parameters_and_repeat():
    frame = torch.rand(3, H, W)
    assert torch.equal(warp(frame, (0,) * 6, 3), frame)
    shifted = warp(frame, (3 * 8, -2 * 8, 0, 0, 0, 0), 3)  # 3 px right, 2 px up, in 1/8 px
    assert torch.allclose(shifted[:, 4:-4, 4:-6], frame[:, 2:-6, 7:-3], atol=1e-5)
    assert torch.equal(warp(frame, (5, 1, 3, -2, 1, 4), 2), warp(frame, (5, 1, 3, -2, 1, 4), 2))


def test_blend_rules_and_masks_weigh_the_anchors():
    assert [time_weight(o, 4, LINEAR) for o in (1, 2, 3)] == [0.25, 0.5, 0.75]
    assert [time_weight(o, 4, NEAREST) for o in (1, 2, 3)] == [0.0, 0.5, 1.0]
    mask = np.array([[1, 2], [0, 0]])
    w = next_weight(mask, 1, 4, 32, 32, LINEAR)
    assert w[0, 0, 0] == 0 and w[0, 0, -1] == 1 and w[0, -1, 0] == 0.25


# -- estimation ---------------------------------------------------------------------------------


def panning(frames: int = 17, speed: float = 1.5) -> torch.Tensor:
    """A textured scene panned right by ``speed`` pixels a frame."""
    rng = np.random.default_rng(3)
    scene = torch.from_numpy(rng.random((3, H // 4, 2 * W // 4)).astype(np.float32))
    scene = torch.nn.functional.interpolate(scene[None], size=(H, 2 * W), mode="bicubic",
                                            align_corners=False)[0].clamp(0, 1)
    out = []
    for i in range(frames):
        x = speed * i
        grid_x = torch.linspace(-1, 1, W) * (W / (2 * W)) - 0.5 + 2 * x / (2 * W)
        grid = torch.stack(torch.meshgrid(torch.linspace(-1, 1, H), grid_x, indexing="ij"),
                           -1).flip(-1)[None]
        out.append(torch.nn.functional.grid_sample(scene[None], grid, align_corners=False)[0])
    return torch.stack(out).clamp(0, 1)


def test_estimation_finds_a_pan():
    video = panning()
    gray = video.mean(1, keepdim=True)
    dx, dy = phase_shift(gray[0], gray[4])
    assert (round(dx), round(dy)) == (6, 0)
    v = fit_warp(gray[0], gray[4], affine=False)
    assert abs(float(v[0]) * W / 2 - 6.0) < 0.3 and abs(float(v[1]) * H / 2) < 0.3


def test_motion_pays_on_a_pan_and_is_left_out_on_a_still_clip():
    video = panning()
    choice = estimate_motion(video, uniform(len(video), 4), budget=2000)
    assert choice is not None and choice.psnr > 30
    assert choice.payload.motions[0].previous[0] > 0  # the frame after an anchor looks right
    still = video[:1].repeat(len(video), 1, 1, 1)
    assert estimate_motion(still, uniform(len(still), 4), budget=2000) is None


# -- files --------------------------------------------------------------------------------------


def _header(frames: int, codec: str = "inr") -> bytes:
    return make_header(VideoInfo(W, H, Fraction(25), frames=frames),
                       EncodeSettings(bpp=1, codec=codec), frames).to_bytes()


@pytest.fixture(scope="module")
def coded():
    """A panned clip's base every 4 frames, with the motion the encoder keeps for it."""
    video = panning()
    job = BaseJob(video, Fraction(25), "ultrafast", motion=True)
    return video, job.code(BaseConfig(CODEC, 1, 4), 3000)


def test_the_encoder_keeps_motion_where_it_pays_and_the_decoder_rebuilds_its_frames(coded):
    video, base = coded
    assert base.motion is not None
    data = write_container([Chunk(HEAD, _header(len(video))), *base.chunks()])
    info, frames = decode_video(data)
    decoded = torch.from_numpy(np.stack(list(frames)))
    assert torch.allclose(decoded, base.frames, atol=1e-5)
    again = torch.from_numpy(np.stack(list(decode_video(data)[1])))
    assert torch.equal(decoded, again)
    plain = code_base(video, len(base.chunks()[0].payload), BaseConfig(CODEC, 1, 4),
                      Fraction(25), "ultrafast")
    between = [i for i in range(len(video)) if i % 4]
    err = [float(((f[between] - video[between]) ** 2).mean()) for f in (decoded, plain.frames)]
    assert err[0] < err[1]
    assert "motion" in " ".join(probe(data).layers)
    assert ("motion 0", chunk_size(len(base.chunks()[1].payload))) in probe(data).sections


def test_without_motion_the_encoder_writes_none(coded):
    video, _ = coded
    job = BaseJob(video, Fraction(25), "ultrafast", motion=False)
    assert job.code(BaseConfig(CODEC, 1, 4), 3000).motion is None


@pytest.mark.parametrize("order, message", [
    ("MB", "a motion chunk must follow a base"),
    ("BMM", "a motion chunk must follow a base"),
    ("BSM", "a motion chunk must follow a base"),
    ("EMS", None),  # BASE announcing an enhancement, MOTION, its SEGMENT: valid
    ("ESM", "a motion chunk must follow a base"),
])
def test_motion_chunks_stand_only_after_a_base(coded, order, message):
    from exvc.bitstream.segment import write_segment
    from exvc.encode.presets import preset_plan
    from exvc.encode.segment_coder import fit_inr

    video, base = coded
    base_bytes = write_base(base.payload)
    chunks = {"B": Chunk(BASE, base_bytes), "E": Chunk(BASE, base.with_enhancement()),
              "M": Chunk(MOTION, base.motion.data)}
    if "S" in order:
        fitted = fit_inr(video, 600, preset_plan("ultrafast"), seed=1)
        chunks["S"] = Chunk(SEGMENT, write_segment(fitted.quantize(600).payload))
    frames = len(video) * (2 if order == "BSM" else 1)
    seq = [chunks[c] for c in order]
    data = write_container([Chunk(HEAD, _header(frames)), *seq])
    if message is None:
        stream = parse_stream(data)
        assert stream.motions[0] is not None and stream.segments[0] is not None
    else:
        with pytest.raises(DinrError, match=message):
            parse_stream(data)


def test_the_preset_decides_unless_base_motion_is_given():
    from exvc.encode.presets import preset_plan
    from exvc.encode.segment_task import BaseLayers

    info = VideoInfo(W, H, Fraction(25), frames=8)

    def motion(preset: str, **given) -> bool:
        settings = EncodeSettings(bpp=0.1, preset=preset, **given)
        return BaseLayers.create(settings, info, preset_plan(preset), 1).motion

    assert not motion("fast") and motion("slow")
    assert motion("fast", base_motion=True) and not motion("slow", base_motion=False)
