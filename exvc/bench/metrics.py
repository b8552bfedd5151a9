"""Full-reference pixel metrics for the benchmark: PSNR (RGB and Y), MS-SSIM and flicker.

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

from exvc.media.quality import mse as mse
from exvc.media.quality import psnr as psnr
from exvc.media.quality import psnr_from_mse

# BT.601 luma weights: Y is computed from the RGB frames both codecs are scored in.
LUMA_WEIGHTS: tuple[float, float, float] = (0.299, 0.587, 0.114)
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
# One definition for the encoder, the benchmark and the tests (exvc.media.quality): mse and
# psnr pool every sample in float64, psnr_from_mse is the formula (inf for no error).
# Re-exported here, the benchmark's metric suite.

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


def luma(x: ArrayLike) -> torch.Tensor:
    """BT.601 luma (N, 1, H, W) of RGB frames (N, 3, H, W), float64."""
    t = _as_batch(x)
    w = torch.tensor(LUMA_WEIGHTS, dtype=torch.float64).view(1, 3, 1, 1)
    return (t * w).sum(dim=1, keepdim=True)


class ClipScore:
    """Accumulates frame pairs in display order.

    PSNR and PSNR-Y come from the mean MSE over all frames (not the mean of per-frame PSNRs);
    MS-SSIM is the mean over frames. ``flicker`` is the RMS, in 8-bit levels, of the error in
    the frame-to-frame change: ``(dist[t] - dist[t-1]) - (ref[t] - ref[t-1])`` over every
    sample of every consecutive pair. It is 0 when the codec changes frames exactly as the
    source does (a constant error does not count), and grows when it flickers or smears motion.
    """

    def __init__(self, data_range: float = 1.0) -> None:
        self.data_range = data_range
        self._sq_err = 0.0
        self._sq_err_y = 0.0
        self._samples = 0
        self._samples_y = 0
        self._ms_ssim: list[float] = []
        self._flicker_sq = 0.0
        self._flicker_samples = 0
        self._last: tuple[torch.Tensor, torch.Tensor] | None = None

    def add(self, ref: ArrayLike, dist: ArrayLike) -> None:
        """Score one frame (3, H, W) or a batch (N, 3, H, W), the next in display order."""
        x, y = _as_batch(ref), _as_batch(dist)
        _check_pair(x, y)
        self._sq_err += float(torch.sum((x - y) ** 2))
        self._samples += x.numel()
        ly, lx = luma(y), luma(x)
        self._sq_err_y += float(torch.sum((lx - ly) ** 2))
        self._samples_y += lx.numel()
        self._ms_ssim.extend(ms_ssim(x, y, self.data_range).tolist())
        if self._last is not None:
            x, y = torch.cat([self._last[0], x]), torch.cat([self._last[1], y])
        if len(x) > 1:
            change = (y[1:] - y[:-1]) - (x[1:] - x[:-1])
            self._flicker_sq += float(torch.sum(change**2))
            self._flicker_samples += change.numel()
        self._last = (x[-1:], y[-1:])

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
    def psnr_y(self) -> float:
        mse_y = self._sq_err_y / self._samples_y if self._samples_y else math.nan
        return psnr_from_mse(mse_y, self.data_range)

    @property
    def ms_ssim(self) -> float:
        return float(np.mean(self._ms_ssim)) if self._ms_ssim else math.nan

    @property
    def flicker(self) -> float:
        if not self._flicker_samples:
            return math.nan
        return 255.0 / self.data_range * math.sqrt(self._flicker_sq / self._flicker_samples)
