"""Presets: how much training a segment gets, and which INR shape suits its bit budget.

The numbers come from the measurements in docs/inr.md; ``medium`` keeps 64 frames of 320x136
within about three minutes on a 2-core CPU. Training steps are counted per NOMINAL_FRAMES
frames, so a segment shortened by a scene cut gets fewer and the encode time follows the
frame count, not the number of segments.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from exvc.bitstream.anchors import UNIFORM_STEPS
from exvc.encode.fit import FitSchedule
from exvc.encode.settings import PRESETS
from exvc.models.config import INRConfig

# INR training steps per NOMINAL_FRAMES frames.
_ITERATIONS = {
    "ultrafast": 120, "superfast": 240, "veryfast": 500, "faster": 1000, "fast": 1800,
    "medium": 3000, "slow": 5000, "slower": 8000, "veryslow": 12000,
}
NOMINAL_FRAMES = 64
# A short segment still gets this share of the steps: its INR must converge.
_MIN_SHARE = 0.5


# Adapter training steps (dinr only); ultrafast skips adapters.
_ADAPTER_ITERATIONS = {
    "ultrafast": 0, "superfast": 10, "veryfast": 25, "faster": 50, "fast": 80,
    "medium": 120, "slow": 200, "slower": 300, "veryslow": 400,
}


@dataclass(frozen=True)
class BaseSearch:
    """Which base-layer candidates a preset weighs (docs/base.md): the codecs (``best``: the
    strongest available; ``all``), size divisors, frame steps and rate modes, whether the INR
    alone and a base with an enhancement INR compete too, and whether a base segment may
    train an adapter."""

    codecs: str = "best"
    scales: tuple[int, ...] = (1, 2)
    steps: tuple[int, ...] = (1,)
    modes: tuple[str, ...] = ("rate",)
    inr: bool = False
    adapters: bool = False
    # The preset whose encoder settings the candidates are searched at (None: this one); the
    # chosen configuration alone is then coded again at this preset (docs/base.md, "Speed").
    search_preset: str | None = None
    # Whether a base with a frame step also competes with a MOTION chunk (coded twice): on
    # the development clips it never paid at fast (docs/motion.md), so only the slow presets
    # spend the time.
    motion: bool = False
    # Whether the best one-pass base is also coded with two-pass rate control, as one more
    # candidate (VVC only). Neither mode wins everywhere: two-pass lowered ST-LPIPS from
    # 0.072 to 0.049 on carphone at 4 KB, one-pass won on bikes at 12 KB (docs/base.md,
    # "One pass or two").
    two_pass: bool = False
    # Whether two scenes that both chose a full-size base are also coded as one segment
    # (``exvc.encode.scene_merge``): one more base search over the pair, only where it can
    # win, so every preset does it.
    merge_scenes: bool = True


# From fast on, steps above 8 are searched too, but only where 8 won (the climb in
# condition_choice): at the lowest rates on carphone 16 beat 8 (docs/motion.md).
_BASE_SEARCH = {
    "ultrafast": BaseSearch(scales=(1,), steps=(1, 2)),
    "superfast": BaseSearch(scales=(1,), steps=(1, 2, 4)),
    "veryfast": BaseSearch(steps=(1, 2, 4)),
    "faster": BaseSearch(steps=(1, 2, 4)),
    "fast": BaseSearch(scales=(1, 2, 4), steps=UNIFORM_STEPS, search_preset="faster"),
    # not at medium: searched at faster, one of four measured files chose a worse
    # configuration (0.7 dB less; docs/base.md, "Speed")
    "medium": BaseSearch(scales=(1, 2, 4), steps=UNIFORM_STEPS, two_pass=True),
    "slow": BaseSearch("all", (1, 2, 4), UNIFORM_STEPS, ("rate", "rate2"), inr=True,
                       adapters=True, motion=True),
    "slower": BaseSearch("all", (1, 2, 4), UNIFORM_STEPS, ("rate", "rate2"), inr=True,
                         adapters=True, motion=True),
    "veryslow": BaseSearch("all", (1, 2, 4), UNIFORM_STEPS, ("rate", "rate2"), inr=True,
                           adapters=True, motion=True),
}


@dataclass(frozen=True)
class Plan:
    name: str
    schedule: FitSchedule
    adapter_iterations: int = 0
    base: BaseSearch = BaseSearch()

    def for_frames(self, frames: int) -> Plan:
        """This plan with its step counts scaled to a segment of ``frames`` frames."""
        share = max(_MIN_SHARE, frames / NOMINAL_FRAMES)
        steps = max(1, round(self.schedule.iterations * share))
        schedule = replace(self.schedule, iterations=steps)
        return replace(self, schedule=schedule,
                       adapter_iterations=round(self.adapter_iterations * share))

    def config_for(self, budget: int, frames: int, height: int, width: int) -> INRConfig:
        """INR shape for a segment whose payload may spend ``budget`` bytes.

        The grids (docs/inr.md): finest at stride 2 held for 64 frames, each coarser level
        halving the temporal stride; the rate term decides how much of them is used. The
        synthesis network is paid for once per segment, so small budgets get a smaller one
        (about 130, 460 and 880 parameters).
        """
        del frames, height, width
        grids = dict(levels=5, channels=2, spatial_log2=1, temporal_log2=6, temporal_slope=3)
        if budget < 700:
            return INRConfig(**grids, mlp_width=8, mlp_layers=1, refine_layers=0)
        if budget < 2500:
            return INRConfig(**grids, mlp_width=12, mlp_layers=1, refine_layers=1)
        return INRConfig(**grids, mlp_width=16, mlp_layers=2, refine_layers=1, refine_width=8)


def preset_plan(name: str) -> Plan:
    if name not in PRESETS:
        raise ValueError(f"unknown preset '{name}' (choose from {', '.join(PRESETS)})")
    return Plan(name, FitSchedule(iterations=_ITERATIONS[name]), _ADAPTER_ITERATIONS[name],
                _BASE_SEARCH[name])
