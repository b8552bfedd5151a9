"""The .dinr container, its byte primitives, HEAD and META (bitstream_spec.md sections 2-6)."""

from __future__ import annotations

import zlib

import pytest

from exvc.bitstream.bytesio import ByteReader, ByteWriter, DinrError, uleb_bytes
from exvc.bitstream.container import (
    END,
    END_SIZE,
    HEAD,
    MAGIC,
    META,
    SEGMENT,
    VERSION_MAJOR,
    VERSION_MINOR,
    Chunk,
    _chunk_bytes,
    chunk_size,
    payload_budget,
    read_container,
    write_container,
)
from exvc.bitstream.header import Header, decode_metadata, encode_metadata

# The worked example of bitstream_spec.md section 8: HEAD, META {"title": "x"}, and a SEGMENT
# of the smallest INR, whose frames are mid-grey (test_spec_rules.py decodes the spec's copy).
EXAMPLE_SEGMENT = bytes.fromhex("0a 01 01 07 0c 01 00 00 01 04 80 02 00 00 00 04 00 00 00 00 03 02")
EXAMPLE_HEX = (
    "44 49 4e 52 01 06"
    " 01 0e 40 30 0a 19 01 08 01 02 02 02 00 00 00 0a a4 09 1e 0e"
    " 81 09 01 05 74 69 74 6c 65 01 78 c4 0f c1 3d"
    " 10 16 " + EXAMPLE_SEGMENT.hex(" ") + " 4c 64 ac d8"
    " 02 00 7d 70 ef 73"
)


def example_header() -> Header:
    return Header(width=64, height=48, frames=10, fps_num=25, fps_den=1, segment_frames=10)


def example_file() -> bytes:
    return write_container([
        Chunk(HEAD, example_header().to_bytes()),
        Chunk(META, encode_metadata({"title": "x"})),
        Chunk(SEGMENT, EXAMPLE_SEGMENT),
    ])


# ---------------------------------------------------------------- varints and primitives

@pytest.mark.parametrize("value, encoded", [
    (0, "00"), (1, "01"), (127, "7f"), (128, "80 01"), (300, "ac 02"), (16384, "80 80 01"),
    ((1 << 63) - 1, "ff ff ff ff ff ff ff ff 7f"),
])
def test_uleb_examples(value, encoded):
    assert uleb_bytes(value) == bytes.fromhex(encoded)
    assert ByteReader(bytes.fromhex(encoded)).uleb() == value


@pytest.mark.parametrize("value, encoded", [
    (0, "00"), (-1, "01"), (1, "02"), (-2, "03"), (2, "04"), (-64, "7f"), (64, "80 01"),
    (-65, "81 01"),
])
def test_sleb_examples(value, encoded):
    assert ByteWriter().sleb(value).getvalue() == bytes.fromhex(encoded)
    assert ByteReader(bytes.fromhex(encoded)).sleb() == value


def test_primitives_round_trip():
    values = [0, 1, 5, 127, 128, 255, 2**14, 2**21 - 1, 2**35 + 3, 2**62, (1 << 63) - 1]
    w = ByteWriter()
    for v in values:
        w.uleb(v)
        w.sleb(v // 2)
        w.sleb(-(v // 2) - 1)
    w.u8(0xAB).u16(0x1234).u32(0xDEADBEEF).string("héllo ✓").string("").raw(b"\x00\x01")
    data = w.getvalue()
    assert bytes.fromhex("34 12 ef be ad de") in data  # little endian
    r = ByteReader(data)
    for v in values:
        assert r.uleb() == v
        assert r.sleb() == v // 2
        assert r.sleb() == -(v // 2) - 1
    assert (r.u8(), r.u16(), r.u32()) == (0xAB, 0x1234, 0xDEADBEEF)
    assert (r.string(), r.string(), r.raw(2)) == ("héllo ✓", "", b"\x00\x01")
    assert r.at_end()


@pytest.mark.parametrize("encoded, message", [
    ("80", "ends early"),
    ("ff ff", "ends early"),
    ("80 00", "non-minimal"),
    ("ff ff ff ff ff ff ff ff ff ff 01", "longer than 10 bytes"),
    ("80 80 80 80 80 80 80 80 80 01", "too large"),  # 2**63
    ("ff ff ff ff ff ff ff ff ff 7f", "too large"),
])
def test_bad_varints_rejected(encoded, message):
    with pytest.raises(DinrError, match=message):
        ByteReader(bytes.fromhex(encoded), "test").uleb()


def test_reader_errors_are_one_line_dinr_errors():
    with pytest.raises(DinrError, match=r"^truncated \.dinr: header ends early$"):
        ByteReader(b"\x01", "header").u16()
    with pytest.raises(DinrError, match="UTF-8"):
        ByteReader(b"\x02\xff\xfe").string()
    with pytest.raises(DinrError, match="ends early"):
        ByteReader(b"\x05ab").string()
    with pytest.raises(ValueError, match=r"u8 out of range: 256"):
        ByteWriter().u8(256)
    with pytest.raises(ValueError, match=r"uleb value out of range: -1"):
        ByteWriter().uleb(-1)


# ---------------------------------------------------------------------------- container

def test_example_file_bytes_are_stable():
    assert example_file() == bytes.fromhex(EXAMPLE_HEX)
    assert zlib.crc32(b"123456789") == 0xCBF43926  # the CRC-32 check value the spec quotes


def test_round_trip_and_offsets():
    chunks = [Chunk(HEAD, example_header().to_bytes()), Chunk(META, encode_metadata({"a": "b"}))]
    chunks += [Chunk(SEGMENT, bytes(range(i * 37 % 251)) * (i + 1)) for i in range(5)]
    data = write_container(chunks)
    assert data.startswith(MAGIC + bytes([VERSION_MAJOR, VERSION_MINOR]))
    c = read_container(data)
    assert (c.major, c.minor) == (VERSION_MAJOR, VERSION_MINOR)
    assert c.chunks == chunks
    assert c.chunk_offsets[0] == 6
    assert sum(c.chunk_sizes) == len(data) - 6 - END_SIZE
    assert data[-END_SIZE:] == _raw_chunk(END, b"")
    for off, size, chunk in zip(c.chunk_offsets, c.chunk_sizes, chunks, strict=True):
        assert data[off] == chunk.type
        body = data[off : off + size - 4]
        assert zlib.crc32(body) == int.from_bytes(data[off + size - 4 : off + size], "little")
    assert len(c.of_type(SEGMENT)) == 5 and c.first(META) == chunks[1]
    assert Header.from_bytes(c.first(HEAD).payload) == example_header()


def test_empty_payload_and_large_payload():
    big = bytes(range(256)) * 1000
    data = write_container([Chunk(HEAD, example_header().to_bytes()), Chunk(SEGMENT, b""),
                            Chunk(SEGMENT, big)])
    c = read_container(data)
    assert [ch.payload for ch in c.chunks[1:]] == [b"", big]


@pytest.mark.parametrize("n", [0, 1, 127, 128, 129, 16383, 16384, 16385])
def test_chunk_size_is_what_a_chunk_takes(n):
    """The encoder's budgets count chunks with chunk_size: it must be the written framing,
    also where the ULEB128 length grows a byte (128, 16384)."""
    assert len(_chunk_bytes(Chunk(SEGMENT, b"x" * n))) == chunk_size(n)
    assert chunk_size(0) == END_SIZE


@pytest.mark.parametrize("total", [0, 5, 6, 7, 132, 133, 134, 135, 16389, 16390, 16391, 16392])
def test_payload_budget_is_the_largest_payload_that_fits(total):
    n = payload_budget(total)
    assert n + 1 <= 0 or chunk_size(n + 1) > total
    assert n < 0 or chunk_size(n) <= total
    assert n >= 0 or total < chunk_size(0)


def test_every_flipped_byte_is_detected():
    data = example_file()
    for pos in range(len(data)):
        for mask in (0x01, 0x80, 0xFF):
            bad = bytearray(data)
            bad[pos] ^= mask
            if pos == 5:  # the minor version is not CRC-protected: readers accept newer minors
                c = read_container(bytes(bad))
                assert c.minor == bad[5] and c.chunks == read_container(data).chunks
                continue
            with pytest.raises(DinrError, match=r"fails its CRC|ends early|not a \.dinr file"
                                                r"|unsupported \.dinr version"):
                read_container(bytes(bad))


def test_crc_error_names_chunk():
    data = bytearray(example_file())
    data[-5 - END_SIZE] ^= 0x10  # inside the SEGMENT payload (chunk 2)
    with pytest.raises(DinrError, match=r"^corrupt \.dinr: chunk 2 \(segment\) fails its CRC$"):
        read_container(bytes(data))


def test_every_truncation_is_detected():
    data = example_file()
    for cut in range(len(data)):
        with pytest.raises(DinrError, match=r"^(truncated \.dinr: |not a \.dinr file$)"):
            read_container(data[:cut])
    c = read_container(data)
    for off in c.chunk_offsets[1:] + [len(data) - END_SIZE]:  # cuts between chunks
        with pytest.raises(DinrError, match="ends before its end chunk"):
            read_container(data[:off])


def test_data_after_end_and_misplaced_end():
    data = example_file()
    with pytest.raises(DinrError, match="after the end chunk"):
        read_container(data + b"\x00")
    with pytest.raises(DinrError, match="after the end chunk"):
        read_container(data + _raw_chunk(META, b"\x00"))
    with pytest.raises(DinrError, match="not empty"):
        read_container(_file(_raw_chunk(HEAD, example_header().to_bytes()))[:-END_SIZE]
                       + _raw_chunk(END, b"\x00"))
    with pytest.raises(ValueError, match=r"END is appended by write_container"):
        write_container([Chunk(HEAD, b""), Chunk(END, b"")])


def test_magic_and_version_errors():
    data = example_file()
    with pytest.raises(DinrError, match=r"^not a \.dinr file$"):
        read_container(b"RIFF" + data[4:])
    with pytest.raises(DinrError, match="not a .dinr file"):
        read_container(b"")
    with pytest.raises(DinrError, match=rf"version 2\.{VERSION_MINOR}.*newer exvc"):
        read_container(data[:4] + b"\x02" + data[5:])
    with pytest.raises(DinrError, match=rf"version 0\.{VERSION_MINOR}"):
        read_container(data[:4] + b"\x00" + data[5:])
    newer_minor = read_container(data[:5] + b"\x07" + data[6:])
    assert newer_minor.minor == 7


def _raw_chunk(ctype: int, payload: bytes) -> bytes:
    body = bytes([ctype]) + uleb_bytes(len(payload)) + payload
    return body + zlib.crc32(body).to_bytes(4, "little")


def _file(*raw_chunks: bytes) -> bytes:
    """A file from hand-made chunks, END appended."""
    return MAGIC + b"\x01\x00" + b"".join(raw_chunks) + _raw_chunk(END, b"")


def _example_plus(*raw_chunks: bytes) -> bytes:
    return example_file()[:-END_SIZE] + b"".join(raw_chunks) + _raw_chunk(END, b"")


def test_unknown_ancillary_chunk_is_skipped():
    data = _example_plus(_raw_chunk(0x9A, b"future stuff"), _raw_chunk(SEGMENT, b"\x01"))
    c = read_container(data)
    assert [ch.type for ch in c.chunks] == [HEAD, META, SEGMENT, SEGMENT]
    assert c.ignored == [Chunk(0x9A, b"future stuff")]
    assert len(c.chunk_offsets) == len(c.chunks)


@pytest.mark.parametrize("ctype", [0x23, 0x7F, 0x24, 0x00])
def test_unknown_critical_chunk_is_rejected(ctype):
    data = _example_plus(_raw_chunk(ctype, b"\x00\x01"))
    with pytest.raises(DinrError, match="needs a newer exvc"):
        read_container(data)


def test_chunk_structure_rules():
    head = _raw_chunk(HEAD, example_header().to_bytes())
    with pytest.raises(DinrError, match="no header"):
        read_container(MAGIC + b"\x01\x00")
    with pytest.raises(DinrError, match="first chunk"):
        read_container(_file(_raw_chunk(META, b"\x00"), head))
    with pytest.raises(DinrError, match="first chunk"):
        read_container(_file())
    with pytest.raises(DinrError, match="second header"):
        read_container(_file(head, head))
    assert read_container(_file(head)).chunks == [Chunk(HEAD, example_header().to_bytes())]
    with pytest.raises(ValueError, match=r"first chunk of a \.dinr must be HEAD"):
        write_container([Chunk(SEGMENT, b"")])
    with pytest.raises(ValueError, match=r"exactly one HEAD chunk"):
        write_container([Chunk(HEAD, b""), Chunk(HEAD, b"")])


def test_huge_length_is_rejected_before_allocation():
    head = _raw_chunk(HEAD, example_header().to_bytes())
    bogus = bytes([SEGMENT]) + uleb_bytes((1 << 62) + 5) + b"\x00" * 8
    with pytest.raises(DinrError, match="truncated"):
        read_container(MAGIC + b"\x01\x00" + head + bogus + _raw_chunk(END, b""))


# ------------------------------------------------------------------------------- header

def _header_bytes(**changes) -> bytes:
    """HEAD payload written without validation, to test the parser's limits."""
    v = example_header().as_dict() | changes
    w = ByteWriter()
    for name in ("width", "height", "frames", "fps_num", "fps_den"):
        w.uleb(v[name])
    for name in ("bit_depth", "chroma", "matrix", "primaries", "transfer", "full_range",
                 "codec"):
        w.u8(v[name])
    return w.uleb(v["seed"]).uleb(v["segment_frames"]).getvalue()


def test_header_round_trip():
    h = Header(width=16384, height=1, frames=1_000_000, fps_num=30000, fps_den=1001,
               bit_depth=10, chroma=4, matrix=9, primaries=9, transfer=16, full_range=1,
               codec=1, seed=2**40 + 7, segment_frames=4096)
    assert Header.from_bytes(h.to_bytes()) == h
    assert _header_bytes() == example_header().to_bytes()
    assert h.codec_name == "dinr"


@pytest.mark.parametrize("field, value", [
    ("width", 0), ("width", 16385), ("height", 0), ("height", 2**40), ("frames", 0),
    ("frames", 1_000_001), ("fps_num", 0), ("fps_den", 0), ("fps_num", 1_000_001),
    ("fps_den", 1_000_001), ("fps_num", 1001), ("bit_depth", 9), ("bit_depth", 0),
    ("chroma", 5), ("full_range", 2), ("codec", 2), ("segment_frames", 0),
    ("segment_frames", 4097),
])
def test_header_limits_enforced_at_parse(field, value):
    with pytest.raises(DinrError, match="invalid .dinr header"):
        Header.from_bytes(_header_bytes(**{field: value}))
    with pytest.raises(DinrError, match=r"^invalid \.dinr header: "):
        Header(**(example_header().as_dict() | {field: value})).to_bytes()


def test_header_frame_rate_limit_is_exact():
    Header.from_bytes(_header_bytes(fps_num=1000, fps_den=1))
    Header.from_bytes(_header_bytes(fps_num=1_000_000, fps_den=1000))
    with pytest.raises(DinrError, match="exceeds 1000 fps"):
        Header.from_bytes(_header_bytes(fps_num=1_000_000, fps_den=999))


def test_header_truncation_and_trailing_bytes():
    data = example_header().to_bytes()
    for cut in range(len(data)):
        with pytest.raises(DinrError, match="header ends early"):
            Header.from_bytes(data[:cut])
    with pytest.raises(DinrError, match="unexpected bytes"):
        Header.from_bytes(data + b"\x00")
    assert Header.from_bytes(data + b"\x05\x06", minor=VERSION_MINOR + 1) == example_header()


# ----------------------------------------------------------------------------- metadata

def test_metadata_round_trip():
    meta = {"title": "Ünïcode ✓", "encoder": "exvc 0.1", "empty": ""}
    data = encode_metadata(meta)
    assert decode_metadata(data) == meta
    assert data == encode_metadata(dict(reversed(meta.items())))  # sorted: deterministic
    assert decode_metadata(encode_metadata({})) == {}


def test_metadata_limits():
    with pytest.raises(ValueError, match=r"too many metadata entries: 257"):
        encode_metadata({f"k{i}": "v" for i in range(257)})
    with pytest.raises(ValueError, match=r"metadata is 70006 bytes \(limit 65536\)"):
        encode_metadata({"k": "x" * 70000})
    encode_metadata({f"k{i}": "v" for i in range(256)})
    with pytest.raises(DinrError, match="metadata entries"):
        decode_metadata(ByteWriter().uleb(257).getvalue())
    with pytest.raises(DinrError, match="repeated"):
        decode_metadata(ByteWriter().uleb(2).string("a").string("1").string("a")
                        .string("2").getvalue())
    with pytest.raises(DinrError, match="unexpected bytes"):
        decode_metadata(encode_metadata({"a": "b"}) + b"\x00")
    data = encode_metadata({"a": "bcd"})
    for cut in range(len(data)):
        with pytest.raises(DinrError, match="metadata ends early"):
            decode_metadata(data[:cut])
    with pytest.raises(DinrError, match=r"metadata is 65537 bytes \(limit 65536\)"):
        decode_metadata(b"\x00" * (64 * 1024 + 1))
