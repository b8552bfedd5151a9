"""Presets: how much training a segment gets, and which INR shape suits its bit budget.

The numbers come from the measurements in docs/inr.md; ``medium`` keeps a 64-frame CIF-ish
segment within about three minutes on a 2-core CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

from exvc.encode.fit import FitSchedule
from exvc.encode.settings import PRESETS
from exvc.models.config import INRConfig

_ITERATIONS = {
    "ultrafast": 40, "superfast": 80, "veryfast": 150, "faster": 250, "fast": 350,
    "medium": 500, "slow": 800, "slower": 1200, "veryslow": 2000,
}


@dataclass(frozen=True)
class Plan:
    name: str
    schedule: FitSchedule

    def config_for(self, bpp: float, frames: int, height: int, width: int) -> INRConfig:
        """INR shape for a segment whose payload may spend ``bpp`` bits per pixel."""
        del frames, height, width
        if bpp < 0.008:
            return INRConfig(levels=4, channels=3, spatial_log2=2, temporal_log2=3,
                             mlp_width=8, mlp_layers=1, refine_layers=1, refine_width=8)
        return INRConfig(levels=4, channels=3, spatial_log2=2, temporal_log2=3,
                         mlp_width=16, mlp_layers=2, refine_layers=1, refine_width=8)


def preset_plan(name: str) -> Plan:
    if name not in PRESETS:
        raise ValueError(f"unknown preset '{name}' (choose from {', '.join(PRESETS)})")
    return Plan(name, FitSchedule(iterations=_ITERATIONS[name]))
