"""Between a trained GridINR and the integers a SEGMENT chunk stores.

Latents are coded as ``q = round(y / step)`` with one step per segment (``latent_step / 256``);
synthesis tensors each have a power-of-two-ish step ``2 ** (-code / 4)``. Both steps are
integers in the bitstream, so parsing never depends on a float.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from exvc.bitstream.segment import LATENT_STEP_ONE, SegmentLayout, SegmentPayload
from exvc.models.config import INRConfig
from exvc.models.inr import GridINR, grid_shapes


def latent_step(code: int) -> float:
    return code / LATENT_STEP_ONE


def weight_step(code: int) -> float:
    return 2.0 ** (-code / 4)


def synthesis_tensors(model: GridINR) -> list[torch.nn.Parameter]:
    """The synthesis parameters in bitstream order (module registration order)."""
    return list(model.synthesis.parameters())


def segment_layout(config: list[int], frames: int, height: int, width: int) -> SegmentLayout:
    """Tensor sizes for a configuration (raises ValueError for an invalid one)."""
    cfg = INRConfig.from_fields(config)
    latents = [math.prod(s) for s in grid_shapes(cfg, frames, height, width)]
    with torch.device("meta"):
        weights = [p.numel() for p in synthesis_tensors(GridINR(cfg, 1, 1, 1))]
    return SegmentLayout(latents, weights)


def quantize_latents(model: GridINR, code: int) -> list[np.ndarray]:
    step = latent_step(code)
    return [torch.round(g.detach() / step).to(torch.int32).numpy().ravel() for g in model.latents]


def quantize_tensor(t: torch.Tensor, code: int) -> np.ndarray:
    return torch.round(t.detach() / weight_step(code)).to(torch.int32).numpy().ravel()


@torch.no_grad()
def load_quantized(model: GridINR, latent_code: int, latents: list[np.ndarray],
                   weight_codes: list[int], weights: list[np.ndarray]) -> GridINR:
    """Overwrite the model's tensors with dequantised integers (what the decoder sees)."""
    step = latent_step(latent_code)
    for grid, q in zip(model.latents, latents, strict=True):
        grid.copy_(torch.from_numpy(q.astype(np.float32)).reshape(grid.shape) * step)
    for p, code, q in zip(synthesis_tensors(model), weight_codes, weights, strict=True):
        p.copy_(torch.from_numpy(q.astype(np.float32)).reshape(p.shape) * weight_step(code))
    return model


def model_from_payload(p: SegmentPayload, height: int, width: int) -> GridINR:
    """Rebuild the decoder-side INR of one segment."""
    cfg = INRConfig.from_fields(p.config)
    model = GridINR(cfg, p.frames, height, width)
    return load_quantized(model, p.latent_step, p.latents, p.weight_steps, p.weights)
