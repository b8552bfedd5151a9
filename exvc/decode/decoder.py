"""Decode pipeline: .dinr bytes in, frames out.

``probe`` reads only the container (no torch), so ``exvc -i x.dinr`` answers at once;
``decode_video`` rebuilds each segment's INR and renders its frames one at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from exvc.bitstream.bytesio import DinrError
from exvc.bitstream.container import HEAD, META, SEGMENT, chunk_name, read_container
from exvc.bitstream.header import CODEC_INR, MAX_PIXELS_PER_BYTE, Header, decode_metadata
from exvc.media.types import ColourInfo, VideoInfo

_CHROMA_PIX_FMT = {0: "gray", 1: "yuv420p", 2: "yuv422p", 3: "yuv444p", 4: "rgb24"}
_DEEP_SUFFIX = {10: "10le", 12: "12le", 16: "16le"}
# A segment may hold at most this many coded coefficients per pixel of its frames (the real
# INR uses well under one); checked before anything is allocated.
_MAX_SYMBOLS_PER_PIXEL = 4
_MAX_SYMBOLS = 1 << 26
# Frames whose rendering would need more working memory than this are rendered in bands of
# rows, so decoding memory stays bounded whatever the frame size.
BAND_BYTES = 64 << 20


@dataclass
class DinrInfo:
    video: VideoInfo
    codec: str
    version: str
    file_bytes: int
    sections: list[tuple[str, int]]
    metadata: dict[str, str]
    bpp: float
    header: Header


def _pix_fmt(header: Header) -> str:
    base = _CHROMA_PIX_FMT[header.chroma]
    if header.bit_depth == 8:
        return base
    if header.chroma == 4:
        return "rgb48le"
    if header.chroma == 0:
        return f"gray{header.bit_depth}le" if header.bit_depth != 16 else "gray16le"
    return base + _DEEP_SUFFIX[header.bit_depth]


def _parse(data: bytes):
    container = read_container(data)
    head = container.first(HEAD)
    if head is None or container.chunks[0].type != HEAD:
        raise DinrError("corrupt .dinr: the header chunk must come first")
    if len(container.of_type(HEAD)) != 1:
        raise DinrError("corrupt .dinr: more than one header chunk")
    header = Header.from_bytes(head.payload, container.minor)
    return container, header


def probe(data: bytes) -> DinrInfo:
    """Describe a .dinr file from its container alone."""
    return _describe(data, *_parse(data))


def _describe(data: bytes, container, header: Header) -> DinrInfo:
    meta_chunk = container.first(META)
    metadata = decode_metadata(meta_chunk.payload) if meta_chunk else {}
    sections: list[tuple[str, int]] = []
    segment_index = 0
    for chunk, size in zip(container.chunks, container.chunk_sizes, strict=True):
        name = chunk_name(chunk.type)
        if chunk.type == SEGMENT:
            name = f"segment {segment_index}"
            segment_index += 1
        sections.append((name, size))
    colour = ColourInfo(header.matrix, header.primaries, header.transfer, bool(header.full_range))
    video = VideoInfo(header.width, header.height, Fraction(header.fps_num, header.fps_den),
                      _pix_fmt(header), header.bit_depth, colour, header.frames)
    bpp = 8 * len(data) / (header.width * header.height * header.frames)
    return DinrInfo(video, header.codec_name, f"{container.major}.{container.minor}", len(data),
                    sections, metadata, bpp, header)


def parse_segments(data: bytes) -> tuple[DinrInfo, list]:
    """Parse and check everything a decode needs, allocating nothing beyond the limits: the
    container, header, metadata and every SEGMENT payload (entropy-decoded integers).
    Raises :class:`DinrError`. Returns the stream info and the ``SegmentPayload`` list."""
    from exvc.bitstream.segment import read_segment
    from exvc.models.config import INRConfig
    from exvc.models.quantize import segment_layout

    container, header = _parse(data)
    info = _describe(data, container, header)
    check_decodable(header, len(data))
    h, w = header.height, header.width
    seg_frames = min(2 * header.segment_frames, header.frames)
    budget = min(_MAX_SYMBOLS, _MAX_SYMBOLS_PER_PIXEL * seg_frames * h * w)
    payloads = []
    total = 0
    for chunk in container.of_type(SEGMENT):
        p = read_segment(chunk.payload, INRConfig.field_count(),
                         lambda cfg, n: segment_layout(cfg, n, h, w),
                         max_frames=seg_frames, max_symbols=budget)
        payloads.append(p)
        total += p.frames
        if total > header.frames:
            break
    if total != header.frames:
        held = total if total <= header.frames else "more"
        raise DinrError(f"corrupt .dinr: segments hold {held} frames, header says "
                        f"{header.frames}")
    return info, payloads


def decode_video(data: bytes, threads: int | None = None,
                 band_bytes: int = BAND_BYTES) -> tuple[DinrInfo, Iterator[np.ndarray]]:
    """Parse ``data`` fully (every error surfaces here, before any frame), then return the
    stream info and an iterator over float32 RGB (3, H, W) frames. Frames whose rendering
    would need more than ``band_bytes`` are rendered in bands of rows."""
    import torch

    from exvc.models.quantize import model_from_payload

    info, payloads = parse_segments(data)
    h, w = info.video.height, info.video.width
    if threads:
        torch.set_num_threads(threads)

    def frames() -> Iterator[np.ndarray]:
        with torch.inference_mode():
            for p in payloads:
                model = model_from_payload(p, h, w)
                latents = list(model.latents)
                rows = max(1, band_bytes // model.working_bytes_per_row())
                for t in range(p.frames):
                    if rows >= h:
                        yield model.render(latents, [t])[0].clamp_(0, 1).numpy()
                        continue
                    out = np.empty((3, h, w), np.float32)
                    for y0 in range(0, h, rows):
                        y1 = min(h, y0 + rows)
                        out[:, y0:y1] = model.render_rows(latents, t, y0, y1).clamp_(0, 1)
                    yield out

    return info, frames()


def check_decodable(header: Header, file_bytes: int) -> None:
    """Refuse, before anything is allocated, what this decoder cannot or will not decode:
    another codec (the diffusion decoder and its prior do not exist yet) and more decoded
    pixels than the file's size can plausibly describe (``MAX_PIXELS_PER_BYTE``)."""
    if header.codec != CODEC_INR:
        raise DinrError(f"this .dinr uses the '{header.codec_name}' codec (diffusion decoder), "
                        "which this exvc cannot decode: needs a newer exvc")
    pixels = header.width * header.height * header.frames
    if pixels > MAX_PIXELS_PER_BYTE * file_bytes:
        raise DinrError(f"implausible .dinr: {file_bytes} bytes claim {header.frames} frames of "
                        f"{header.width}x{header.height} (decoder limit: "
                        f"{MAX_PIXELS_PER_BYTE} pixels per byte of file)")
