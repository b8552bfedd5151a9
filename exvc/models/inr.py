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
        # oneDNN runs these narrow convolutions about 3x faster on channels-last input
        # (measured on 2 CPU cores, forward plus backward); the values are the same.
        features = features.contiguous(memory_format=torch.channels_last)
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

    def render_rows(self, latents: list[torch.Tensor], frame: int, y0: int,
                    y1: int) -> torch.Tensor:
        """Rows ``y0:y1`` of one frame, (3, y1 - y0, W), computing features only for those rows
        plus a halo of one row per 3x3 convolution. Equal to ``render`` up to float rounding;
        lets the decoder render a large frame in bands whose memory does not grow with H."""
        halo = self.cfg.refine_layers
        a0, a1 = max(0, y0 - halo), min(self.height, y1 + halo)
        per_level = [_upsample_rows(_temporal_slice(g, frame, self.frames), self.height,
                                    self.width, a0, a1) for g in latents]
        out = self.synthesis(torch.cat(per_level, dim=0)[None])[0]
        return out[:, y0 - a0 : y1 - a0]

    def working_bytes_per_row(self) -> int:
        """Float32 bytes one output row costs while rendering (features and the two widest
        activations alive at once, plus the RGB sums): the decoder's band-size estimate."""
        cfg = self.cfg
        widest = max(cfg.mlp_width if cfg.mlp_layers else 0,
                     cfg.refine_width if cfg.refine_layers > 1 else 0, 3)
        return 4 * self.width * (cfg.channels * cfg.levels + 2 * widest + 9)


def _source_index(src: int, dst: int, start: int, stop: int) -> tuple[torch.Tensor, ...]:
    """PyTorch's bilinear source positions (half-pixel centres, clamped at 0) for output
    positions ``start:stop``: the two neighbours and the weight of the second."""
    pos = (torch.arange(start, stop, dtype=torch.float32) + 0.5) * (src / dst) - 0.5
    pos = pos.clamp_(min=0.0)
    i0 = pos.long().clamp_(max=src - 1)
    i1 = (i0 + 1).clamp_(max=src - 1)
    return i0, i1, pos - i0.to(torch.float32)


def _upsample_rows(grid: torch.Tensor, height: int, width: int, y0: int,
                   y1: int) -> torch.Tensor:
    """Rows ``y0:y1`` of ``interpolate(grid, (height, width), bilinear, align_corners=False)``
    for a (C, H_l, W_l) slice, without building the full-size result."""
    if grid.shape[-2:] == (height, width):
        return grid[:, y0:y1]
    r0, r1, wy = _source_index(grid.shape[1], height, y0, y1)
    rows = grid[:, r0] * (1 - wy)[None, :, None] + grid[:, r1] * wy[None, :, None]
    c0, c1, wx = _source_index(grid.shape[2], width, 0, width)
    return rows[:, :, c0] * (1 - wx) + rows[:, :, c1] * wx

