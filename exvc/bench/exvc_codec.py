"""exvc itself in the benchmark: encode and decode through the library, each in a fresh process.

Counted from the whole ``.dinr`` file. The encoder's child process receives the clip's frames
and times ``encode_video`` alone; the decoder's child times ``decode_video`` including rebuilding
the models, and returns the frames as 8-bit RGB, as any 8-bit output file would hold them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from exvc.bench.isolate import isolated, peak_mb
from exvc.bench.yuv import to_uint8
from exvc.decode.decoder import decode_video
from exvc.encode.encoder import encode_video
from exvc.encode.settings import EncodeSettings
from exvc.media.types import VideoInfo


def _encode_job(frames: np.ndarray, info: VideoInfo, settings: EncodeSettings
                ) -> dict[str, Any]:
    import torch

    start = time.perf_counter()
    data = encode_video(iter(frames), info, settings)
    # encode_video holds settings.threads for the call only, so name what it ran with
    return {"data": data, "seconds": time.perf_counter() - start, "peak_mb": peak_mb(),
            "torch_threads": settings.threads or torch.get_num_threads()}


def _decode_job(data: bytes, threads: int | None, prior: str | None) -> dict[str, Any]:
    start = time.perf_counter()
    _, frames = decode_video(data, threads=threads, prior=prior)
    decoded = np.stack([to_uint8(frame) for frame in frames])
    return {"frames": decoded, "seconds": time.perf_counter() - start, "peak_mb": peak_mb()}


def encode(frames: np.ndarray, info: VideoInfo, settings: EncodeSettings) -> dict[str, Any]:
    """Encode float32 RGB frames (T, 3, H, W) in a child: ``data``, ``seconds``, ``peak_mb``."""
    return isolated(_encode_job, frames, info, settings)


def decode(data: bytes, threads: int | None, prior: str | None = None) -> dict[str, Any]:
    """Decode in a child: ``frames`` (T, 3, H, W) uint8, ``seconds``, ``peak_mb``. ``prior``:
    the one the file was encoded with when it is not a bundled one (a ``dinr:prior=`` row)."""
    return isolated(_decode_job, data, threads, prior)
