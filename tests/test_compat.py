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
