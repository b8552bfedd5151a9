"""The prior's photo corpus: freely licensed photographs pinned inside Debian packages.

Twelve photographs (``exvc.prior.data``) make a weak prior, and video clips are kept for
evaluation, so the corpus takes still photographs from Debian packages, which state each
file's licence. ``corpus_manifest.json`` beside this module pins every .deb (version and
SHA-256) and every photograph (path in the package, SHA-256, licence, credit, split);
``scripts/prior_corpus.py`` downloads, verifies and converts them, and training code reads
the result with :func:`built`. Only training and that script import this module; encoding and
decoding never do.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(__file__).with_name("corpus_manifest.json")
CACHE = Path("~/.cache/exvc/prior-corpus")  # debs/ and images/ below it, expanded by the caller
BUILT_FILE = "corpus.json"  # the record the script writes beside the images

# Licences a photograph may carry (SPDX identifiers, plus Debian's "public-domain").
FREE_LICENCES = frozenset({
    "public-domain", "CC0-1.0",
    "CC-BY-1.0", "CC-BY-2.0", "CC-BY-2.5", "CC-BY-3.0", "CC-BY-4.0",
    "CC-BY-SA-2.0", "CC-BY-SA-2.5", "CC-BY-SA-3.0", "CC-BY-SA-4.0",
    "GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later",
    "LGPL-2.1-or-later", "LGPL-3.0-only", "LGPL-3.0-or-later",
})
HELDOUT_SHARE = 10  # one photograph in ten, per package, is held back for evaluation


@dataclass(frozen=True)
class Deb:
    package: str
    version: str
    architecture: str
    sha256: str
    size: int

    @property
    def filename(self) -> str:
        """The name ``apt-get download`` gives the file (an epoch's colon becomes %3a)."""
        return f"{self.package}_{self.version.replace(':', '%3a')}_{self.architecture}.deb"

    @property
    def apt_spec(self) -> str:
        """PKG=VERSION for apt-get; an architecture-specific package names its architecture."""
        arch = "" if self.architecture == "all" else f":{self.architecture}"
        return f"{self.package}{arch}={self.version}"


@dataclass(frozen=True)
class Photo:
    name: str  # output path below the images folder, without the .png
    package: str
    path: str  # inside the package
    sha256: str  # of the file as the package holds it (of the member, for a Qt resource)
    licence: str
    credit: str
    licence_from: str  # where the package states the licence
    split: str  # "train" or "heldout"
    member: str = ""  # the file inside a Qt resource file (.rcc) at ``path``
    source: str = ""  # the original's address, where the package names it
    rotate: int = 0  # degrees clockwise to show it upright
    scene: str = ""  # photographs of one scene share it and are split together
    note: str = ""


@dataclass(frozen=True)
class Manifest:
    debs: dict[str, Deb]
    photos: tuple[Photo, ...]

    def split(self, which: str) -> tuple[Photo, ...]:
        return tuple(p for p in self.photos if p.split == which)


def load_manifest(path: Path = MANIFEST) -> Manifest:
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    debs = {d["package"]: Deb(**d) for d in raw["debs"]}
    return Manifest(debs, tuple(Photo(**p) for p in raw["photos"]))


def heldout_names(photos: tuple[Photo, ...] | list[Photo]) -> set[str]:
    """The fixed rule behind ``split``: per package, (n + 5) // 10 photographs are held back.

    A package's scenes (a photograph without one is a scene of its own) are ordered by the
    smallest SHA-256 among their photographs and taken in that order until enough are held,
    so the held-back set is spread over the packages, follows from the hashes alone, and never
    shares a scene with training.
    """
    held: set[str] = set()
    by_package: dict[str, dict[str, list[Photo]]] = {}
    for p in photos:
        by_package.setdefault(p.package, {}).setdefault(p.scene or p.name, []).append(p)
    for scenes in by_package.values():
        want = (sum(len(s) for s in scenes.values()) + HELDOUT_SHARE // 2) // HELDOUT_SHARE
        count = 0
        for scene in sorted(scenes.values(), key=lambda s: min(p.sha256 for p in s)):
            if count >= want:
                break
            held.update(p.name for p in scene)
            count += len(scene)
    return held


def built(images: Path | None = None, split: str = "train") -> list[Path]:
    """The PNG files of one split of a corpus the script built (default folder if None)."""
    root = Path(images) if images else (CACHE / "images").expanduser()
    record = json.loads((root / BUILT_FILE).read_text(encoding="utf-8"))
    return [root / e["file"] for e in record["images"] if e["split"] == split]
