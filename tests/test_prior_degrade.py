"""The training pairs' degradation: how far it blurs is what the prior learns to undo."""

from __future__ import annotations

import torch

from exvc.prior.degrade import degrade


def _noise_images() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(4, 3, 32, 32, generator=g)


def test_degrade_blurs_by_at_least_the_mildest_factor():
    x = _noise_images()
    out = degrade(x, torch.Generator().manual_seed(0), min_factor=2.0, max_noise=0.0)
    # white noise loses most of its energy to a 2x (or stronger) down-and-up sampling
    assert float(((out - x) ** 2).mean()) > 0.3 * float(x.var())


def test_factor_one_and_no_noise_leave_the_picture_alone():
    x = _noise_images()
    out = degrade(x, torch.Generator().manual_seed(0), min_factor=1.0, max_factor=1.0,
                  max_noise=0.0)
    assert torch.allclose(out, x, atol=1e-6)


def test_degrade_is_seeded():
    x = _noise_images()
    a = degrade(x, torch.Generator().manual_seed(3), min_factor=1.0)
    b = degrade(x, torch.Generator().manual_seed(3), min_factor=1.0)
    assert torch.equal(a, b)
