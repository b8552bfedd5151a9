"""Training photographs for the bundled prior: still images that Python packages ship.

Only photographs with a stated free licence are used; video clips are never used (they are
kept for evaluation). Each source names the package it comes from and the licence its
package documents. The card in docs/prior.md repeats this list.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class PhotoSource:
    package: str
    path: str  # inside the installed package
    licence: str
    credit: str


SOURCES = (
    PhotoSource("skimage", "data/astronaut.png", "public domain", "NASA (Eileen Collins)"),
    PhotoSource("skimage", "data/chelsea.png", "CC0", "Stefan van der Walt"),
    PhotoSource("skimage", "data/coffee.png", "CC0", "Rachel Michetti"),
    PhotoSource("skimage", "data/rocket.jpg", "public domain", "SpaceX (DSCOVR launch)"),
    PhotoSource("skimage", "data/hubble_deep_field.jpg", "public domain", "NASA"),
    PhotoSource("skimage", "data/retina.jpg", "CC0", "Häggström, Mikael (2014)"),
    PhotoSource("skimage", "data/brick.png", "CC0", "CC0Textures (Bricks25)"),
    PhotoSource("skimage", "data/grass.png", "CC0", "CC0Textures (Grass001)"),
    PhotoSource("skimage", "data/gravel.png", "CC0", "CC0Textures (Gravel04)"),
    PhotoSource("skimage", "data/camera.png", "CC0", "Lav Varshney"),
    PhotoSource("skimage", "data/coins.png", "no known copyright restrictions",
                "Museum of Gdynia, via skimage"),
    PhotoSource("matplotlib", "mpl-data/sample_data/grace_hopper.jpg", "public domain",
                "U.S. Navy (Grace Hopper portrait)"),
)


def locate(source: PhotoSource) -> Path:
    spec = importlib.util.find_spec(source.package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package '{source.package}' is not installed "
                                "(pip install -e '.[train]')")
    return Path(list(spec.submodule_search_locations)[0]) / source.path


def load_photo(path: Path) -> np.ndarray:
    """A photograph as float32 RGB (3, H, W) in [0, 1], decoded by PyAV (grey becomes RGB)."""
    import av

    with av.open(str(path)) as container:
        frame = next(container.decode(video=0))
        rgb = frame.to_ndarray(format="rgb24")
    return np.ascontiguousarray(rgb.transpose(2, 0, 1), dtype=np.float32) / 255.0


def load_all() -> list[tuple[PhotoSource, np.ndarray]]:
    return [(s, load_photo(locate(s))) for s in SOURCES]
