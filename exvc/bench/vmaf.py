"""VMAF through an ffmpeg built with libvmaf (the model built into libvmaf, v0.6.1).

VMAF scores 4:2:0 video, so the source and the decoded RGB frames are both converted to
yuv420p the same way (``exvc.bench.yuv``) and compared by ffmpeg's ``libvmaf`` filter. The
figure is the mean over frames, 0..100, higher is better. VMAF was trained on full-HD viewing;
on clips this small it is still a consistent ranking between codecs, not an absolute score.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from fractions import Fraction

import numpy as np

from exvc.bench.yuv import to_yuv420p, yuv420p_bytes
from exvc.media.ffmpeg_exe import Ffmpeg


def available(ffmpeg: Ffmpeg | None) -> bool:
    return ffmpeg is not None and "libvmaf" in ffmpeg.filters


def vmaf(ffmpeg: Ffmpeg, ref: Sequence[np.ndarray], dist: Sequence[np.ndarray],
         fps: Fraction, threads: int = 2) -> float:
    """Mean VMAF of ``dist`` against ``ref`` (RGB float frames (3, H, W) in [0, 1])."""
    if len(ref) != len(dist) or not ref:
        raise ValueError(f"{len(ref)} reference and {len(dist)} decoded frames")
    h, w = ref[0].shape[1:]
    raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-r", str(fps)]
    with tempfile.TemporaryDirectory(prefix="exvc-vmaf-") as tmp:
        paths = {}
        for name, frames in (("ref", ref), ("dist", dist)):
            paths[name] = os.path.join(tmp, f"{name}.yuv")
            with open(paths[name], "wb") as f:
                for frame in to_yuv420p(frames):
                    f.write(yuv420p_bytes(frame))
        log = os.path.join(tmp, "vmaf.json")
        graph = f"[0:v][1:v]libvmaf=log_fmt=json:log_path={log}:n_threads={threads}"
        ffmpeg.run([*raw, "-i", paths["dist"], *raw, "-i", paths["ref"],
                    "-lavfi", graph, "-f", "null", "-"])
        with open(log) as f:
            return float(json.load(f)["pooled_metrics"]["vmaf"]["mean"])
