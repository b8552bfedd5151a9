"""exvc.bench.metrics: PSNR, PSNR-Y, MS-SSIM and flicker on known cases and small frames."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch


@pytest.fixture(scope="module")
def metrics():
    from exvc.bench import metrics

    return metrics


def _image(height: int, width: int, seed: int = 0) -> torch.Tensor:
    """A textured RGB image (3, H, W) in [0, 1]: smooth gradients plus fine detail."""
    g = torch.Generator().manual_seed(seed)
    y, x = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width),
                          indexing="ij")
    base = torch.stack([x, y, 0.5 * (x + y)]) * 0.6 + 0.2
    detail = torch.rand(3, height, width, generator=g) * 0.2 - 0.1
    return (base + detail).clamp(0, 1).double()


def _blur(img: torch.Tensor, radius: int) -> torch.Tensor:
    """Box blur of odd width 2 * radius + 1 with replicated borders."""
    k = 2 * radius + 1
    x = torch.nn.functional.pad(img[None], (radius,) * 4, mode="replicate")
    return torch.nn.functional.avg_pool2d(x, k, stride=1)[0]


def _noisy(img: torch.Tensor, sigma: float, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (img + sigma * torch.randn(img.shape, generator=g, dtype=img.dtype)).clamp(0, 1)


SIZES = [(144, 176), (32, 32)]


def test_psnr_identical_is_inf(metrics):
    img = _image(36, 64)
    assert metrics.psnr(img, img) == math.inf
    assert metrics.psnr_from_mse(0.0) == math.inf


def test_psnr_of_known_mse(metrics):
    ref = np.zeros((3, 16, 16), np.float32)
    assert metrics.psnr(ref, ref + 0.1) == pytest.approx(20.0, abs=1e-6)  # MSE 0.01
    assert metrics.psnr(ref, ref + 0.01) == pytest.approx(40.0, abs=1e-5)
    assert metrics.psnr(ref * 255, ref + 25.5, data_range=255.0) == pytest.approx(20.0, abs=1e-6)


def test_psnr_pools_mse_over_frames(metrics):
    ref = np.zeros((2, 3, 8, 8))
    dist = ref.copy()
    dist[0] += 0.1  # frame MSEs 0.01 and 0 -> mean 0.005, not the mean of per-frame PSNRs
    assert metrics.psnr(ref, dist) == pytest.approx(10 * math.log10(1 / 0.005))
    score = metrics.ClipScore()
    for a, b in zip(ref, dist, strict=True):
        score.add(a, b)
    assert score.frames == 2
    assert score.psnr == pytest.approx(10 * math.log10(1 / 0.005))


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_ms_ssim_identical_is_one(metrics, height, width):
    img = _image(height, width)
    assert float(metrics.ms_ssim(img, img)[0]) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_ms_ssim_falls_with_blur(metrics, height, width):
    img = _image(height, width)
    scores = [float(metrics.ms_ssim(img, _blur(img, r))[0]) for r in (1, 2, 4)]
    assert 1.0 > scores[0] > scores[1] > scores[2] > 0.0


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_ms_ssim_falls_with_noise(metrics, height, width):
    img = _image(height, width)
    scores = [float(metrics.ms_ssim(img, _noisy(img, s))[0]) for s in (0.02, 0.05, 0.15)]
    assert 1.0 > scores[0] > scores[1] > scores[2] > 0.0


def test_scale_count_falls_back_for_small_frames(metrics):
    assert metrics.ms_ssim_scales(288, 352) == 5
    assert metrics.ms_ssim_scales(176, 176) == 5
    assert metrics.ms_ssim_scales(144, 176) == 4  # QCIF
    assert metrics.ms_ssim_scales(32, 32) == 2
    assert metrics.ms_ssim_scales(10, 10) == 1


def test_ms_ssim_of_flat_images_is_the_luminance_term(metrics):
    # Flat images: contrast-structure is exactly 1 at every scale, so MS-SSIM is the
    # luminance term l = (2ab + C1) / (a^2 + b^2 + C1) raised to the last (renormalised)
    # weight: the last of 2 scales on 32x32, the last of 5 on 176x176.
    a, b, c1 = 0.5, 0.6, 0.01**2
    lum = (2 * a * b + c1) / (a * a + b * b + c1)
    w = metrics.MS_SSIM_WEIGHTS
    for side, weight in ((32, w[1] / (w[0] + w[1])), (176, w[4] / sum(w))):
        x, y = (torch.full((3, side, side), v, dtype=torch.float64) for v in (a, b))
        assert float(metrics.ms_ssim(x, y)[0]) == pytest.approx(lum**weight, rel=1e-9)
    x, y = (torch.full((3, 32, 32), v, dtype=torch.float64) for v in (a, b))
    assert float(metrics.ssim(x, y)[0]) == pytest.approx(lum, rel=1e-9)


def test_ms_ssim_batch_symmetry_and_odd_sizes(metrics):
    x = torch.stack([_image(45, 61, seed=s) for s in range(3)])
    y = torch.stack([_noisy(f, 0.05, seed=s) for s, f in enumerate(x)])
    batch = metrics.ms_ssim(x, y)
    assert batch.shape == (3,)
    assert torch.allclose(batch, metrics.ms_ssim(y, x))
    assert float(batch[1]) == pytest.approx(float(metrics.ms_ssim(x[1], y[1])[0]))
    assert torch.all((batch > 0) & (batch < 1))


def test_shape_mismatch_raises(metrics):
    with pytest.raises(ValueError, match=r"shape mismatch"):
        metrics.ms_ssim(_image(32, 32), _image(32, 33))
    with pytest.raises(ValueError, match=r"shape mismatch"):
        metrics.psnr(np.zeros((3, 8, 8)), np.zeros((3, 8, 9)))
