"""Portable sampler noise: a counter-based generator with a two-line specification.

The decoder's starting noise must be the same on every machine and every library version, so
it is not torch's or numpy's generator (whose streams may change): value ``i`` of the noise
field is Box-Muller on two SplitMix64 outputs of ``seed``. The field depends on the seed and
the pixel position only, so every frame of a file starts from the same noise and frames the
INR keeps steady stay steady (bitstream_spec.md section 12).
"""

from __future__ import annotations

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def splitmix64(counter: np.ndarray) -> np.ndarray:
    """SplitMix64's output function of ``counter`` (uint64, wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = counter.astype(np.uint64) * _GOLDEN + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def gaussian_field(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """Standard normal float32 array of ``shape``: value ``i`` (C order) is
    ``sqrt(-2 ln u1) * cos(2 pi u2)`` with ``u1 = (a >> 11) + 1) / 2^53`` and
    ``u2 = (b >> 11) / 2^53``, ``a, b = splitmix64(seed * 2^32 + 2i), ...(... + 2i + 1)``."""
    n = int(np.prod(shape))
    base = np.uint64((seed & 0xFFFFFFFF) << 32)
    idx = np.arange(n, dtype=np.uint64) * np.uint64(2)
    with np.errstate(over="ignore"):
        a = splitmix64(base + idx)
        b = splitmix64(base + idx + np.uint64(1))
    scale = 2.0 ** -53
    u1 = ((a >> np.uint64(11)).astype(np.float64) + 1.0) * scale
    u2 = (b >> np.uint64(11)).astype(np.float64) * scale
    z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
    return z.astype(np.float32).reshape(shape)
