"""HEAD and META chunk payloads.

Limits are checked while parsing, before a decoder sizes any buffer from these numbers, so a
hostile header cannot make exvc allocate gigabytes. See ``bitstream_spec.md`` sections 5-6.
"""

from __future__ import annotations

import operator
from dataclasses import asdict, dataclass

from exvc.bitstream.bytesio import ByteReader, ByteWriter, DinrError
from exvc.bitstream.container import VERSION_MINOR

MAX_DIMENSION = 16384
MAX_FRAMES = 1_000_000
MAX_FPS_TERM = 1_000_000
MAX_FPS = 1000
MAX_SEGMENT_FRAMES = 4096
BIT_DEPTHS = (8, 10, 12, 16)

CHROMA_GRAY, CHROMA_420, CHROMA_422, CHROMA_444, CHROMA_RGB = range(5)
CHROMA_NAMES = {CHROMA_GRAY: "4:0:0", CHROMA_420: "4:2:0", CHROMA_422: "4:2:2",
                CHROMA_444: "4:4:4", CHROMA_RGB: "rgb"}
CODEC_INR, CODEC_DINR = 0, 1
CODEC_NAMES = {CODEC_INR: "inr", CODEC_DINR: "dinr"}

# Resource limit of the reference decoder (not a format rule): a file may describe at most
# this many decoded pixels (width x height x frames) per byte of its size, i.e. its rate is at
# least 2^-12 bpp (0.00024 bpp, 80x below exvc's default 0.02 bpp). A 100-byte file can then
# never ask for more than 3.3 million pixels: no hour-long decode, no gigabyte allocation.
# The encoder refuses targets below it, so every file exvc writes decodes.
MAX_PIXELS_PER_BYTE = 1 << 15
MIN_BPP = 8 / MAX_PIXELS_PER_BYTE

MAX_META_ENTRIES = 256
MAX_META_BYTES = 64 * 1024


def _is_int(value: object) -> bool:
    try:
        operator.index(value)
    except TypeError:
        return False
    return True


@dataclass
class Header:
    """What a decoder must know before the first segment (HEAD chunk payload)."""

    width: int
    height: int
    frames: int
    fps_num: int
    fps_den: int
    bit_depth: int = 8
    chroma: int = CHROMA_420
    matrix: int = 2  # ITU-T H.273 code points; 2 = unspecified
    primaries: int = 2
    transfer: int = 2
    full_range: int = 0
    codec: int = CODEC_INR
    seed: int = 0
    segment_frames: int = 1

    @property
    def codec_name(self) -> str:
        return CODEC_NAMES[self.codec]

    def validate(self) -> Header:
        """Raise :class:`DinrError` naming the first field outside its documented range."""
        checks = [
            ("width", self.width, 1, MAX_DIMENSION),
            ("height", self.height, 1, MAX_DIMENSION),
            ("frames", self.frames, 1, MAX_FRAMES),
            ("fps_num", self.fps_num, 1, MAX_FPS_TERM),
            ("fps_den", self.fps_den, 1, MAX_FPS_TERM),
            ("chroma", self.chroma, 0, 4),
            ("matrix", self.matrix, 0, 255),
            ("primaries", self.primaries, 0, 255),
            ("transfer", self.transfer, 0, 255),
            ("full_range", self.full_range, 0, 1),
            ("codec", self.codec, 0, 1),
            ("seed", self.seed, 0, (1 << 63) - 1),
            ("segment_frames", self.segment_frames, 1, MAX_SEGMENT_FRAMES),
        ]
        for name, value, lo, hi in checks:
            if not (_is_int(value) and lo <= value <= hi):
                raise DinrError(f"invalid .dinr header: {name} = {value} (allowed {lo}..{hi})")
        if not _is_int(self.bit_depth) or self.bit_depth not in BIT_DEPTHS:
            raise DinrError(f"invalid .dinr header: bit_depth = {self.bit_depth} "
                            f"(allowed {', '.join(map(str, BIT_DEPTHS))})")
        if self.fps_num > MAX_FPS * self.fps_den:
            raise DinrError(f"invalid .dinr header: frame rate {self.fps_num}/{self.fps_den} "
                            f"exceeds {MAX_FPS} fps")
        return self

    def to_bytes(self) -> bytes:
        self.validate()
        v = {k: int(x) for k, x in asdict(self).items()}
        w = ByteWriter()
        for name in ("width", "height", "frames", "fps_num", "fps_den"):
            w.uleb(v[name])
        for name in ("bit_depth", "chroma", "matrix", "primaries", "transfer", "full_range",
                     "codec"):
            w.u8(v[name])
        w.uleb(v["seed"]).uleb(v["segment_frames"])
        return w.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, minor: int = VERSION_MINOR) -> Header:
        """Parse a HEAD payload. Bytes after the last known field are an error unless the
        file's ``minor`` version is newer than this reader's (it may append fields)."""
        r = ByteReader(data, "header")
        dims = [r.uleb() for _ in range(5)]
        small = [r.u8() for _ in range(7)]
        seed, segment_frames = r.uleb(), r.uleb()
        if not r.at_end() and minor <= VERSION_MINOR:
            raise DinrError(f"corrupt .dinr: {r.remaining} unexpected bytes after the header")
        return cls(*dims, *small, seed, segment_frames).validate()

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def encode_metadata(meta: dict[str, str]) -> bytes:
    """META payload: count, then (key, value) strings in sorted key order (deterministic)."""
    if len(meta) > MAX_META_ENTRIES:
        raise ValueError(f"too many metadata entries: {len(meta)} (limit {MAX_META_ENTRIES})")
    w = ByteWriter().uleb(len(meta))
    for key in sorted(meta):
        if not key:
            raise ValueError("metadata keys must not be empty")
        w.string(key).string(str(meta[key]))
    if len(w) > MAX_META_BYTES:
        raise ValueError(f"metadata is {len(w)} bytes (limit {MAX_META_BYTES})")
    return w.getvalue()


def decode_metadata(data: bytes) -> dict[str, str]:
    if len(data) > MAX_META_BYTES:
        raise DinrError(f"corrupt .dinr: metadata is {len(data)} bytes (limit {MAX_META_BYTES})")
    r = ByteReader(data, "metadata")
    count = r.uleb()
    if count > MAX_META_ENTRIES:
        raise DinrError(f"corrupt .dinr: {count} metadata entries (limit {MAX_META_ENTRIES})")
    out: dict[str, str] = {}
    for _ in range(count):
        key = r.string()
        value = r.string()
        if not key or key in out:
            raise DinrError(f"corrupt .dinr: empty or repeated metadata key {key!r}")
        out[key] = value
    if not r.at_end():
        raise DinrError(f"corrupt .dinr: {r.remaining} unexpected bytes after the metadata")
    return out
