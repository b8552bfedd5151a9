"""Anchors listed in a BASE (format 1.6) and placed by a perceptual threshold (Li et al.
2024): the layout, its coding, hostile lists, motion over a listed layout, the refresh rule
on a synthetic change, and the encoder and decoder agreeing on a refreshed base."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from exvc.bitstream.anchors import MAX_GAP, Between, check, describe, layout, uniform
from exvc.bitstream.base import VVC, BasePayload, read_base, with_anchors, write_base
from exvc.bitstream.bytesio import ByteWriter, DinrError
from exvc.bitstream.container import HEAD, MOTION, Chunk, write_container
from exvc.bitstream.motion import (
    AFFINE,
    FrameMotion,
    MotionPayload,
    between_frames,
    read_motion,
    write_motion,
)
from exvc.decode.decoder import decode_video, probe
from exvc.encode.base_coder import BaseConfig, code_base
from exvc.encode.condition import BaseJob
from exvc.encode.condition_choice import Candidates, choose_condition
from exvc.encode.encoder import make_header
from exvc.encode.presets import preset_plan
from exvc.encode.refresh import DEFAULT_THRESHOLD, refresh_anchors
from exvc.encode.settings import EncodeSettings
from exvc.media import base_codecs
from exvc.media.base_video import expand_frames
from exvc.media.types import VideoInfo

W, H = 64, 48
CODEC = next(c for c in ("vvc", "av1", "hevc") if base_codecs.available(c))
LISTED = (0, 3, 4, 12, 20)  # gaps 3, 1, 8, 8; 5 frames after the last


# -- the layout --------------------------------------------------------------------------------


def test_a_uniform_layout_is_every_step_frames():
    assert uniform(13, 4) == (0, 4, 8, 12)
    assert [b.frame for b in layout(13, uniform(13, 4))] == [1, 2, 3, 5, 6, 7, 9, 10, 11]
    assert layout(10, uniform(10, 4))[-1] == Between(9, 8, 1, 0)  # after the last: no next


def test_a_listed_layout_names_each_frames_anchors():
    between = layout(25, LISTED)
    assert len(between) == 25 - len(LISTED)
    assert between[0] == Between(1, 0, 1, 3)
    assert Between(5, 4, 1, 8) in between and Between(24, 20, 4, 0) in between
    assert between_frames(25, LISTED) == (20, 16)
    assert describe(LISTED, 25) == "5 anchors in 25 frames"
    assert describe(uniform(25, 4), 25) == "1 frame in 4"


def test_the_writer_picks_a_step_where_it_can_and_a_list_otherwise():
    assert with_anchors(25, uniform(25, 4)) == (4, ())
    assert with_anchors(40, uniform(40, 16)) == (0, (0, 16, 32))  # a step the field lacks
    assert with_anchors(25, LISTED) == (0, LISTED)


@pytest.mark.parametrize("anchors, frames, message", [
    ((), 8, "frame 0"), ((1, 4), 8, "frame 0"), ((0, 4, 4), 8, "increase"),
    ((0, MAX_GAP + 1), 40, "apart"), ((0,), MAX_GAP + 1, "apart"), ((0, 8), 8, "frame 8"),
])
def test_a_bad_layout_is_named(anchors, frames, message):
    assert message in check(anchors, frames)


# -- the BASE payload --------------------------------------------------------------------------


def _listed_payload(frames: int = 25, anchors=LISTED) -> BasePayload:
    units = tuple(b"\x00\x01" + bytes([k]) for k in range(len(anchors)))
    return BasePayload(frames, VVC, 32, 24, 0, 0, units, tuple(anchors))


def test_a_listed_base_round_trips():
    p = _listed_payload()
    data = write_base(p)
    assert read_base(data, 64, 48, 32) == p
    assert p.anchors == LISTED and p.coded_frames == 5
    with pytest.raises(ValueError, match="bad anchor list"):
        write_base(_listed_payload(anchors=(0, 40)))


def _raw_listed(frames: int, count: int, gaps: list[int]) -> bytes:
    w = ByteWriter().uleb(frames).u8(VVC).uleb(32).uleb(24).u8(0).u8(0).uleb(count)
    for g in gaps:
        w.uleb(g)
    return w.uleb(3).raw(b"\x00\x01a").getvalue()


@pytest.mark.parametrize("data, message", [
    (_raw_listed(12, 0, []), "0 anchors in a base of 12 frames"),
    (_raw_listed(12, 13, [1] * 12), "13 anchors in a base of 12 frames"),
    (_raw_listed(12, 2, [0]), "anchor gap of 0"),
    (_raw_listed(40, 2, [MAX_GAP + 1]), f"anchor gap of {MAX_GAP + 1}"),
    (_raw_listed(12, 2, [12]), "anchor gap of 12"),  # beyond the segment
    (_raw_listed(40, 1, []), "39 frames after a base's last anchor"),
    (_raw_listed(12, 3, [4]), "truncated|unit"),  # the list runs into the units
])
def test_a_hostile_anchor_list_is_refused(data, message):
    with pytest.raises(DinrError, match=message):
        read_base(data, 64, 48, 64)


# -- frames and motion over a listed layout ----------------------------------------------------


def test_frames_between_listed_anchors_are_blended_by_their_own_gap():
    pictures = [torch.full((1,), float(v)) for v in (0, 3, 6)]
    out = [float(f) for f in expand_frames(pictures, 8, (0, 1, 4))]
    assert out == pytest.approx([0, 3, 4, 5, 6, 6, 6, 6])


def test_motion_over_a_listed_layout_round_trips():
    rng = np.random.default_rng(1)
    motions = []
    for b in layout(25, LISTED):
        prev = tuple(int(v) for v in rng.integers(-30, 30, 6))
        nxt = tuple(int(v) for v in rng.integers(-30, 30, 6)) if b.has_next else None
        mask = rng.integers(0, 3, (-(-H // 16), -(-W // 16))) if b.has_next else None
        motions.append(FrameMotion(prev, nxt, mask))
    p = MotionPayload(AFFINE, 2, 0, 16, tuple(motions))
    q = read_motion(write_motion(p, 25, LISTED, H, W), 25, LISTED, H, W)
    for a, b in zip(p.motions, q.motions, strict=True):
        assert a.previous == b.previous and a.next == b.next
        assert (a.mask is None) == (b.mask is None)
        assert a.mask is None or np.array_equal(a.mask, b.mask)


def test_steady_motion_over_a_listed_layout_codes_to_almost_nothing():
    steady = tuple(FrameMotion((2 * b.offset, 0, 0, 0, 0, 0),
                               (-2 * (b.gap - b.offset), 0, 0, 0, 0, 0) if b.has_next else None)
                   for b in layout(25, LISTED))
    assert len(write_motion(MotionPayload(1, 0, 0, 0, steady), 25, LISTED, H, W)) <= 16


# -- the refresh rule --------------------------------------------------------------------------


def changing(frames: int = 24, change: int = 13) -> torch.Tensor:
    """A still, smooth scene in which a bright patch appears at frame ``change``."""
    g = torch.Generator().manual_seed(0)
    scene = F.interpolate(torch.rand(1, 3, H // 8, W // 8, generator=g), size=(H, W),
                          mode="bicubic", align_corners=False).clamp(0, 1)
    video = scene.repeat(frames, 1, 1, 1)
    video[change:, :, 10:30, 20:44] = 0.95
    return video.contiguous()


def _decoded(video: torch.Tensor, anchors) -> torch.Tensor:
    """What a decoder would rebuild from slightly blurred anchors, blended in time."""
    coded = F.avg_pool2d(video, 3, 1, 1, count_include_pad=False)
    return torch.stack(list(expand_frames([coded[a] for a in anchors], len(video), anchors)))


def test_a_sudden_change_gets_new_anchors_there():
    video = changing()
    anchors = uniform(len(video), 8)
    placed = refresh_anchors(video, _decoded(video, anchors), anchors, 0.5)
    assert {12, 13} & set(placed)  # the last frame before the change, or the first after
    assert len(placed) == len(anchors) + 1  # one spare anchor, spent there
    assert check(placed, len(video)) is None
    # with anchors to spare where prediction holds (a still start), they move to the change
    video[:8] = video[8]
    longer = torch.cat([video[:1].repeat(16, 1, 1, 1), video])
    anchors = uniform(len(longer), 8)
    placed = refresh_anchors(longer, _decoded(longer, anchors), anchors, 0.5)
    assert {28, 29} <= set(placed) and len(placed) <= len(anchors) + 1


def test_a_still_clip_keeps_only_the_anchors_it_needs():
    video = changing()[:1].repeat(24, 1, 1, 1)
    anchors = uniform(24, 2)
    placed = refresh_anchors(video, _decoded(video, anchors), anchors, 0.5)
    assert placed == (0,)  # every frame is the first: one anchor, held


def test_a_looser_threshold_places_no_more_anchors():
    video = changing()
    anchors = uniform(len(video), 4)
    dec = _decoded(video, anchors)
    counts = [len(refresh_anchors(video, dec, anchors, t)) for t in (0.05, 0.5, 5.0)]
    assert counts[0] >= counts[1] >= counts[2]


# -- the encoder and the decoder ---------------------------------------------------------------


@pytest.mark.slow
def test_the_encoder_offers_a_refreshed_base_and_the_decoder_rebuilds_it():
    # the patch appears at frame 11, where the blend between anchors 8 and 16 is worst, so
    # the one anchor that refreshing may add lands on it and wins clearly (29.0 dB against
    # 26.8 over all frames); at frame 13 the greedy pick is frame 12, a near tie on PSNR
    video = changing(change=11)
    job = BaseJob(video, Fraction(25), "ultrafast")
    cands = Candidates((BaseConfig(CODEC, 1, 8),), refresh=0.5)
    choice = choose_condition(video, 3000, cands, job, preset_plan("ultrafast"))
    labels = [label for label, _ in choice.judged]
    assert any("refreshed anchors" in label for label in labels), labels
    anchors = refresh_anchors(video, code_base(video, 2900, BaseConfig(CODEC, 1, 8),
                                               Fraction(25), "ultrafast").frames,
                              uniform(len(video), 8), 0.5)
    coded = code_base(video, 2900, BaseConfig(CODEC, 1, 8, anchors=anchors), Fraction(25),
                      "ultrafast")
    assert coded.payload.frame_step == 0 and coded.payload.anchors == anchors
    header = make_header(VideoInfo(W, H, Fraction(25), frames=len(video)),
                         EncodeSettings(bpp=1, codec="inr"), len(video))
    data = write_container([Chunk(HEAD, header.to_bytes()), *coded.chunks()])
    frames = torch.from_numpy(np.stack(list(decode_video(data)[1])))
    assert torch.allclose(frames, coded.frames, atol=1e-5)
    assert f"{len(anchors)} anchors in {len(video)} frames" in " ".join(probe(data).layers)


@pytest.mark.slow
def test_motion_chunks_follow_a_refreshed_base():
    video = changing()
    anchors = (0, 8, 12, 13, 16)
    job = BaseJob(video, Fraction(25), "ultrafast", motion=True)
    config = BaseConfig(CODEC, 1, 8, anchors=anchors)
    coded = code_base(video, 2900, config, Fraction(25), "ultrafast")
    still = tuple(FrameMotion((0,) * 6, (0,) * 6 if b.has_next else None)
                  for b in layout(len(video), anchors))
    payload = MotionPayload(1, 0, 1, 0, still)  # the nearer anchor, no warp
    data_m = write_motion(payload, len(video), anchors, H, W)
    header = make_header(VideoInfo(W, H, Fraction(25), frames=len(video)),
                         EncodeSettings(bpp=1, codec="inr"), len(video))
    data = write_container([Chunk(HEAD, header.to_bytes()), *coded.chunks(),
                            Chunk(MOTION, data_m)])
    frames = np.stack(list(decode_video(data)[1]))
    assert frames.shape == tuple(video.shape)
    # frame 14 lies between anchors 13 and 16: the nearer, 13, shows the patch
    assert frames[14, :, 20, 30].mean() > 0.8
    assert job.motion_for(anchors, 3000) is None or job.motion_for(anchors, 3000).data
    assert replace(config, anchors=()).anchor_frames(len(video)) == uniform(len(video), 8)


@pytest.mark.parametrize("settings, refresh", [
    ({}, DEFAULT_THRESHOLD),
    ({"base_framestep": 4}, 0.0),  # a pinned frame step is kept as it is
    ({"base_framestep": 4, "refresh_threshold": 0.3}, 0.3),
    ({"refresh_threshold": 0.0}, 0.0),  # generation placed by threshold: off
])
def test_the_threshold_follows_the_options(settings, refresh):
    from exvc.encode.layers import candidates_for

    cands = candidates_for(EncodeSettings(bpp=0.01, **settings),
                           preset_plan("medium").base, 320, 240)
    assert cands.refresh == refresh


@pytest.mark.slow
def test_with_refresh_off_the_encoder_offers_no_refreshed_base():
    video = changing()[:12]
    job = BaseJob(video, Fraction(25), "ultrafast")
    choice = choose_condition(video, 3000, Candidates((BaseConfig(CODEC, 1, 4),)), job,
                              preset_plan("ultrafast"))
    assert not any("refreshed" in label for label, _ in choice.judged)
    assert choice.condition.coded.payload.frame_step == 4
