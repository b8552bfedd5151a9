"""PSNR: the one definition the encoder, the benchmark and the tests share.

The encoder's fidelity floor (``exvc.encode.perception``), the benchmark's scores
(``exvc.bench.metrics``) and the tests all compare frames by PSNR, and three copies of the
formula had drifted in precision and in how they treat identical inputs. It lives in the media
layer, the lowest one, because it is a property of frames alone (no codec, no model): every
layer above may import it, and it needs numpy only.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _samples(x: Any) -> np.ndarray:
    """``x`` (a numpy array, a CPU torch tensor or a nested sequence) as float64 samples."""
    if hasattr(x, "detach"):  # a torch tensor, maybe one that requires grad
        x = x.detach().cpu()
    return np.asarray(x, dtype=np.float64)


def mse(ref: Any, dist: Any) -> float:
    """Mean squared error over every sample (all frames, all channels), in float64. Raises
    ValueError when the shapes differ (no broadcasting: that would hide a frame-count bug)."""
    x, y = _samples(ref), _samples(dist)
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: {x.shape} vs {y.shape}")
    return float(np.mean((x - y) ** 2))


def psnr_from_mse(value: float, data_range: float = 1.0) -> float:
    """PSNR in dB for a mean squared error; ``inf`` when the error is 0 (no cap)."""
    if value <= 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / value)


def psnr(ref: Any, dist: Any, data_range: float = 1.0) -> float:
    """PSNR in dB of ``dist`` against ``ref`` (values in ``[0, data_range]``) from the mean
    squared error over all their samples, so a clip's frames pool their errors before the
    log. Symmetric: the order of the two frames does not change the value."""
    return psnr_from_mse(mse(ref, dist), data_range)
