"""The INR's configuration: a handful of small integers, written into every segment."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class INRConfig:
    """Shape of a hierarchical-grid INR (see docs/inr.md).

    Level ``l`` (0 = finest) is a latent grid of ``channels`` feature maps with spatial stride
    ``2 ** (spatial_log2 + l)`` and temporal stride ``2 ** max(0, temporal_log2 + k * l)``
    frames with ``k = temporal_slope - 4`` (capped at the segment length): a negative slope holds
    fine detail for many frames (it is mostly static and costly) while coarse content changes
    often (it carries the motion). The grids are upsampled to every pixel, concatenated
    and fed to a per-pixel MLP of ``mlp_layers`` hidden layers of ``mlp_width`` units, then to
    ``refine_layers`` 3x3 convolutions with ``refine_width`` channels that output RGB.
    """

    levels: int = 4
    channels: int = 2
    spatial_log2: int = 2
    temporal_log2: int = 1
    mlp_width: int = 16
    mlp_layers: int = 2
    refine_layers: int = 1
    refine_width: int = 8
    temporal_slope: int = 4

    def __post_init__(self) -> None:
        limits = {
            "levels": (1, 8), "channels": (1, 16), "spatial_log2": (0, 7), "temporal_log2": (0, 12),
            "mlp_width": (1, 64), "mlp_layers": (0, 4), "refine_layers": (0, 4),
            "refine_width": (1, 32), "temporal_slope": (0, 8),
        }
        for name, (lo, hi) in limits.items():
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise ValueError(f"INR {name}={value} outside {lo}..{hi}")

    def fields(self) -> list[int]:
        """The config as the ordered integers the bitstream stores."""
        return list(asdict(self).values())

    @classmethod
    def from_fields(cls, values: list[int]) -> INRConfig:
        return cls(*values)

    @classmethod
    def field_count(cls) -> int:
        return len(cls.__dataclass_fields__)
