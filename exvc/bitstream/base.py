"""BASE chunk payload: a segment's pictures coded by a standard codec (format 1.3, anchor
lists 1.6).

Layout (bitstream_spec.md section 13):

    frames       uleb   output frames of the segment
    codec        u8     1 = H.265/HEVC, 2 = AV1, 3 = H.266/VVC
    width        uleb   coded picture width (even), at most the output width rounded up to even
    height       uleb   coded picture height, likewise
    frame_step   u8     1..8: coded picture k is output frame k * frame_step; 0: listed below
    enhancement  u8     0: none; 1: the next chunk is a SEGMENT holding a residual INR
    [anchors]    uleb   only when frame_step is 0: the number of coded pictures, then the gap
                        from each to the next (1..32, ``exvc.bitstream.anchors``)
    units        rest   the elementary stream as units: uleb length, then the unit's bytes

A unit is one NAL unit without its start code (HEVC, VVC), or one OBU with its
``obu_has_size_field`` cleared and its size field removed (AV1). The packing drops what carries
no picture (access unit delimiters, SEI, AV1 temporal delimiters, padding and metadata) and
replaces each 3- or 4-byte start code or AV1 size field by one length: on 64 small pictures
that is several hundred bytes, a quarter of a 176x144 file at 0.01 bpp. ``to_decoder`` rebuilds
a stream that FFmpeg's decoders read (Annex B byte stream, AV1 low-overhead OBUs).
"""

from __future__ import annotations

from dataclasses import dataclass

from exvc.bitstream import anchors as anchor_layout
from exvc.bitstream.bytesio import ByteReader, ByteWriter, DinrError, uleb_bytes

HEVC, AV1, VVC = 1, 2, 3
BASE_CODECS = {HEVC: "hevc", AV1: "av1", VVC: "vvc"}
MAX_FRAME_STEP = 8
# An enhancement INR codes the residual over its base plus this offset: frame = base + INR
# frame - RESIDUAL_OFFSET, clamped (section 13.4).
RESIDUAL_OFFSET = 0.5
START_CODE = b"\x00\x00\x00\x01"

# Units that carry no picture, dropped by ``pack``: HEVC AUD 35, SEI 39/40, end of
# sequence/bitstream 36/37; VVC AUD 20, SEI 23/24, end of sequence/bitstream 21/22; AV1
# temporal delimiter 2, metadata 5, padding 15.
_DROPPED = {HEVC: frozenset({35, 36, 37, 39, 40}), VVC: frozenset({20, 21, 22, 23, 24}),
            AV1: frozenset({2, 5, 15})}
_OBU_EXTENSION = 0x04
_OBU_HAS_SIZE = 0x02


@dataclass(frozen=True)
class BasePayload:
    frames: int  # output frames of the segment
    codec: int
    width: int  # coded picture size
    height: int
    frame_step: int  # 0: the anchors are ``listed``
    enhancement: int  # 1: a residual INR SEGMENT follows
    units: tuple[bytes, ...]
    listed: tuple[int, ...] = ()  # the anchors' frames when frame_step is 0

    @property
    def codec_name(self) -> str:
        return BASE_CODECS[self.codec]

    @property
    def anchors(self) -> tuple[int, ...]:
        """The output frames that the stream's pictures are, in order."""
        if self.frame_step:
            return anchor_layout.uniform(self.frames, self.frame_step)
        return self.listed

    @property
    def coded_frames(self) -> int:
        """Pictures in the stream."""
        return len(self.anchors)

    @property
    def stream_bytes(self) -> int:
        return sum(len(u) for u in self.units)


def with_anchors(frames: int, anchors: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """(frame_step, listed) that code ``anchors``: a step where they are uniform and the
    step fits the field, else a list."""
    step = anchor_layout.uniform_step(anchors, frames)
    if step is not None and step <= MAX_FRAME_STEP:
        return step, ()
    return 0, tuple(anchors)


def write_base(p: BasePayload) -> bytes:
    if p.codec not in BASE_CODECS or not 0 <= p.frame_step <= MAX_FRAME_STEP:
        raise ValueError(f"bad base codec {p.codec} or frame step {p.frame_step}")
    if p.enhancement not in (0, 1) or not p.units or any(not u for u in p.units):
        raise ValueError("a base needs units, none empty, and an enhancement flag of 0 or 1")
    if p.frame_step == 0 and (why := anchor_layout.check(p.listed, p.frames)):
        raise ValueError(f"bad anchor list: {why}")
    w = ByteWriter().uleb(p.frames).u8(p.codec).uleb(p.width).uleb(p.height)
    w.u8(p.frame_step).u8(p.enhancement)
    if p.frame_step == 0:
        w.uleb(len(p.listed))
        for a, b in zip(p.listed, p.listed[1:], strict=False):
            w.uleb(b - a)
    for unit in p.units:
        w.uleb(len(unit)).raw(unit)
    return w.getvalue()


def read_base(data: bytes, width: int, height: int, max_frames: int) -> BasePayload:
    """Parse a BASE payload of a file whose frames are ``width`` x ``height``; every field is
    checked before anything is sized from it."""
    r = ByteReader(data, "base")
    frames = r.uleb()
    if not 1 <= frames <= max_frames:
        raise DinrError(f"corrupt .dinr: base of {frames} frames (limit {max_frames})")
    codec = r.u8()
    if codec not in BASE_CODECS:
        raise DinrError(f"this .dinr needs a newer exvc: unknown base codec {codec}")
    cw, ch = r.uleb(), r.uleb()
    for name, value, limit in (("width", cw, width), ("height", ch, height)):
        top = limit + limit % 2
        if value % 2 or not 2 <= value <= top:
            raise DinrError(f"corrupt .dinr: base picture {name} {value} (must be even, "
                            f"2..{top})")
    step, enhancement = r.u8(), r.u8()
    if step > MAX_FRAME_STEP:
        raise DinrError(f"corrupt .dinr: base frame step {step} (allowed 0..{MAX_FRAME_STEP})")
    if enhancement > 1:
        raise DinrError(f"corrupt .dinr: base enhancement flag {enhancement}")
    listed = _read_anchors(r, frames) if step == 0 else ()
    units = []
    while not r.at_end():
        n = r.uleb()
        if n == 0:
            raise DinrError("corrupt .dinr: empty unit in a base stream")
        if n < 2 and codec != AV1:
            raise DinrError("corrupt .dinr: a NAL unit of a base stream is shorter than its "
                            "header")
        units.append(r.raw(n))
    if not units:
        raise DinrError("corrupt .dinr: a base chunk holds no stream")
    return BasePayload(frames, codec, cw, ch, step, enhancement, tuple(units), listed)


def _read_anchors(r: ByteReader, frames: int) -> tuple[int, ...]:
    """A listed anchor layout: count, then gaps; each value checked as it is read."""
    count = r.uleb()
    if not 1 <= count <= frames:
        raise DinrError(f"corrupt .dinr: {count} anchors in a base of {frames} frames")
    anchors = [0]
    for _ in range(count - 1):
        gap = r.uleb()
        if not 1 <= gap <= anchor_layout.MAX_GAP or anchors[-1] + gap >= frames:
            raise DinrError(f"corrupt .dinr: a base anchor gap of {gap} frames (1.."
                            f"{anchor_layout.MAX_GAP}, inside the segment)")
        anchors.append(anchors[-1] + gap)
    if frames - anchors[-1] > anchor_layout.MAX_GAP:
        raise DinrError(f"corrupt .dinr: {frames - anchors[-1] - 1} frames after a base's last "
                        f"anchor (at most {anchor_layout.MAX_GAP - 1})")
    return tuple(anchors)


def peek_base(data: bytes) -> BasePayload | None:
    """The fields of a BASE payload without its units (None if it does not parse that far):
    for listings that read the container alone."""
    try:
        r = ByteReader(data, "base")
        frames, codec, width, height = r.uleb(), r.u8(), r.uleb(), r.uleb()
        step, enhancement = r.u8(), r.u8()
        listed = _read_anchors(r, frames) if step == 0 else ()
    except DinrError:
        return None
    if codec not in BASE_CODECS or step > MAX_FRAME_STEP or frames < 1:
        return None
    return BasePayload(frames, codec, width, height, step, enhancement, (), listed)


# -- packing: the encoder's elementary stream <-> units --------------------------------------


def pack(codec: int, stream: bytes) -> tuple[bytes, ...]:
    """The units of an encoder's elementary stream (Annex B for HEVC/VVC, low-overhead OBUs
    for AV1), without the units that carry no picture."""
    if codec == AV1:
        return tuple(_strip_obu_size(o) for o in _split_obus(stream)
                     if (o[0] >> 3) & 0x0F not in _DROPPED[AV1])
    return tuple(n for n in _split_annexb(stream) if _nal_type(codec, n) not in _DROPPED[codec])


def to_decoder(codec: int, units: tuple[bytes, ...] | list[bytes]) -> bytes:
    """The stream a decoder reads, rebuilt from the units: each NAL unit after a 4-byte start
    code; each OBU with its size field restored."""
    if codec == AV1:
        return b"".join(_restore_obu_size(u) for u in units)
    return b"".join(START_CODE + u for u in units)


def _nal_type(codec: int, nal: bytes) -> int:
    if len(nal) < 2:
        return -1
    return (nal[0] >> 1) & 0x3F if codec == HEVC else nal[1] >> 3


def _split_annexb(stream: bytes) -> list[bytes]:
    """NAL units between start codes (00 00 01), trailing zero bytes removed."""
    starts = []
    pos = stream.find(b"\x00\x00\x01")
    while pos >= 0:
        starts.append(pos + 3)
        pos = stream.find(b"\x00\x00\x01", pos + 3)
    nals = []
    for i, start in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(stream)
        while end > start and stream[end - 1] == 0:
            end -= 1
        if end > start:
            nals.append(stream[start:end])
    return nals


def _leb128(data: bytes, pos: int) -> tuple[int, int]:
    """AV1's leb128 (which, unlike ``uleb``, may be padded): value and the position after."""
    value = 0
    for i in range(8):
        if pos >= len(data):
            raise ValueError("truncated AV1 leb128")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos
    raise ValueError("AV1 leb128 longer than 8 bytes")


def _split_obus(stream: bytes) -> list[bytes]:
    """The OBUs of a low-overhead AV1 stream (every OBU has its size field)."""
    obus, pos = [], 0
    while pos < len(stream):
        header = stream[pos]
        if not header & _OBU_HAS_SIZE:
            raise ValueError("AV1 OBU without a size field")
        head_len = 2 if header & _OBU_EXTENSION else 1
        size, body = _leb128(stream, pos + head_len)
        if body + size > len(stream):
            raise ValueError("truncated AV1 OBU")
        obus.append(stream[pos:body + size])
        pos = body + size
    return obus


def _strip_obu_size(obu: bytes) -> bytes:
    head_len = 2 if obu[0] & _OBU_EXTENSION else 1
    _, body = _leb128(obu, head_len)
    return bytes([obu[0] & ~_OBU_HAS_SIZE]) + obu[1:head_len] + obu[body:]


def _restore_obu_size(unit: bytes) -> bytes:
    head_len = 2 if unit[0] & _OBU_EXTENSION else 1
    head_len = min(head_len, len(unit))
    return (bytes([unit[0] | _OBU_HAS_SIZE]) + unit[1:head_len]
            + uleb_bytes(len(unit) - head_len) + unit[head_len:])
