"""The .dinr container: magic, version, then CRC-protected typed chunks, the last being END.

Chunk types 0x00-0x7F are *critical* (a reader that does not know one must refuse the file,
because skipping it would decode wrong pictures) and 0x80-0xFF are *ancillary* (safe to skip).
That rule lets later versions add chunks without breaking older readers where it is safe.
The empty END chunk makes a file cut at a chunk boundary detectably incomplete.
See ``bitstream_spec.md`` sections 3-4.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from exvc.bitstream.bytesio import ByteReader, ByteWriter, DinrError, uleb_bytes, uleb_len

__all__ = [
    "MAGIC", "VERSION_MAJOR", "VERSION_MINOR", "HEAD", "END", "SEGMENT", "ADAPTER", "PRIOR",
    "PRIOR_SHORT", "BASE", "MOTION", "META", "AUDIO", "CHUNK_NAMES", "Chunk", "Container",
    "DinrError",
    "chunk_name", "is_critical", "write_container", "read_container", "with_chunk_after_head",
    "without_chunks", "chunk_size", "payload_budget",
]

MAGIC = b"DINR"
VERSION_MAJOR = 1
VERSION_MINOR = 6
PREAMBLE_SIZE = len(MAGIC) + 2
END_SIZE = 6  # type, zero length, CRC

HEAD = 0x01
END = 0x02
SEGMENT = 0x10
ADAPTER = 0x20  # LoRA adapter deltas for the next segment (dinr)
PRIOR = 0x21  # identity of the diffusion prior and the sampler (dinr), long form (1.0, 1.1)
PRIOR_SHORT = 0x22  # the same with an 8-byte identity and no name (dinr, since 1.2)
BASE = 0x30  # a segment's pictures coded by a standard codec (since 1.3)
MOTION = 0x31  # global motion and masks predicting the frames between a base's pictures (1.5)
META = 0x81
AUDIO = 0x82  # the first audio stream as Opus packets (ancillary, since 1.4)

CHUNK_NAMES = {HEAD: "header", END: "end", SEGMENT: "segment", ADAPTER: "adapter", PRIOR: "prior",
               PRIOR_SHORT: "prior", BASE: "base", MOTION: "motion", META: "metadata",
               AUDIO: "audio"}
# Types this reader can interpret; an unknown critical type is refused with "needs a newer
# exvc".
KNOWN_TYPES = frozenset({HEAD, END, SEGMENT, ADAPTER, PRIOR, PRIOR_SHORT, BASE, MOTION, META,
                         AUDIO})


def chunk_name(ctype: int) -> str:
    return CHUNK_NAMES.get(ctype, f"type 0x{ctype:02x}")


def is_critical(ctype: int) -> bool:
    return ctype < 0x80


@dataclass
class Chunk:
    type: int
    payload: bytes


@dataclass
class Container:
    """A parsed file. ``chunks`` holds the chunks this reader knows, in file order;
    ``chunk_offsets``/``chunk_sizes`` give each one's byte offset and total size (type,
    length, payload and CRC) in the file; ``ignored`` holds skipped unknown ancillary chunks.
    The END chunk is not listed; it occupies the last ``END_SIZE`` bytes of the file.
    """

    major: int
    minor: int
    chunks: list[Chunk]
    chunk_offsets: list[int] = field(default_factory=list)
    chunk_sizes: list[int] = field(default_factory=list)
    ignored: list[Chunk] = field(default_factory=list)

    def of_type(self, ctype: int) -> list[Chunk]:
        return [c for c in self.chunks if c.type == ctype]

    def first(self, ctype: int) -> Chunk | None:
        return next((c for c in self.chunks if c.type == ctype), None)


CHUNK_FIXED = 1 + 4  # the type byte and the CRC32 around every chunk's length and payload


def chunk_size(payload_len: int) -> int:
    """Bytes a chunk with a ``payload_len``-byte payload takes in the file (type, ULEB128
    length, payload, CRC32): what ``_chunk_bytes`` writes. The encoder's budgets are counted
    with it, so they cannot drift from the container's own framing."""
    return CHUNK_FIXED + uleb_len(payload_len) + payload_len


def payload_budget(total: int) -> int:
    """The largest payload whose chunk fits in ``total`` bytes (the inverse of
    :func:`chunk_size`); negative when not even an empty chunk fits."""
    n = total - CHUNK_FIXED - uleb_len(max(total, 1))
    while n > 0 and chunk_size(n + 1) <= total:
        n += 1
    return n


def _chunk_bytes(chunk: Chunk) -> bytes:
    if not 0 <= chunk.type <= 0xFF:
        raise ValueError(f"chunk type out of range: {chunk.type}")
    body = bytes([chunk.type]) + uleb_bytes(len(chunk.payload)) + bytes(chunk.payload)
    return body + zlib.crc32(body).to_bytes(4, "little")


def write_container(chunks: list[Chunk], major: int = VERSION_MAJOR,
                    minor: int = VERSION_MINOR) -> bytes:
    """Serialise ``chunks`` and append END; the first must be the only HEAD chunk."""
    if not chunks or chunks[0].type != HEAD:
        raise ValueError("the first chunk of a .dinr must be HEAD")
    if sum(c.type == HEAD for c in chunks) != 1:
        raise ValueError("a .dinr has exactly one HEAD chunk")
    if any(c.type == END for c in chunks):
        raise ValueError("END is appended by write_container")
    out = ByteWriter().raw(MAGIC).u8(major).u8(minor)
    for chunk in chunks + [Chunk(END, b"")]:
        out.raw(_chunk_bytes(chunk))
    return out.getvalue()


def read_container(data: bytes, known_types: frozenset[int] = KNOWN_TYPES) -> Container:
    """Parse and CRC-check every chunk; raise :class:`DinrError` on anything malformed."""
    data = bytes(data)
    if len(data) < len(MAGIC) or data[: len(MAGIC)] != MAGIC:
        raise DinrError("not a .dinr file")
    if len(data) < PREAMBLE_SIZE:
        raise DinrError("truncated .dinr: file header ends early")
    major, minor = data[4], data[5]
    if major != VERSION_MAJOR:
        raise DinrError(f"unsupported .dinr version {major}.{minor} (this exvc reads "
                        f"{VERSION_MAJOR}.x): needs a newer exvc" if major > VERSION_MAJOR
                        else f"unsupported .dinr version {major}.{minor}")
    out = Container(major, minor, [])
    pos = PREAMBLE_SIZE
    index = 0
    while pos < len(data):
        rd = ByteReader(memoryview(data)[pos:], f"chunk {index}")
        ctype = rd.u8()
        length = rd.uleb()
        # Resource guard: refuse a length that cannot fit before touching the payload.
        if length > rd.remaining or rd.remaining - length < 4:
            raise DinrError(f"truncated .dinr: chunk {index} ({chunk_name(ctype)}) ends early")
        body_end = pos + rd.pos + length
        crc = int.from_bytes(data[body_end : body_end + 4], "little")
        if zlib.crc32(memoryview(data)[pos:body_end]) != crc:
            raise DinrError(f"corrupt .dinr: chunk {index} ({chunk_name(ctype)}) fails its CRC")
        if index == 0 and ctype != HEAD:
            raise DinrError(f"corrupt .dinr: first chunk is {chunk_name(ctype)}, not header")
        if index > 0 and ctype == HEAD:
            raise DinrError(f"corrupt .dinr: chunk {index} is a second header")
        if ctype == META and any(c.type == META for c in out.chunks + out.ignored):
            raise DinrError(f"corrupt .dinr: chunk {index} is a second metadata chunk")
        if ctype == AUDIO and any(c.type == AUDIO for c in out.chunks + out.ignored):
            raise DinrError(f"corrupt .dinr: chunk {index} is a second audio chunk")
        chunk = Chunk(ctype, data[pos + rd.pos : body_end])
        if ctype == END:
            if length:
                raise DinrError(f"corrupt .dinr: chunk {index} (end) is not empty")
            if body_end + 4 != len(data):
                raise DinrError("corrupt .dinr: data after the end chunk")
            return out
        if ctype in known_types:
            out.chunks.append(chunk)
            out.chunk_offsets.append(pos)
            out.chunk_sizes.append(body_end + 4 - pos)
        elif is_critical(ctype):
            name = CHUNK_NAMES.get(ctype, "unknown")
            raise DinrError(f"this .dinr needs a newer exvc: chunk {index} is a critical "
                            f"{name} chunk (0x{ctype:02x}) this version cannot decode")
        else:
            out.ignored.append(chunk)
        pos = body_end + 4
        index += 1
    raise DinrError("truncated .dinr: the file ends before its end chunk"
                    if out.chunks else "truncated .dinr: no header chunk")


def with_chunk_after_head(data: bytes, chunk: Chunk) -> bytes:
    """``data`` with ``chunk`` placed after HEAD and META (an ancillary chunk added to a
    finished file, as the AUDIO chunk is: it is not part of the video's budget)."""
    parsed = read_container(data)
    chunks = [c for c in parsed.chunks if c.type != END]
    at = 1 + sum(1 for c in chunks[1:2] if c.type == META)
    return write_container(chunks[:at] + [chunk] + chunks[at:], parsed.major, parsed.minor)


def without_chunks(data: bytes, ctype: int) -> bytes:
    """``data`` without its chunks of type ``ctype`` (an ancillary one: the AUDIO chunk that
    ``-an`` drops from a copied file)."""
    parsed = read_container(data)
    return write_container([c for c in parsed.chunks if c.type not in (ctype, END)],
                           parsed.major, parsed.minor)
