"""The prior's photo corpus: the pinned manifest and the rebuild script's checks (no network)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import struct
import zlib

import pytest
from conftest import REPO

from exvc.prior.corpus import FREE_LICENCES, built, heldout_names, load_manifest


@pytest.fixture(scope="module")
def manifest():
    return load_manifest()


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("prior_corpus", REPO / "scripts/prior_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_manifest_holds_enough_photographs_for_training_and_evaluation(manifest):
    assert len(manifest.split("train")) >= 300
    assert len(manifest.split("heldout")) >= 30
    assert {p.split for p in manifest.photos} == {"train", "heldout"}


def test_every_photograph_is_unique_pinned_and_freely_licensed(manifest):
    assert len({p.sha256 for p in manifest.photos}) == len(manifest.photos)
    assert len({p.name for p in manifest.photos}) == len(manifest.photos)
    for p in manifest.photos:
        assert re.fullmatch(r"[0-9a-f]{64}", p.sha256), p.name
        assert p.licence in FREE_LICENCES, (p.name, p.licence)
        assert p.credit.strip() and p.licence_from.strip(), p.name
        assert p.package in manifest.debs, p.name
        assert p.rotate in (0, 90, 180, 270), p.name
    for d in manifest.debs.values():
        assert re.fullmatch(r"[0-9a-f]{64}", d.sha256) and d.size > 0


def test_heldout_follows_the_rule_and_shares_nothing_with_training(manifest):
    train, held = manifest.split("train"), manifest.split("heldout")
    assert {p.name for p in held} == heldout_names(manifest.photos)
    assert not {p.sha256 for p in train} & {p.sha256 for p in held}
    assert not {p.scene for p in train if p.scene} & {p.scene for p in held if p.scene}
    assert len({p.package for p in held}) >= 5  # spread over the packages


def test_a_tampered_file_is_rejected(tmp_path, script):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"a photograph")
    pinned = hashlib.sha256(b"a photograph").hexdigest()
    script.verify_file(photo, pinned)
    photo.write_bytes(b"a photograph, edited")
    with pytest.raises(script.CorpusError, match=r"SHA-256 is [0-9a-f]{64}, the manifest pins"):
        script.verify_file(photo, pinned)


def test_a_tampered_deb_is_one_line_and_exit_status_1(tmp_path, script, capsys):
    pinned = {"debs": [{"package": "fake", "version": "1:1.0-1", "architecture": "all",
                        "sha256": "0" * 64, "size": 3}],
              "photos": [{"name": "fake/a", "package": "fake", "path": "usr/a.jpg",
                          "sha256": "1" * 64, "licence": "CC0-1.0", "credit": "someone",
                          "licence_from": "usr/share/doc/fake/copyright", "split": "train"}]}
    (tmp_path / "manifest.json").write_text(json.dumps(pinned))
    (tmp_path / "debs").mkdir()
    (tmp_path / "debs" / "fake_1%3a1.0-1_all.deb").write_bytes(b"not")  # cached: no download
    status = script.main(["--check", "--manifest", str(tmp_path / "manifest.json"),
                          "--cache", str(tmp_path / "debs"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1
    assert len(err) == 1 and "fake_1%3a1.0-1_all.deb: SHA-256 is" in err[0]
    assert not (tmp_path / "out").exists()


def _qt_resource(files: dict[str, tuple[bytes, bool]]) -> bytes:
    """A format-1 Qt resource file holding /d/<name> for each (payload, zlib-compressed)."""
    names = b""

    def name(text: str) -> int:
        nonlocal names
        offset = len(names)
        names += struct.pack(">HI", len(text), 0) + text.encode("utf-16-be")
        return offset

    nodes = [struct.pack(">IHII", 0, 2, 1, 1), struct.pack(">IHII", name("d"), 2, len(files), 2)]
    data = b""
    for file, (payload, packed) in files.items():
        blob = struct.pack(">I", len(payload)) + zlib.compress(payload) if packed else payload
        nodes.append(struct.pack(">IHHHI", name(file), int(packed), 0, 0, len(data)))
        data += struct.pack(">I", len(blob)) + blob
    tree = b"".join(nodes)
    return (b"qres" + struct.pack(">4I", 1, 20, 20 + len(tree), 20 + len(tree) + len(data))
            + tree + data + names)


def test_qt_resource_members_are_read_as_stored_or_inflated(script):
    blob = _qt_resource({"x.webp": (b"stored bytes", False), "y.webp": (b"packed " * 20, True)})
    assert script.rcc_member(blob, "/d/x.webp") == b"stored bytes"
    assert script.rcc_member(blob, "/d/y.webp") == b"packed " * 20
    with pytest.raises(script.CorpusError, match="not in the Qt resource file"):
        script.rcc_member(blob, "/d/z.webp")


def test_scaling_keeps_the_short_side_at_most_the_limit(script):
    assert script.target_size(4096, 2304, 768) == (1365, 768)
    assert script.target_size(600, 800, 768) == (600, 800)
    assert script.target_size(2056, 3088, 768) == (768, 1153)
    assert script.target_size(5000, 3000, 0) == (5000, 3000)


def test_list_prints_every_pinned_photograph(script, manifest, capsys):
    assert script.main(["--list"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()
    assert len(rows) == 2 + len(manifest.photos)


def test_built_reads_one_split_of_a_corpus(tmp_path):
    images = [{"file": "p/a.png", "split": "train"}, {"file": "p/b.png", "split": "heldout"}]
    (tmp_path / "corpus.json").write_text(json.dumps({"images": images}))
    assert built(tmp_path) == [tmp_path / "p/a.png"]
    assert built(tmp_path, "heldout") == [tmp_path / "p/b.png"]


def test_encoding_and_decoding_never_import_the_corpus():
    # Only the training and evaluation tools read it (photos.py is their reader).
    tools = {"exvc/prior/" + n for n in ("corpus.py", "photos.py", "train.py", "eval.py")}
    importers = [p.relative_to(REPO) for p in (REPO / "exvc").rglob("*.py")
                 if p.relative_to(REPO).as_posix() not in tools
                 and re.search(r"prior\.(corpus|photos)|from \.(corpus|photos)|"
                               r"import (corpus|photos)", p.read_text())]
    assert importers == []
