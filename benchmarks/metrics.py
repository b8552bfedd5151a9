"""Full-reference quality metrics for the benchmarks: PSNR and MS-SSIM on RGB frames.

Frames are ``(3, H, W)`` (or batches ``(N, 3, H, W)``) with values in ``[0, data_range]``,
as numpy arrays or torch tensors. Everything is computed in float64.

MS-SSIM follows Wang, Simoncelli and Bovik, "Multi-scale structural similarity for image
quality assessment" (Asilomar 2003): an 11x11 Gaussian window (sigma 1.5, "valid" filtering),
K1 = 0.01, K2 = 0.03, the contrast-structure term at scales 1..M-1 and the full SSIM at scale M,
2x2 average pooling between scales, and the weights ``MS_SSIM_WEIGHTS``. Each channel is scored
on its own and the channel scores are averaged (as pytorch-msssim does). Negative terms are
clipped to 0 before the powers, so the result lies in [0, 1].

Small frames: every scale must hold at least one whole window, so frames whose short side is
under 11 * 2**4 = 176 px get fewer scales (QCIF 176x144: 4, 32x32: 2) and the first M weights,
renormalised to sum to 1. Pooling halves an odd side rounding up (the first row or column is
averaged alone, padding not counted), so nothing is dropped. Frames under 11 px use one scale
with the largest odd window that fits. Scores of clips of different sizes are therefore not on
exactly the same scale; scores of two codecs on the same clip are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW_SIZE = 11
WINDOW_SIGMA = 1.5
K1, K2 = 0.01, 0.03

ArrayLike = np.ndarray | torch.Tensor


def _as_batch(x: ArrayLike) -> torch.Tensor:
    """A float64 tensor of shape (N, C, H, W) from (C, H, W) or (N, C, H, W) input."""
    if isinstance(x, torch.Tensor):
        t = x.detach().to(dtype=torch.float64, device="cpu")
    else:
        t = torch.from_numpy(np.array(x, dtype=np.float64))  # a copy: input may be read-only
    if t.dim() == 3:
        t = t.unsqueeze(0)
    if t.dim() != 4:
        raise ValueError(f"expected (C, H, W) or (N, C, H, W), got shape {tuple(t.shape)}")
    return t


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(f"shape mismatch: {tuple(x.shape)} vs {tuple(y.shape)}")


# -- PSNR ---------------------------------------------------------------------------------


def mse(ref: ArrayLike, dist: ArrayLike) -> float:
    """Mean squared error over every sample."""
    x, y = _as_batch(ref), _as_batch(dist)
    _check_pair(x, y)
    return float(torch.mean((x - y) ** 2))


def psnr_from_mse(value: float, data_range: float = 1.0) -> float:
    """PSNR in dB for a mean squared error; ``inf`` when the error is 0 (no cap)."""
    if value <= 0.0:
        return math.inf
    return 10.0 * math.log10(data_range**2 / value)


def psnr(ref: ArrayLike, dist: ArrayLike, data_range: float = 1.0) -> float:
    """PSNR in dB from the mean squared error over all samples (all frames, all channels)."""
    return psnr_from_mse(mse(ref, dist), data_range)


# -- MS-SSIM ------------------------------------------------------------------------------


def _pooled(size: int) -> int:
    """Side length after ``_downsample``: ``ceil(size / 2)``."""
    return (size + 2 * (size % 2) - 2) // 2 + 1


def ms_ssim_scales(height: int, width: int, max_scales: int = len(MS_SSIM_WEIGHTS),
                   window: int = WINDOW_SIZE) -> int:
    """How many scales fit: each scale's short side must hold a whole ``window``."""
    side, scales = min(height, width), 1
    while scales < max_scales and _pooled(side) >= window:
        side, scales = _pooled(side), scales + 1
    return scales


def _gaussian(size: int, sigma: float) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _blur(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' Gaussian filtering, channel by channel."""
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _downsample(x: torch.Tensor) -> torch.Tensor:
    pad = (x.shape[2] % 2, x.shape[3] % 2)
    return F.avg_pool2d(x, kernel_size=2, padding=pad, count_include_pad=False)


def _ssim_cs(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor,
             data_range: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per (image, channel) mean SSIM and mean contrast-structure term, each (N, C)."""
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mu_x, mu_y = _blur(x, g), _blur(y, g)
    var_x = _blur(x * x, g) - mu_x**2
    var_y = _blur(y * y, g) - mu_y**2
    cov = _blur(x * y, g) - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    lum = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1)
    return (lum * cs).mean(dim=(2, 3)), cs.mean(dim=(2, 3))


def ms_ssim(ref: ArrayLike, dist: ArrayLike, data_range: float = 1.0,
            weights: Sequence[float] = MS_SSIM_WEIGHTS) -> torch.Tensor:
    """MS-SSIM of each image, shape (N,): per-channel scores averaged over channels."""
    x, y = _as_batch(ref), _as_batch(dist)
    _check_pair(x, y)
    h, w = x.shape[2:]
    window = min(WINDOW_SIZE, (min(h, w) - 1) // 2 * 2 + 1)
    scales = ms_ssim_scales(h, w, len(weights), window)
    wts = torch.tensor(weights[:scales], dtype=torch.float64)
    wts = wts / wts.sum()
    g = _gaussian(window, WINDOW_SIGMA)
    terms = []
    for scale in range(scales):
        ssim, cs = _ssim_cs(x, y, g, data_range)
        if scale == scales - 1:
            terms.append(ssim.clamp(min=0))
        else:
            terms.append(cs.clamp(min=0))
            x, y = _downsample(x), _downsample(y)
    per_channel = torch.prod(torch.stack(terms) ** wts.view(-1, 1, 1), dim=0)
    return per_channel.mean(dim=1)


def ssim(ref: ArrayLike, dist: ArrayLike, data_range: float = 1.0) -> torch.Tensor:
    """Single-scale SSIM of each image, shape (N,) (MS-SSIM with one scale)."""
    return ms_ssim(ref, dist, data_range, weights=(1.0,))


# -- whole clips --------------------------------------------------------------------------


class ClipScore:
    """Accumulates frame pairs: PSNR from the mean MSE of all frames, MS-SSIM mean of frames."""

    def __init__(self, data_range: float = 1.0) -> None:
        self.data_range = data_range
        self._sq_err = 0.0
        self._samples = 0
        self._ms_ssim: list[float] = []

    def add(self, ref: ArrayLike, dist: ArrayLike) -> None:
        """Score one frame (3, H, W) or a batch (N, 3, H, W)."""
        x, y = _as_batch(ref), _as_batch(dist)
        _check_pair(x, y)
        self._sq_err += float(torch.sum((x - y) ** 2))
        self._samples += x.numel()
        self._ms_ssim.extend(ms_ssim(x, y, self.data_range).tolist())

    @property
    def frames(self) -> int:
        return len(self._ms_ssim)

    @property
    def mse(self) -> float:
        return self._sq_err / self._samples if self._samples else math.nan

    @property
    def psnr(self) -> float:
        return psnr_from_mse(self.mse, self.data_range)

    @property
    def ms_ssim(self) -> float:
        return float(np.mean(self._ms_ssim)) if self._ms_ssim else math.nan
