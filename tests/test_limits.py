"""Resource limits of the decoder: header values are checked before anything is allocated from
them, a small file cannot claim a long or huge video, and large frames render in bands."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction

import numpy as np
import pytest
import torch

from exvc.bitstream.bytesio import DinrError
from exvc.bitstream.container import HEAD, SEGMENT, Chunk, write_container
from exvc.bitstream.header import CODEC_DINR, MAX_PIXELS_PER_BYTE, MIN_BPP, Header
from exvc.bitstream.segment import SegmentPayload, write_segment
from exvc.decode.decoder import decode_video, parse_segments
from exvc.encode.encoder import EncodeError, encode_video
from exvc.encode.settings import EncodeSettings
from exvc.media.types import VideoInfo
from exvc.models.config import INRConfig
from exvc.models.inr import GridINR
from exvc.models.quantize import segment_layout


def _all_zero_file(width: int, height: int, frames: int, cfg: INRConfig, codec: int = 0,
                   segment_frames: int = 4096) -> bytes:
    """A syntactically valid file whose every tensor is coded as 'all zeros' (one byte each):
    the cheapest way for a hostile file to declare big grids and long videos."""
    header = Header(width, height, frames, 25, 1, codec=codec, segment_frames=segment_frames)
    chunks = [Chunk(HEAD, header.to_bytes())]
    left = frames
    while left:
        n = min(left, 2 * segment_frames)
        layout = segment_layout(cfg.fields(), n, height, width)
        p = SegmentPayload(n, cfg.fields(), 256, [0] * len(layout.weight_sizes),
                           [np.zeros(s, np.int32) for s in layout.latent_sizes],
                           [np.zeros(s, np.int32) for s in layout.weight_sizes])
        chunks.append(Chunk(SEGMENT, write_segment(p)))
        left -= n
    return write_container(chunks)


BIG = INRConfig(levels=8, channels=16, spatial_log2=0, temporal_log2=0, mlp_width=64,
                mlp_layers=4, refine_layers=4, refine_width=32, temporal_slope=4)


@pytest.mark.parametrize("w,h,frames", [(16384, 16384, 1), (4096, 4096, 1000), (64, 64, 10**6)])
def test_a_small_file_cannot_claim_a_huge_video(w, h, frames):
    header = Header(w, h, frames, 25, 1, segment_frames=4096)
    data = write_container([Chunk(HEAD, header.to_bytes())])
    assert len(data) < 100
    tracemalloc.start()
    try:
        with pytest.raises(DinrError, match="implausible .dinr"):
            parse_segments(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_declared_grids_are_bounded_by_the_file_size():
    """The largest configuration on a frame size the pixel budget allows: its coefficient count
    is over the per-segment limit (4 per decoded pixel) and is refused before decoding."""
    data = _all_zero_file(64, 64, 8, BIG, segment_frames=8)
    with pytest.raises(DinrError, match="coefficients"):
        parse_segments(data)


def test_what_a_100_byte_file_may_allocate_is_small():
    cfg = INRConfig(levels=1, channels=1, spatial_log2=0, temporal_log2=0, mlp_width=1,
                    mlp_layers=0, refine_layers=0, refine_width=1, temporal_slope=4)
    side = 1
    while (2 * side) ** 2 <= MAX_PIXELS_PER_BYTE * 60:
        side *= 2
    data = _all_zero_file(side, side, 1, cfg)  # as many pixels as the floor lets it claim
    assert len(data) <= 100
    tracemalloc.start()
    try:
        _, payloads = parse_segments(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert payloads[0].latents[0].size == side * side
    assert peak < 64 << 20  # a few million int32s at most, never gigabytes


def test_a_diffusion_codec_file_without_its_prior_is_refused():
    cfg = INRConfig()
    with pytest.raises(DinrError, match="needs exactly one prior chunk, has 0"):
        decode_video(_all_zero_file(16, 16, 2, cfg, codec=CODEC_DINR))


def test_segments_beyond_the_header_are_refused():
    cfg = INRConfig()
    data = _all_zero_file(16, 16, 4, cfg, segment_frames=1)  # two segments of 2 frames
    header = Header(16, 16, 3, 25, 1, segment_frames=1)  # says 3, carries 4
    from exvc.bitstream.container import read_container

    chunks = read_container(data).chunks
    forged = write_container([Chunk(HEAD, header.to_bytes())] + chunks[1:])
    with pytest.raises(DinrError, match="segments hold more frames, header says 3"):
        parse_segments(forged)


def test_encoder_refuses_targets_below_the_decoder_floor():
    info = VideoInfo(16, 16, Fraction(25), frames=2)
    with pytest.raises(EncodeError, match="too low"):
        encode_video(iter([]), info, EncodeSettings(bpp=MIN_BPP / 2))
    with pytest.raises(EncodeError, match="beyond the .dinr limits"):
        encode_video(iter([]), VideoInfo(16385, 16, Fraction(25)), EncodeSettings(bpp=0.1))


def test_banded_rendering_matches_the_whole_frame():
    torch.manual_seed(0)
    cfg = INRConfig(levels=3, channels=2, spatial_log2=1, temporal_log2=1, mlp_width=6,
                    mlp_layers=1, refine_layers=3, refine_width=5, temporal_slope=4)
    model = GridINR(cfg, 3, 23, 19)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.5)
        latents = list(model.latents)
        whole = model.render(latents, [1])[0]
        for rows in (1, 2, 5, 23):
            bands = torch.cat([model.render_rows(latents, 1, y, min(23, y + rows))
                               for y in range(0, 23, rows)], dim=1)
            assert torch.allclose(bands, whole, atol=1e-5), rows


def test_decoder_bands_give_the_same_frames():
    from test_compat import COMPAT

    for path in sorted((COMPAT / "v1.0").glob("*.dinr")):
        data = path.read_bytes()
        whole = np.stack(list(decode_video(data)[1]))
        banded = np.stack(list(decode_video(data, band_bytes=1)[1]))  # one row at a time
        assert np.abs(whole - banded).max() < 1e-5, path.name


def _parse_peak(data: bytes) -> tuple[str, int]:
    """What parsing ``data`` gives ('ok' or the error) and its traced allocation peak."""
    from exvc.decode.decoder import parse_stream

    tracemalloc.start()
    try:
        try:
            parse_stream(data)
            result = "ok"
        except DinrError as exc:
            result = str(exc)
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_few_kb_of_entropy_tables_cannot_make_the_parser_allocate():
    """bitstream_spec.md 7.1, the table budget. 256 one-value tensors, each with the largest
    LAPLACE table (131073 entries stated in 6 bytes), in a 4.3 KB file: exvc 1.3 before the
    budget built them all (258 MB traced). Now the file is refused before any table is built,
    and one within the budget builds one table at a time."""
    import hostile

    _parse_peak(hostile.normal())  # imports and caches out of the way
    result, normal = _parse_peak(hostile.normal())
    assert result == "ok"
    data = hostile.many_tables(256)
    assert len(data) < 5000
    result, peak = _parse_peak(data)
    assert "entropy tables of 33554688 entries" in result
    assert peak < normal + (1 << 20)
    result, peak = _parse_peak(hostile.many_tables(10))  # 1.3 M entries: within the budget
    assert result == "ok"
    assert peak < normal + (6 << 20)  # one table's build (~3 MB), not ten (12 MB before)
