"""The per-segment INR: hierarchical spatio-temporal latent grids plus a tiny synthesis network.

This is the grid-based branch of the NeRV family (HiNeRV, C3 / Cool-chic video): the video is a
function of (t, y, x) whose features come from multi-resolution latent grids interpolated to
each pixel, decoded by a per-pixel MLP and a few 3x3 convolutions. At extreme rates almost all
bits sit in the latents, which are integers after quantisation, so their rate can be trained
directly with a Laplace proxy (entropy-aware training). See docs/inr.md for the measurements
behind the choice.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from exvc.models.config import INRConfig


def grid_shapes(cfg: INRConfig, frames: int, height: int, width: int) -> list[tuple[int, ...]]:
    """Shape (C, T_l, H_l, W_l) of every latent level for a segment of this size."""
    shapes = []
    for level in range(cfg.levels):
        s = 2 ** (cfg.spatial_log2 + level)
        t = 2 ** max(0, cfg.temporal_log2 + (cfg.temporal_slope - 4) * level)
        shapes.append((cfg.channels, max(1, math.ceil(frames / t)), max(1, math.ceil(height / s)),
                       max(1, math.ceil(width / s))))
    return shapes


def _temporal_slice(grid: torch.Tensor, frame: int, frames: int) -> torch.Tensor:
    """Linear interpolation of a (C, T_l, H_l, W_l) grid at one frame (pixel-centre aligned)."""
    t_l = grid.shape[1]
    if t_l == 1:
        return grid[:, 0]
    u = (frame + 0.5) * t_l / frames - 0.5
    u = min(max(u, 0.0), t_l - 1.0)
    i0 = int(math.floor(u))
    i1 = min(i0 + 1, t_l - 1)
    w = u - i0
    if w == 0.0:
        return grid[:, i0]
    return grid[:, i0] * (1.0 - w) + grid[:, i1] * w


class SynthesisNet(nn.Module):
    """A linear map from the features to RGB plus a residual branch: a per-pixel MLP (1x1
    convolutions) followed by 3x3 refinement convolutions. The residual branch starts at zero,
    so training begins from a plain linear decoder of the upsampled grids and adds non-linear
    detail as it pays for itself."""

    def __init__(self, cfg: INRConfig) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width_in = cfg.channels * cfg.levels
        self.skip = nn.Conv2d(width_in, 3, 1)
        for _ in range(cfg.mlp_layers):
            layers += [nn.Conv2d(width_in, cfg.mlp_width, 1), nn.GELU()]
            width_in = cfg.mlp_width
        if cfg.refine_layers == 0:
            layers.append(nn.Conv2d(width_in, 3, 1))
        else:
            for i in range(cfg.refine_layers):
                last = i == cfg.refine_layers - 1
                out = 3 if last else cfg.refine_width
                layers.append(nn.Conv2d(width_in, out, 3, padding=1, padding_mode="replicate"))
                if not last:
                    layers.append(nn.GELU())
                width_in = out
        self.net = nn.Sequential(*layers)
        last = self.net[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.skip(features) + self.net(features)


class GridINR(nn.Module):
    """Latent grids (trainable, float during training) plus the synthesis network."""

    def __init__(self, cfg: INRConfig, frames: int, height: int, width: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.frames, self.height, self.width = frames, height, width
        self.latents = nn.ParameterList(
            nn.Parameter(torch.zeros(shape)) for shape in grid_shapes(cfg, frames, height, width)
        )
        self.synthesis = SynthesisNet(cfg)

    def features(self, latents: list[torch.Tensor], frame_ids: list[int]) -> torch.Tensor:
        """Upsample every level to full resolution for the given frames: (B, C*L, H, W)."""
        per_level = []
        for grid in latents:
            slices = torch.stack([_temporal_slice(grid, f, self.frames) for f in frame_ids])
            if slices.shape[-2:] != (self.height, self.width):
                slices = F.interpolate(slices, size=(self.height, self.width), mode="bilinear",
                                       align_corners=False)
            per_level.append(slices)
        return torch.cat(per_level, dim=1)

    def render(self, latents: list[torch.Tensor], frame_ids: list[int]) -> torch.Tensor:
        """RGB frames (B, 3, H, W) for the given frame indices, from the given latents."""
        return self.synthesis(self.features(latents, frame_ids))

