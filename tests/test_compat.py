"""Files written by earlier (and, synthetically, later) minor versions of the format keep
decoding. The corpus lives in tests/data/compat/ (see make_compat.py there): one folder per
format version, never regenerated once a version has shipped."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from compat_digest import parse_digest
from fuzz_target import chunk

from exvc.bitstream.bytesio import DinrError
from exvc.bitstream.container import VERSION_MAJOR, VERSION_MINOR, read_container
from exvc.decode.decoder import decode_video, probe

pytestmark = pytest.mark.slow  # encodes, trains or decodes with the prior

COMPAT = Path(__file__).resolve().parent / "data" / "compat"
MANIFEST = json.loads((COMPAT / "manifest.json").read_text())


def test_every_format_version_of_this_major_has_files():
    versions = {name.split("/")[0] for name in MANIFEST}
    assert f"v{VERSION_MAJOR}.0" in versions
    assert any(v.endswith("-synthetic") for v in versions)
    assert len(MANIFEST) >= 4


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_corpus_file_decodes(name):
    entry = MANIFEST[name]
    data = (COMPAT / f"{name}.dinr").read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"], "corpus files must not change"
    info = probe(data)
    assert [info.video.width, info.video.height] == entry["size"]
    assert info.video.frames == entry["frames"] and info.metadata == entry["metadata"]
    assert parse_digest(data) == entry["parse_sha256"]  # parsing is exact everywhere
    frames = np.stack([np.rint(f * 255) for f in decode_video(data)[1]])
    expected = np.load(COMPAT / f"{name}.frames.npy").astype(np.float64)
    assert frames.shape == expected.shape
    mse = np.mean((frames - expected) ** 2)
    assert mse == 0 or 10 * np.log10(255**2 / mse) > 45


def test_a_newer_minor_decodes_like_the_original():
    """v1.9: appended HEAD fields and an unknown ancillary chunk are skipped."""
    old = (COMPAT / f"v{VERSION_MAJOR}.{VERSION_MINOR}" / "basic_16x16_4f.dinr").read_bytes()
    new = (COMPAT / f"v{VERSION_MAJOR}.9-synthetic" / "basic_16x16_4f.dinr").read_bytes()
    assert read_container(new).minor == 9 and read_container(new).ignored
    a = np.stack(list(decode_video(old)[1]))
    b = np.stack(list(decode_video(new)[1]))
    assert np.array_equal(a, b)


def test_an_unknown_major_is_refused_by_name():
    data = bytearray((COMPAT / "v1.0" / "basic_16x16_4f.dinr").read_bytes())
    data[4] = VERSION_MAJOR + 1
    with pytest.raises(DinrError, match=rf"unsupported .dinr version {VERSION_MAJOR + 1}\.0 "
                                        r".*needs a newer exvc"):
        probe(bytes(data))


def test_an_unknown_critical_chunk_is_refused():
    data = (COMPAT / "v1.0" / "basic_16x16_4f.dinr").read_bytes()
    with pytest.raises(DinrError, match="needs a newer exvc"):
        probe(data[:-6] + chunk(0x7E, b"future") + data[-6:])


def _entropy_payloads(data: bytes):
    """(entropy payload, tensor sizes, exvc's decoded values) of every SEGMENT of a file."""
    from exvc.bitstream.bytesio import ByteReader
    from exvc.bitstream.container import HEAD, SEGMENT
    from exvc.bitstream.header import Header
    from exvc.decode.decoder import parse_stream
    from exvc.models.config import INRConfig
    from exvc.models.quantize import segment_layout

    container = read_container(data)
    header = Header.from_bytes(container.first(HEAD).payload, container.minor)
    decoded = iter(p for p in parse_stream(data).segments if p is not None)
    for c in container.of_type(SEGMENT):
        r = ByteReader(c.payload)
        frames = r.uleb()
        config = [r.u8() for _ in range(INRConfig.field_count())]
        layout = segment_layout(config, frames, header.height, header.width)
        r.uleb()
        for _ in layout.weight_sizes:
            r.u8()
        p = next(decoded)
        values = [v.tolist() for v in list(p.latents) + list(p.weights)]
        yield r.rest(), layout.latent_sizes + layout.weight_sizes, values


def _with_segments() -> list[str]:
    from exvc.bitstream.container import SEGMENT

    return [n for n in sorted(MANIFEST)
            if read_container((COMPAT / f"{n}.dinr").read_bytes()).of_type(SEGMENT)]


@pytest.mark.parametrize("name", _with_segments())
def test_corpus_entropy_streams_decode_as_the_reference_does(name):
    """bitstream_spec.md 7.4 in plain integers (tests/ref_entropy.py) and exvc's
    constriction-based decoder give the same values for every coded payload of the corpus,
    and both refuse the payload with a word appended (the stream's canonical end)."""
    import ref_entropy as ref

    from exvc.bitstream.entropy import decode_symbols

    data = (COMPAT / f"{name}.dinr").read_bytes()
    payloads = list(_entropy_payloads(data))
    assert payloads
    for payload, sizes, values in payloads:
        assert ref.decode_payload(payload, sizes) == values
        for extra in (bytes(4), b"\xa5" * 4):
            with pytest.raises(ref.Reject, match="canonical"):
                ref.decode_payload(payload + extra, sizes)
            with pytest.raises(DinrError, match="not the one its symbols encode to"):
                decode_symbols(payload + extra, sizes)


@pytest.mark.parametrize("path", sorted(COMPAT.glob("*/*.dinr")), ids=lambda p: p.name)
def test_the_info_sections_add_up_to_the_file(path):
    """``exvc -i file.dinr`` lists every byte: its sections sum to the total, the file size."""
    import re

    from exvc.cli.info import dinr_info_lines
    from exvc.decode.decoder import probe

    data = path.read_bytes()
    lines = dinr_info_lines(probe(data), str(path))
    sizes = {line.split(":")[0].strip(): int(re.search(r":\s+(\d+) bytes", line).group(1))
             for line in lines if re.search(r":\s+\d+ bytes", line)}
    total = sizes.pop("total")
    assert total == len(data) == sum(sizes.values())


ADAPTER_FILES = sorted(n for n in MANIFEST if "/adapter_" in n)


def test_every_bundled_prior_has_an_adapter_file_in_the_corpus():
    """A file made with each prior exvc ships, adapter included, pins that prior's decoding
    across versions and machines; a new bundled prior needs one here."""
    from exvc.prior.bundled import bundled_priors

    named = {probe((COMPAT / f"{n}.dinr").read_bytes()).prior.digest[:8] for n in ADAPTER_FILES}
    assert {digest[:8] for _, digest in bundled_priors().values()} <= named


def _without_adapter(data: bytes, replace=None) -> bytes:
    """``data`` without its ADAPTER chunk, or with its payload replaced by ``replace``."""
    from exvc.bitstream.container import ADAPTER, Chunk, write_container

    c = read_container(data)
    chunks = [x if x.type != ADAPTER else Chunk(ADAPTER, replace) for x in c.chunks
              if x.type != ADAPTER or replace is not None]
    return write_container(chunks, minor=c.minor)


@pytest.mark.parametrize("name", ADAPTER_FILES)
def test_an_adapter_file_decodes_through_its_adapter(name):
    """The reference frames hold the adapter's effect: decoding without it misses them by
    more than the corpus tolerance (45 dB), so an adapter that stopped applying would fail
    test_corpus_file_decodes."""
    data = (COMPAT / f"{name}.dinr").read_bytes()
    frames = np.stack([np.rint(f * 255) for f in decode_video(_without_adapter(data))[1]])
    expected = np.load(COMPAT / f"{name}.frames.npy").astype(np.float64)
    assert 10 * np.log10(255**2 / np.mean((frames - expected) ** 2)) < 44


def test_an_adapter_that_does_not_fit_the_prior_is_refused_before_any_frame():
    from dataclasses import replace

    from exvc.bitstream.adapter import read_adapter, write_adapter
    from exvc.bitstream.container import ADAPTER

    data = (COMPAT / f"{ADAPTER_FILES[0]}.dinr").read_bytes()
    payload = read_adapter(read_container(data).first(ADAPTER).payload)
    first = payload.targets[0]
    payload.targets[0] = replace(first, in_features=first.in_features + 1)
    with pytest.raises(DinrError, match=rf"corrupt .dinr: .*layer {first.index}.*does not "
                                        r"match the prior"):
        decode_video(_without_adapter(data, write_adapter(payload)))
