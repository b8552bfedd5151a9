"""Choose a segment's condition by measurement: every candidate spends the same bytes, and the
encoder's distortion-perception judge decides.

The candidates are base configurations (codec, size divisor, frame step, rate mode) that the
preset or the user's options allow, and, at the slow presets, the INR alone and the best base
with an enhancement INR. The INR alone is also tried whenever no base fits the budget. Each
is coded for the segment's whole budget and its frames are judged on the probe frames
(``exvc.encode.perception``). The lowest score wins among the candidates within
``PSNR_SLACK`` dB of the best PSNR of any candidate, so a perceptual gain never costs more
than that in fidelity.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

from exvc.bitstream.container import payload_budget
from exvc.encode.base_coder import BaseConfig
from exvc.encode.condition import (
    BaseCondition,
    BaseJob,
    Condition,
    EnhancedCondition,
    InrCondition,
    residual_target,
)
from exvc.encode.frame_sampling import probe_ids
from exvc.encode.perception import Judgement, as_delivered, judge
from exvc.encode.presets import Plan
from exvc.encode.rate_control import BudgetError
from exvc.encode.refresh import refresh_anchors
from exvc.encode.segment_coder import fit_inr
from exvc.media.base_codecs import BaseCodecError, rate_modes

log = logging.getLogger("exvc.encode")

PSNR_SLACK = 1.0  # dB below the best candidate's PSNR that a perceptual win may cost
ENHANCEMENT_SHARE = 0.2  # of the budget, for the INR over a base


@dataclass(frozen=True)
class Candidates:
    """What a segment may be coded as."""

    configs: tuple[BaseConfig, ...]
    inr_alone: bool = False
    enhancement: bool = False
    search_preset: str | None = None  # bases are compared at this preset's encoder settings
    # The best base's anchors placed again by this perceptual threshold, as one more
    # candidate (``exvc.encode.refresh``); 0: not tried.
    refresh: float = 0.0
    # The best one-pass base coded again with two-pass rate control, as one more candidate
    # (where the codec has it and the configurations do not include it already).
    two_pass: bool = False
    # Two segments split at a scene cut, both with a full-size base, are coded as one too,
    # and the judge keeps the better (``exvc.encode.scene_merge``).
    merge_scenes: bool = False


@dataclass
class Choice:
    condition: Condition
    judged: list[tuple[str, Judgement]]  # every candidate that fitted, in trial order


def pick(judged: list[Judgement]) -> int:
    """Index of the lowest score among the judgements within PSNR_SLACK dB of the best PSNR."""
    top = max(j.psnr for j in judged)
    eligible = [j.score if j.psnr >= top - PSNR_SLACK else float("inf") for j in judged]
    return min(range(len(judged)), key=eligible.__getitem__)


def choose_condition(video: torch.Tensor, total: int, cands: Candidates, job: BaseJob,
                     plan: Plan, seed: int = 0,
                     report: Callable[[int, int, str], None] | None = None) -> Choice:
    """The best condition of ``video`` (T, 3, H, W) within ``total`` chunk bytes. Raises
    BudgetError (with the smallest size any candidate needed) when none fits."""
    ids = probe_ids(len(video))
    search = replace(job, preset=cands.search_preset) if cands.search_preset else job
    tried: list[Condition] = []
    judged: list[Judgement] = []
    needed: list[int] = []

    def consider(make: Callable[[], Condition]) -> Condition | None:
        try:
            cond = make()
        except BudgetError as exc:
            needed.append(exc.needed)
            return None
        except BaseCodecError as exc:  # an encoder that refuses this configuration
            log.info("base candidate skipped: %s", exc)
            return None
        tried.append(cond)
        judged.append(judge(as_delivered(cond.frames[ids]), video[ids]))
        log.debug("candidate %s: %d bytes, score %.4f, %.2f dB", cond.label, cond.size(),
                  judged[-1].score, judged[-1].psnr)
        return cond

    def wins(config: BaseConfig) -> bool | None:
        """Code ``config``; None if it does not fit, else whether it is now the pick."""
        if report is not None:
            report(len(tried), len(cands.configs), "base")
        if consider(lambda: BaseCondition.code(search, config, total)) is None:
            return None
        return pick(judged) == len(judged) - 1

    for group in _groups(cands.configs):
        _climb(group, wins)
    bases = [c for c in tried if isinstance(c, BaseCondition)]
    if cands.two_pass and bases:
        config = _best(tried, judged).coded.config
        if config.mode == "rate" and "rate2" in rate_modes(config.codec):
            consider(lambda: BaseCondition.code(search, replace(config, mode="rate2"), total))
    if cands.refresh > 0 and bases:
        refreshed = _refreshed(video, _best(tried, judged), search, total,
                               cands.refresh)
        if refreshed is not None:
            consider(lambda: refreshed)
    # The INR alone competes at the slow presets, and whenever no base fits the budget:
    # its floor (a few dozen bytes) is far below a codec's.
    if cands.inr_alone or not bases:
        consider(lambda: InrCondition.quantize(
            fit_inr(video, payload_budget(total), plan, seed, report), total))
    if cands.enhancement and bases:
        config = _best(tried, judged).coded.config
        consider(lambda: _enhanced(video, total, config, job, plan, seed, report))
    if not tried:
        raise BudgetError(min(needed, default=payload_budget(total) + 1), payload_budget(total))
    best = pick(judged)
    chosen = tried[best]
    if isinstance(chosen, BaseCondition):
        chosen = _at_the_file_preset(chosen, job, total)
        # the search stops at sizes the judge needs; the file's rate wants the chosen one full
        chosen = chosen.filled(total)
    return Choice(chosen, [(c.label, j) for c, j in zip(tried, judged, strict=True)])


def _best(tried: list[Condition], judged: list[Judgement]) -> BaseCondition:
    """The pick among the base candidates alone (there is at least one)."""
    bases = [(c, j) for c, j in zip(tried, judged, strict=True) if isinstance(c, BaseCondition)]
    return bases[pick([j for _, j in bases])][0]


def _at_the_file_preset(chosen: BaseCondition, job: BaseJob, total: int) -> BaseCondition:
    """The chosen base coded again with the file's encoder preset when the search used a
    faster one (kept as searched if that fails: it fits the budget)."""
    if chosen.job is job:
        return chosen
    try:
        return BaseCondition.code(job, chosen.coded.config, total)
    except (BudgetError, BaseCodecError):
        return chosen


def _refreshed(video: torch.Tensor, base: BaseCondition, job: BaseJob, total: int,
               threshold: float) -> BaseCondition | None:
    """``base`` coded again with its anchors placed by ``threshold``
    (``exvc.encode.refresh``), if that changes the layout and the judge prefers it on every
    frame (a new anchor helps the frames around it, which the probe frames may miss); else
    None."""
    config = base.coded.config
    anchors = config.anchor_frames(len(video))
    placed = refresh_anchors(video, base.coded.frames, anchors, threshold)
    if placed == anchors:
        return None
    try:
        refreshed = BaseCondition.code(job, replace(config, anchors=placed), total)
    except (BudgetError, BaseCodecError):
        return None
    whole = [judge(as_delivered(c.frames), video) for c in (base, refreshed)]
    log.debug("refreshed anchors: %d -> %d of %d frames, score %.4f -> %.4f",
              len(anchors), len(placed), len(video), whole[0].score, whole[1].score)
    return refreshed if pick(whole) == 1 else None


def _groups(configs: tuple[BaseConfig, ...]) -> list[list[BaseConfig]]:
    """The configurations by (codec, mode), in the order first seen."""
    groups: dict[tuple[str, str], list[BaseConfig]] = {}
    for c in configs:
        groups.setdefault((c.codec, c.mode), []).append(c)
    return list(groups.values())


def _climb(group: list[BaseConfig], wins: Callable[[BaseConfig], bool | None]) -> None:
    """Search one codec's grid of size divisors x frame steps greedily, not exhaustively:
    the frame steps in order at the smallest divisor (the next divisor if none fits or wins)
    until a step that fits stops winning, then larger divisors at the winning step until
    one stops winning. On the development clips the judge's score fell, then rose, along
    each axis (docs/base.md)."""
    grid = {(c.scale, c.step): c for c in group}
    scales = sorted({s for s, _ in grid})
    steps = sorted({t for _, t in grid})
    best_step, rest = None, scales
    while best_step is None and rest:
        scale, rest = rest[0], rest[1:]
        for step in steps:
            result = wins(grid[scale, step])
            if result:
                best_step = step
            elif result is False and best_step is not None:
                break
    for scale in rest if best_step is not None else []:
        if wins(grid[scale, best_step]) is False:
            break


def _enhanced(video: torch.Tensor, total: int, config: BaseConfig, job: BaseJob, plan: Plan,
              seed: int, report) -> EnhancedCondition:
    """``config``'s base for most of the budget and an INR of the residual for the rest."""
    base = job.code(config, round((1 - ENHANCEMENT_SHARE) * total))
    rest = payload_budget(total - base.chunk_bytes)
    fitted = fit_inr(residual_target(video, base), rest, plan, seed, report)
    return EnhancedCondition.combine(base, fitted, total)
