"""Parsing a .dinr: the container, the header and every payload, checked against the limits.

``probe`` reads only the container, so ``exvc -i x.dinr`` answers at once: this module imports
neither torch nor the prior at module level (the payload readers it needs are imported when a
whole stream is parsed). ``parse_stream`` parses and checks everything a decode needs before
anything is allocated beyond the limits; ``exvc.decode.decoder`` turns that into frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from exvc.bitstream.anchors import describe as describe_anchors
from exvc.bitstream.audio import AudioPayload, read_audio
from exvc.bitstream.base import peek_base
from exvc.bitstream.bytesio import DinrError
from exvc.bitstream.container import (
    ADAPTER,
    AUDIO,
    BASE,
    HEAD,
    META,
    MOTION,
    PRIOR,
    PRIOR_SHORT,
    SEGMENT,
    Container,
    chunk_name,
    is_critical,
    read_container,
)
from exvc.bitstream.header import CODEC_DINR, MAX_PIXELS_PER_BYTE, Header, decode_metadata
from exvc.bitstream.prior_chunk import read_prior, read_prior_short
from exvc.media.types import ColourInfo, VideoInfo

_CHROMA_PIX_FMT = {0: "gray", 1: "yuv420p", 2: "yuv422p", 3: "yuv444p", 4: "rgb24"}
_DEEP_SUFFIX = {10: "10le", 12: "12le", 16: "16le"}
# A segment may hold at most this many coded coefficients per pixel of its frames (the real
# INR uses well under one); checked before anything is allocated.
_MAX_SYMBOLS_PER_PIXEL = 4
_MAX_SYMBOLS = 1 << 26


@dataclass
class DinrInfo:
    """What ``probe`` tells of a file from its container alone (what ``exvc -i`` lists)."""

    video: VideoInfo
    codec: str
    version: str
    file_bytes: int
    sections: list[tuple[str, int]]
    metadata: dict[str, str]
    bpp: float
    header: Header
    prior: object | None = None  # PriorRecord of a dinr file
    layers: list[str] = field(default_factory=list)  # one line per segment with a base
    audio: AudioPayload | None = None  # the AUDIO chunk, checked
    audio_bytes: int = 0  # what the AUDIO chunk takes of the file


def _pix_fmt(header: Header) -> str:
    base = _CHROMA_PIX_FMT[header.chroma]
    if header.bit_depth == 8:
        return base
    if header.chroma == 4:
        return "rgb48le"
    if header.chroma == 0:
        return f"gray{header.bit_depth}le" if header.bit_depth != 16 else "gray16le"
    return base + _DEEP_SUFFIX[header.bit_depth]


def _parse(data: bytes) -> tuple[Container, Header]:
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


def _describe(data: bytes, container: Container, header: Header) -> DinrInfo:
    meta_chunk = container.first(META)
    metadata = decode_metadata(meta_chunk.payload) if meta_chunk else {}
    sections: list[tuple[str, int]] = []
    segment_index = 0
    enhanced = -1  # the segment whose base announced an enhancement SEGMENT
    layers: list[str] = []
    for chunk, size in zip(container.chunks, container.chunk_sizes, strict=True):
        name = chunk_name(chunk.type)
        if chunk.type == SEGMENT:
            name = f"{'enhancement' if enhanced == segment_index else 'segment'} {segment_index}"
            segment_index += 1
        elif chunk.type == BASE:
            name = f"base {segment_index}"
            base = peek_base(chunk.payload)
            if base is not None:
                layers.append(f"segment {segment_index}: {_describe_base(base, header)}")
            if base is not None and base.enhancement:
                enhanced = segment_index
            else:
                segment_index += 1
        elif chunk.type == MOTION:
            from exvc.bitstream.motion import describe_motion  # not on a plain probe's path

            name = f"motion {segment_index - (enhanced != segment_index)}"
            if layers:
                layers[-1] += f"; {describe_motion(chunk.payload)}, {size} B"
        sections.append((name, size))
    colour = ColourInfo(header.matrix, header.primaries, header.transfer, bool(header.full_range))
    video = VideoInfo(header.width, header.height, Fraction(header.fps_num, header.fps_den),
                      _pix_fmt(header), header.bit_depth, colour, header.frames)
    audio_chunk = container.first(AUDIO)
    audio = read_audio(audio_chunk.payload) if audio_chunk is not None else None
    audio_bytes = sum(size for (name, size) in sections if name == "audio")
    # bits per pixel of the video: everything but the audio (which -b:v does not pay for)
    bpp = 8 * (len(data) - audio_bytes) / (header.width * header.height * header.frames)
    prior = None
    if (prior_chunk := container.first(PRIOR)) is not None:
        prior = read_prior(prior_chunk.payload)
    elif (prior_chunk := container.first(PRIOR_SHORT)) is not None:
        prior = read_prior_short(prior_chunk.payload)
    return DinrInfo(video, header.codec_name, f"{container.major}.{container.minor}", len(data),
                    sections, metadata, bpp, header, prior, layers, audio, audio_bytes)


def _describe_base(base, header: Header) -> str:
    """``vvc 88x72, every 2nd frame, + inr``: one base layer for listings."""
    text = f"{base.codec_name} base {base.width}x{base.height}"
    if base.coded_frames < base.frames:
        text += ", " + describe_anchors(base.anchors, base.frames)
    return text + (" + enhancement inr" if base.enhancement else "")


@dataclass
class ParsedStream:
    """Everything a decode needs, parsed. Segment ``i`` is ``bases[i]`` (a BasePayload or
    None), ``motions[i]`` (the MotionPayload that predicts the frames between the base's
    pictures, or None), ``segments[i]`` (its INR SegmentPayload: the condition itself, or
    the residual over the base; None for a base alone) and ``adapters[i]`` (AdapterPayload
    or None)."""

    info: DinrInfo
    segments: list
    adapters: list
    prior: object | None  # PriorRecord for dinr files
    bases: list = field(default_factory=list)
    motions: list = field(default_factory=list)


def parse_segments(data: bytes) -> tuple[DinrInfo, list]:
    """The stream info and the ``SegmentPayload`` list (see :func:`parse_stream`)."""
    stream = parse_stream(data)
    return stream.info, stream.segments


def _check_order(container: Container, header: Header) -> None:
    """Chunk order rules of bitstream_spec.md section 4 for PRIOR, ADAPTER and BASE."""
    # PRIOR stands for either form; ancillary chunks do not count for "followed by" (4.4)
    types = [PRIOR if c.type == PRIOR_SHORT else c.type for c in container.chunks
             if is_critical(c.type)]
    priors = types.count(PRIOR)
    if header.codec != CODEC_DINR:
        if priors or ADAPTER in types:
            raise DinrError("corrupt .dinr: prior or adapter chunk in an inr stream")
    else:
        if priors != 1:
            raise DinrError(f"corrupt .dinr: a dinr stream needs exactly one prior chunk, has "
                            f"{priors}")
        first_coded = min((i for i, t in enumerate(types) if t in (SEGMENT, ADAPTER, BASE)),
                          default=len(types))
        if types.index(PRIOR) > first_coded:
            raise DinrError("corrupt .dinr: the prior chunk must come before the first "
                            "segment")
    for i, t in enumerate(types):
        if t == ADAPTER and (i + 1 >= len(types) or types[i + 1] not in (SEGMENT, BASE)):
            raise DinrError("corrupt .dinr: an adapter chunk must be followed by a segment "
                            "or base")


def parse_stream(data: bytes) -> ParsedStream:
    """Parse and check everything a decode needs, allocating nothing beyond the limits: the
    container, header, metadata, the prior record, and every ADAPTER, BASE and SEGMENT
    payload (entropy-decoded integers; base streams are split into units, not decoded).
    Raises :class:`DinrError`."""
    from exvc.bitstream.adapter import read_adapter
    from exvc.bitstream.base import read_base
    from exvc.bitstream.entropy import TableBudget
    from exvc.bitstream.motion import read_motion
    from exvc.bitstream.segment import read_segment
    from exvc.models.config import INRConfig
    from exvc.models.quantize import segment_layout

    container, header = _parse(data)
    info = _describe(data, container, header)
    check_decodable(header, len(data))
    _check_order(container, header)
    h, w = header.height, header.width
    seg_frames = min(2 * header.segment_frames, header.frames)
    budget = min(_MAX_SYMBOLS, _MAX_SYMBOLS_PER_PIXEL * seg_frames * h * w)
    stream = ParsedStream(info, [], [], info.prior, [])
    tables = TableBudget(len(data))
    pending = None  # the adapter of the next segment
    base = None  # the base of the open segment: a MOTION or its enhancement may follow
    motion = None
    total = 0

    def close(inr) -> None:
        nonlocal pending, base, motion, total
        stream.segments.append(inr)
        stream.bases.append(base)
        stream.motions.append(motion)
        stream.adapters.append(pending)
        total += (base or inr).frames
        pending = base = motion = None

    for chunk in container.chunks:
        if not is_critical(chunk.type):
            continue  # ancillary chunks may stand between a segment's chunks (section 4.4)
        if chunk.type == MOTION:
            if base is None or motion is not None:
                raise DinrError("corrupt .dinr: a motion chunk must follow a base")
            motion = read_motion(chunk.payload, base.frames, base.anchors, h, w, tables)
            if not base.enhancement:
                close(None)
            continue
        if base is not None and not base.enhancement:
            close(None)
        if base is not None and chunk.type != SEGMENT:
            raise DinrError("corrupt .dinr: a base that announces an enhancement must be "
                            "followed by a segment")
        if chunk.type == ADAPTER:
            pending = read_adapter(chunk.payload, tables)
        elif chunk.type == BASE:
            base = read_base(chunk.payload, w, h, seg_frames)
        elif chunk.type == SEGMENT:
            p = read_segment(chunk.payload, INRConfig.field_count(),
                             lambda cfg, n: segment_layout(cfg, n, h, w),
                             max_frames=seg_frames, max_symbols=budget, tables=tables)
            if base is not None and p.frames != base.frames:
                raise DinrError(f"corrupt .dinr: an enhancement of {p.frames} frames over a "
                                f"base of {base.frames}")
            close(p)
        if total > header.frames:
            break
    if base is not None and base.enhancement:
        raise DinrError("corrupt .dinr: a base that announces an enhancement must be "
                        "followed by a segment")
    if base is not None:
        close(None)
    if total != header.frames:
        held = total if total <= header.frames else "more"
        raise DinrError(f"corrupt .dinr: segments hold {held} frames, header says "
                        f"{header.frames}")
    return stream


def check_decodable(header: Header, file_bytes: int) -> None:
    """Refuse, before anything is allocated, more decoded pixels than the file's size can
    plausibly describe (``MAX_PIXELS_PER_BYTE``)."""
    pixels = header.width * header.height * header.frames
    if pixels > MAX_PIXELS_PER_BYTE * file_bytes:
        raise DinrError(f"implausible .dinr: {file_bytes} bytes claim {header.frames} frames of "
                        f"{header.width}x{header.height} (decoder limit: "
                        f"{MAX_PIXELS_PER_BYTE} pixels per byte of file)")
