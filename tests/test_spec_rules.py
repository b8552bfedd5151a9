"""The rules bitstream_spec.md states where an independent parser, written from the spec alone,
had to guess: each holds in exvc, and the spec's own examples are valid files.

Points 9-11 of that review (the canonical stream end, the table budget, the plain-integer
reference decoder) are tested in test_entropy.py, test_compat.py and test_limits.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import hostile
import numpy as np
import pytest

from exvc.bitstream.adapter import MAX_ADAPTER_SYMBOLS, read_adapter
from exvc.bitstream.bytesio import ByteWriter, DinrError
from exvc.bitstream.container import (
    ADAPTER,
    HEAD,
    META,
    PRIOR,
    PRIOR_SHORT,
    SEGMENT,
    VERSION_MAJOR,
    VERSION_MINOR,
    Chunk,
    read_container,
    write_container,
)
from exvc.bitstream.header import Header, encode_metadata
from exvc.bitstream.prior_chunk import PriorRecord, write_prior, write_prior_short
from exvc.bitstream.segment import SegmentPayload, write_segment
from exvc.decode.decoder import decode_video, parse_stream, probe
from exvc.models.config import INRConfig
from exvc.models.quantize import segment_layout

REPO = Path(__file__).resolve().parent.parent
SPEC = (REPO / "bitstream_spec.md").read_text()
COMPAT = REPO / "tests" / "data" / "compat"


def _section(title: str) -> str:
    start = SPEC.index(title)
    end = SPEC.find("\n## ", start + 1)
    return SPEC[start:end]


def _hex_block(text: str, first_line: str) -> bytes:
    """The bytes of the code block in ``text`` that starts with ``first_line``: the leading
    hex pairs of each line (the rest of a line is its description)."""
    block = text[text.index(first_line):]
    block = block[: block.index("```")]
    out = []
    for line in block.splitlines():
        m = re.match(r"\s*((?:[0-9a-f]{2} )*[0-9a-f]{2})(?:\s{2,}|$)", line)
        if m:
            out.append(m.group(1))
    return bytes.fromhex(" ".join(out))


# -- 1. one version number ----------------------------------------------------------------

def test_the_spec_names_one_version_and_it_is_this_readers():
    assert SPEC.startswith(f"# The `.dinr` bitstream, version {VERSION_MAJOR}.{VERSION_MINOR}\n")
    assert f"minor  = u8                     ({VERSION_MINOR} for this document)" in SPEC
    assert f"describes version **{VERSION_MAJOR}.{VERSION_MINOR}**" in SPEC
    example = _hex_block(_section("## 8. Worked examples"), "44 49 4e 52")
    assert example[4:6] == bytes([VERSION_MAJOR, VERSION_MINOR])


def test_head_bytes_past_field_14_depend_on_the_minor_version():
    """Spec 5: ignored in a file of a newer minor than the reader's (VERSION_MINOR), else
    rejected."""
    head = Header(16, 16, 1, 25, 1).to_bytes() + b"\x07"
    assert Header.from_bytes(head, VERSION_MINOR + 1) == Header(16, 16, 1, 25, 1)
    for minor in range(VERSION_MINOR + 1):
        with pytest.raises(DinrError, match="unexpected bytes after the header"):
            Header.from_bytes(head, minor)


# -- 2. one weight_step per tensor --------------------------------------------------------

@pytest.mark.parametrize("mlp_layers, refine_layers", [(0, 0), (1, 0), (2, 1), (0, 3), (4, 4)])
def test_there_is_one_weight_step_per_tensor_two_per_layer(mlp_layers, refine_layers):
    cfg = INRConfig(levels=2, channels=2, mlp_layers=mlp_layers, refine_layers=refine_layers)
    steps = len(segment_layout(cfg.fields(), 4, 16, 16).weight_sizes)
    assert steps == 2 * (2 + mlp_layers + max(0, refine_layers - 1))
    assert "2 × (2 + mlp_layers + max(0, refine_layers − 1))" in SPEC


# -- 3. the worked example is a file ------------------------------------------------------

def test_the_worked_example_is_a_valid_file_of_grey_frames():
    data = _hex_block(_section("## 8. Worked examples"), "44 49 4e 52")
    info, frames = decode_video(data)
    assert (info.video.width, info.video.height, info.video.frames) == (64, 48, 10)
    assert info.metadata == {"title": "x"}
    frames = list(frames)
    assert len(frames) == 10 and all(np.all(f == 0.5) for f in frames)


def test_the_entropy_examples_decode_to_their_tensors():
    from exvc.bitstream.entropy import decode_symbols

    text = _section("## 8. Worked examples")
    one = _hex_block(text, "01 02 72 55 00 80")
    assert decode_symbols(one, [8])[0].tolist() == [0, 1, -1, 0, 2, 0, 0, -1]
    three = _hex_block(text, "00                     tensor 0")
    assert [t.tolist() for t in decode_symbols(three, [3, 2, 9])] == [
        [0, 0, 0], [5, 5], [1, 0, 0, 1, 1, 1, 0, 1, 1]]


# -- 4. ancillary chunks inside a segment's chunks ----------------------------------------

def _with_between(data: bytes, after: int, between: list[Chunk]) -> bytes:
    chunks = read_container(data).chunks
    i = next(k for k, c in enumerate(chunks) if c.type == after)
    return write_container(chunks[: i + 1] + between + chunks[i + 1:])


@pytest.mark.parametrize("between", [[Chunk(META, encode_metadata({"a": "b"}))],
                                     [Chunk(0xC5, b"future")],
                                     [Chunk(0xC5, b""), Chunk(META, encode_metadata({}))]],
                         ids=["meta", "unknown", "both"])
def test_ancillary_chunks_may_stand_between_an_adapter_and_its_segment(between):
    plain = parse_stream(hostile.with_adapter())
    stream = parse_stream(_with_between(hostile.with_adapter(), ADAPTER, between))
    assert stream.adapters[0] is not None
    assert stream.adapters[0].targets == plain.adapters[0].targets
    assert all(np.array_equal(a, b) for a, b in zip(stream.adapters[0].b, plain.adapters[0].b,
                                                     strict=True))


def test_ancillary_chunks_may_stand_between_a_base_and_its_enhancement():
    from exvc.bitstream.container import BASE

    data = (COMPAT / "v1.3" / "base_vvc_enhanced_32x24_6f.dinr").read_bytes()
    stream = parse_stream(_with_between(data, BASE, [Chunk(META, encode_metadata({"a": "b"})),
                                                     Chunk(0xE0, b"x")]))
    assert stream.bases[0].enhancement == 1 and stream.segments[0] is not None


def test_a_critical_chunk_between_an_adapter_and_its_segment_is_refused():
    prior = read_container(hostile.with_adapter()).first(PRIOR_SHORT)
    with pytest.raises(DinrError, match="exactly one prior chunk, has 2"):  # refused anyway
        parse_stream(_with_between(hostile.with_adapter(), ADAPTER, [prior]))
    adapter = read_container(hostile.with_adapter()).first(ADAPTER)
    with pytest.raises(DinrError, match="adapter chunk must be followed by a segment"):
        parse_stream(_with_between(hostile.with_adapter(), ADAPTER, [adapter]))


# -- 5. at most one META --------------------------------------------------------------------

@pytest.mark.parametrize("where", ["after-head", "at-end"])
def test_a_second_meta_is_refused(where):
    data = (COMPAT / "v1.3" / "odd_meta_10bit_17x13_3f.dinr").read_bytes()
    chunks = read_container(data).chunks
    assert [c.type for c in chunks].count(META) == 1
    extra = Chunk(META, encode_metadata({"title": "other"}))
    chunks = chunks[:2] + [extra] + chunks[2:] if where == "after-head" else chunks + [extra]
    with pytest.raises(DinrError, match=r"chunk \d+ is a second metadata chunk"):
        probe(write_container(chunks))


# -- 6. nothing after a prior record, whatever the minor version ------------------------------

@pytest.mark.parametrize("form", ["long", "short"])
def test_bytes_after_a_prior_record_are_refused_in_every_minor_version(form):
    record = PriorRecord(bytes(32), "x", 0, 8, 2)
    payload = write_prior(record) if form == "long" else write_prior_short(record)
    ctype = PRIOR if form == "long" else PRIOR_SHORT
    head = Header(16, 16, 4, 25, 1, codec=1, segment_frames=4).to_bytes()
    segment = read_container(hostile.normal()).first(SEGMENT)
    for minor in (VERSION_MINOR, 9):
        for extra in (b"", b"\x00"):
            data = write_container([Chunk(HEAD, head), Chunk(ctype, payload + extra), segment],
                                   minor=minor)
            if extra:
                with pytest.raises(DinrError, match="unexpected bytes after the prior record"):
                    probe(data)
            else:
                assert probe(data).prior.grid_steps == 8


# -- 7. the coefficient limit counts the synthesis tensors --------------------------------

def _one_segment(cfg: INRConfig, w: int, h: int) -> bytes:
    layout = segment_layout(cfg.fields(), 1, h, w)
    p = SegmentPayload(1, cfg.fields(), 256, [0] * len(layout.weight_sizes),
                       [np.zeros(s, np.int32) for s in layout.latent_sizes],
                       [np.zeros(s, np.int32) for s in layout.weight_sizes])
    return write_container([Chunk(HEAD, Header(w, h, 1, 25, 1, segment_frames=1).to_bytes()),
                            Chunk(SEGMENT, write_segment(p))])


def test_the_coefficient_limit_counts_synthesis_weights():
    """8x8, one frame: the limit is 4 x 64 = 256 coefficients. 64 latents plus a wide MLP's
    weights are over it; the same latents with a narrow MLP are not."""
    def cfg(width: int) -> INRConfig:
        return INRConfig(levels=1, channels=1, spatial_log2=0, temporal_log2=0,
                         mlp_width=width, mlp_layers=1, refine_layers=0, refine_width=1)

    wide = segment_layout(cfg(64).fields(), 1, 8, 8)
    assert sum(wide.latent_sizes) <= 256 < sum(wide.latent_sizes) + sum(wide.weight_sizes)
    with pytest.raises(DinrError, match="asks for 393 coefficients"):
        parse_stream(_one_segment(cfg(64), 8, 8))
    assert parse_stream(_one_segment(cfg(8), 8, 8)).segments[0].frames == 1


# -- 8. the adapter's limit ------------------------------------------------------------------

def test_an_adapter_beyond_its_coefficient_limit_is_refused_before_decoding():
    layers = MAX_ADAPTER_SYMBOLS // 65536 + 1
    w = ByteWriter().u8(1).u8(1).uleb(0).uleb(layers)
    for i in range(layers):
        w.uleb(i).u8(0).uleb(1).uleb(65536).u8(1).u8(1).u8(0)
    with pytest.raises(DinrError, match=f"limit {MAX_ADAPTER_SYMBOLS}"):
        read_adapter(w.getvalue())  # no models follow: it never gets that far
    assert "MUST be at most 2^22" in _section("## 10. ADAPTER")


# -- 9. the canonical end, at file level ------------------------------------------------------

def test_a_segment_with_a_word_appended_is_refused():
    data = (COMPAT / "v1.3" / "basic_16x16_4f.dinr").read_bytes()
    chunks = read_container(data).chunks
    chunks = [Chunk(c.type, c.payload + bytes(4)) if c.type == SEGMENT else c for c in chunks]
    with pytest.raises(DinrError, match="not the one its symbols encode to"):
        parse_stream(write_container(chunks))
