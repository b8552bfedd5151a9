"""Photographs for training and evaluating a prior: one split of a built corpus, kept apart
from the other, read as 8-bit RGB.

A prior judged on photographs it was trained on looks better than it is, so training reads the
corpus's ``train`` split and evaluation its ``heldout`` split, and each refuses a corpus record
in which the two share a file or a picture (the same PNG SHA-256). Photographs stay uint8
until a crop is taken: 322 photographs at up to 768 pixels are about 0.45 GB as bytes and
four times that as float32. Only the training and evaluation tools import this module.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from exvc.prior.corpus import BUILT_FILE, CACHE

SPLITS = ("train", "heldout")


class CorpusSplitError(ValueError):
    """The corpus record is missing, or its splits overlap."""


def default_images() -> Path:
    """Where ``scripts/prior_corpus.py`` writes the images by default."""
    return (CACHE / "images").expanduser()


def _record(images: Path) -> dict:
    path = Path(images) / BUILT_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusSplitError(f"{path}: no readable corpus record ({exc}); build the corpus "
                               "with python scripts/prior_corpus.py") from None


def split_entries(images: Path, split: str) -> list[dict]:
    """The corpus record's entries of ``split``, after checking that no file and no picture
    (PNG SHA-256) of it is also in the other split."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    entries = _record(images)["images"]
    mine = [e for e in entries if e["split"] == split]
    other = [e for e in entries if e["split"] != split]
    files = {e["file"] for e in mine} & {e["file"] for e in other}
    pictures = ({e.get("sha256") for e in mine} & {e.get("sha256") for e in other}) - {None}
    if files or pictures:
        shared = sorted(files) or sorted(e["file"] for e in mine if e.get("sha256") in pictures)
        raise CorpusSplitError(f"{Path(images) / BUILT_FILE}: the {split} split shares "
                               f"{len(shared)} photograph(s) with the other ({shared[0]})")
    return mine


def split_files(images: Path, split: str) -> list[Path]:
    """The PNG files of one split (see :func:`split_entries`)."""
    return [Path(images) / e["file"] for e in split_entries(images, split)]


def corpus_summary(images: Path, split: str) -> dict:
    """What a training or evaluation record says about the corpus it read: the manifest it
    was built from, the counts, and a digest of the split's (file, SHA-256) list."""
    record = _record(images)
    entries = split_entries(images, split)
    listing = "\n".join(f"{e['file']} {e.get('sha256', '')}" for e in entries)
    return {
        "images": str(images), "split": split,
        "manifest_sha256": record.get("manifest_sha256"),
        "decoder": record.get("decoder"), "short_side": record.get("short_side"),
        "counts": {s: sum(e["split"] == s for e in record["images"]) for s in SPLITS},
        "used": len(entries),
        "split_sha256": hashlib.sha256(listing.encode()).hexdigest(),
    }


def load_rgb8(path: Path) -> torch.Tensor:
    """A picture file as uint8 RGB (3, H, W), decoded by PyAV (grey becomes RGB), or by
    Pillow where PyAV is not installed (the GPU machine of scripts/prior_gpu.py)."""
    try:
        import av
    except ImportError:
        from PIL import Image

        with Image.open(path) as image:
            rgb = np.asarray(image.convert("RGB"))
    else:
        with av.open(str(path)) as container:
            rgb = next(container.decode(video=0)).to_ndarray(format="rgb24")
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
