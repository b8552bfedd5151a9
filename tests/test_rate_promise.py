"""The rate is the file, and the file never goes over its target: checked on the real bytes
at the end of every encode, and measured end to end at the default preset."""

from __future__ import annotations

import itertools
import os
from fractions import Fraction

import pytest

from exvc.bitstream.container import HEAD, SEGMENT, Chunk, write_container
from exvc.bitstream.header import Header
from exvc.encode.encoder import EncodeError, _within_target, encode_video
from exvc.encode.settings import EncodeSettings
from exvc.media.types import VideoInfo

SAMPLE = os.path.join(os.path.dirname(__file__), "..", "samples", "bbb_192x108_48f.mp4")
HEADER = [Chunk(HEAD, Header(16, 16, 4, 25, 1).to_bytes())]
SEGMENTS = [Chunk(SEGMENT, b"\x01" * 40)]
TOPPED = [Chunk(SEGMENT, b"\x01" * 60)]  # the last segment coded again for more bytes


def test_a_topped_up_file_within_its_target_is_written():
    topped = write_container(HEADER + TOPPED)
    assert _within_target(HEADER, TOPPED, SEGMENTS, len(topped)) == topped


def test_a_top_up_that_goes_over_falls_back_to_the_segments_before_it():
    plain = write_container(HEADER + SEGMENTS)
    topped_size = len(write_container(HEADER + TOPPED))
    assert _within_target(HEADER, TOPPED, SEGMENTS, topped_size - 1) == plain
    assert _within_target(HEADER, TOPPED, SEGMENTS, len(plain)) == plain


def test_a_file_over_its_target_is_an_error_not_an_output():
    plain = write_container(HEADER + SEGMENTS)
    with pytest.raises(EncodeError, match=rf"internal error: the file came to {len(plain)} "
                                          rf"bytes, over its target of {len(plain) - 1}"):
        _within_target(HEADER, TOPPED, SEGMENTS, len(plain) - 1)
    with pytest.raises(EncodeError, match="over its target"):
        _within_target(HEADER, SEGMENTS, SEGMENTS, len(plain) - 1)


@pytest.mark.slow
def test_the_default_preset_keeps_three_segments_under_the_target():
    """The default preset (medium) and codec (dinr, a VVC base) with three segments, each
    coded within its planned budget and the last topped up: never over, and within the
    10 % that a base of a few coded pictures allows (README, "Rate"; docs/base.md, "Rate
    accuracy")."""
    import torch

    from exvc.decode.decoder import probe
    from exvc.media.reader import InputOptions, open_input

    settings = EncodeSettings(bpp=0.3, segment_frames=3)
    assert (settings.preset, settings.codec) == ("medium", "dinr")  # the defaults
    with open_input(SAMPLE, InputOptions()) as src:
        frames = [torch.nn.functional.interpolate(torch.from_numpy(f)[None], size=(32, 48),
                                                  mode="area")[0].numpy()
                  for f in itertools.islice(src.frames(), 9)]
    info = VideoInfo(48, 32, Fraction(25), pix_fmt="yuv420p", bit_depth=8, frames=9)
    data = encode_video(iter(frames), info, settings)
    target = int(0.3 * 48 * 32 * 9 / 8)
    assert 0.9 * target <= len(data) <= target
    assert len(probe(data).layers) == 3  # three segments, each with its base
