"""Frame FID from a local Inception network, only when the user supplies one.

Inception weights cannot be fetched on machines without internet, and none ship with exvc.
A user who has the TorchScript Inception-v3 used by StyleGAN and clean-fid
(``inception-2015-12-05.pt``) passes it with ``--fid-weights``. The network is called as
``model(images, return_features=True)`` on uint8 RGB batches (N, 3, H, W) and must return
(N, D) features (that network resizes to 299x299 itself). FID is then the Fréchet distance
between the Gaussians fitted to the source frames' and the decoded frames' features.

FID over the 64 frames of one clip is a biased, noisy estimate (the covariance has rank < 64
in 2048 dimensions); compare codecs on the same clip only. FVD is not offered: it needs an I3D
network and many videos, and one clip makes a single sample.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


class FrameFID:
    """A TorchScript feature network and the Fréchet distance between two frame sets."""

    def __init__(self, weights: str | Path, batch: int = 16) -> None:
        self.model = torch.jit.load(str(weights), map_location="cpu").eval()
        self.batch = batch

    @torch.no_grad()
    def features(self, frames: np.ndarray) -> np.ndarray:
        """Features (N, D) of uint8 RGB frames (N, 3, H, W)."""
        out = []
        for i in range(0, len(frames), self.batch):
            x = torch.from_numpy(np.ascontiguousarray(frames[i:i + self.batch]))
            out.append(self.model(x, return_features=True).double().reshape(len(x), -1))
        return torch.cat(out).numpy()

    def distance(self, ref: np.ndarray, dist: np.ndarray) -> float:
        """FID between uint8 frame sets (N, 3, H, W)."""
        return frechet_distance(self.features(ref), self.features(dist))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + Tr(Sa + Sb - 2 (Sa Sb)^(1/2)) of Gaussians fitted to rows of a, b.

    Tr((Sa Sb)^(1/2)) is computed as the sum of the square roots of the eigenvalues of the
    symmetric matrix Sa^(1/2) Sb Sa^(1/2), which is stable for the singular covariances that
    few samples give.
    """
    mu = a.mean(axis=0) - b.mean(axis=0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    sa, sb = np.atleast_2d(sa), np.atleast_2d(sb)
    w, v = np.linalg.eigh(sa)
    root_a = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root_a @ sb @ root_a
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(mu @ mu + np.trace(sa) + np.trace(sb) - 2.0 * cross)
