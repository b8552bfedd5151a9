"""-threads is held for one encode or decode, not left set in the process: torch's thread count
(and the decoder's inference mode) is back after encode_video and decode_video, also when they
raise, between the frames of a decode and after a decode closed early."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from exvc.decode.decoder import decode_video, parse_stream
from exvc.encode.encoder import EncodeError, encode_video
from exvc.encode.settings import EncodeSettings
from exvc.media.types import VideoInfo
from exvc.models import quantize
from exvc.models.threads import confined, torch_threads

COMPAT = Path(__file__).resolve().parent / "data" / "compat" / "v1.0"  # INR segments only
INR_FILE = COMPAT / "basic_16x16_4f.dinr"  # 4 frames of one INR: the cheapest real decode
TWO_SEGMENTS = COMPAT / "two_segments_24x16_6f.dinr"


@pytest.fixture
def other() -> Iterator[int]:
    """A thread count other than the session's (which every test must leave as it found)."""
    before = torch.get_num_threads()
    yield 1 if before != 1 else 2
    assert torch.get_num_threads() == before


def test_torch_threads_restores_on_exit_and_on_raise(other):
    before = torch.get_num_threads()
    with torch_threads(other):
        assert torch.get_num_threads() == other
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="inside"), torch_threads(other):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    for unset in (None, 0):
        with torch_threads(unset):
            assert torch.get_num_threads() == before


def test_confined_holds_its_scope_only_while_the_generator_runs(other):
    before = torch.get_num_threads()
    seen, closed = [], []

    def gen():
        try:
            for i in range(3):
                seen.append(torch.get_num_threads())
                yield i
        finally:
            closed.append(torch.get_num_threads())

    items = confined(gen(), lambda: torch_threads(other))
    assert next(items) == 0 and torch.get_num_threads() == before
    assert next(items) == 1 and torch.get_num_threads() == before
    items.close()  # early: the generator's own clean-up still runs in its scope
    assert seen == [other, other] and closed == [other]
    assert torch.get_num_threads() == before


def _watch_generation(monkeypatch) -> list[tuple[int, bool]]:
    """(thread count, inference mode) each time the decoder builds a segment's INR."""
    seen = []
    real = quantize.model_from_payload

    def spy(*args, **kwargs):
        seen.append((torch.get_num_threads(), torch.is_inference_mode_enabled()))
        return real(*args, **kwargs)

    monkeypatch.setattr(quantize, "model_from_payload", spy)
    return seen


def test_decode_video_holds_threads_while_it_renders_and_restores_them(monkeypatch, other):
    before = torch.get_num_threads()
    seen = _watch_generation(monkeypatch)
    info, frames = decode_video(INR_FILE.read_bytes(), threads=other)
    assert torch.get_num_threads() == before  # parsed and checked: nothing left set
    count = 0
    for _ in frames:  # between frames the consumer runs with its own setting
        assert torch.get_num_threads() == before and not torch.is_inference_mode_enabled()
        count += 1
    assert count == info.video.frames and seen == [(other, True)]
    assert torch.get_num_threads() == before


def test_two_decodes_consumed_in_turn_each_keep_their_own_threads(monkeypatch, other):
    """The consumer may interleave generators: each step runs with its own decode's count."""
    before = torch.get_num_threads()
    seen = _watch_generation(monkeypatch)
    data = TWO_SEGMENTS.read_bytes()
    _, mine = decode_video(data, threads=other)
    _, theirs = decode_video(data, threads=before + 2)
    for a, b in zip(mine, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
        assert torch.get_num_threads() == before
    assert sorted(n for n, _ in seen) == [other, other, before + 2, before + 2]


def test_a_decode_closed_early_leaves_nothing_set(other):
    before = torch.get_num_threads()
    _, frames = decode_video(TWO_SEGMENTS.read_bytes(), threads=other)
    next(frames)
    frames.close()
    assert torch.get_num_threads() == before and not torch.is_inference_mode_enabled()


def test_encode_video_restores_threads_when_it_raises(other):
    """The rate floor is checked inside the call's thread setting (the cheapest real
    encode_video that gets there): the setting must not outlive the error."""
    info = VideoInfo(64, 64, Fraction(25), frames=8)
    frames = iter([np.zeros((3, 64, 64), np.float32)] * 8)
    with pytest.raises(EncodeError, match="too low"):
        encode_video(frames, info, EncodeSettings(bpp=0.001, codec="inr", threads=other))


@pytest.mark.slow
def test_reencoding_a_decode_across_segments_trains_outside_inference_mode(other):
    """A .dinr re-encoded from its own decode: the encoder fits its first segment while the
    decoder is suspended mid-stream. Nothing the decoder holds (inference mode, its thread
    count) may reach the encoder's training."""
    info, frames = decode_video(INR_FILE.read_bytes(), threads=other)
    data = encode_video(frames, info.video, EncodeSettings(
        bpp=4.0, codec="inr", preset="ultrafast", segment_frames=2))
    assert len(parse_stream(data).segments) == 2
