"""One segment's coding as a self-contained task: its frames and byte budget in, its chunks out.

A ``SegmentCoder`` holds what every segment of a file shares (the preset's plan, the thread
count, the base-layer candidates and, for dinr, the prior, its noise field and the sampler
settings) and is picklable, so the same object codes segments in this process or in a
worker of a distributed engine (``exvc.encode.runners``). A segment's result depends only on
its ``SegmentJob`` and on that shared state, never on which segments ran before it or where:
that is what makes a file the same for any number of workers.

The one thing segments share that is chosen while coding is the sampler (chosen on the first
segment's frames, ``exvc.encode.sampler_choice``). Later segments code their condition
without it and ask for it only when they refine (``DinrContext.coder``), so a worker may
start on them before the first segment is done.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from exvc.bitstream.container import SEGMENT, Chunk, chunk_size, payload_budget
from exvc.bitstream.segment import write_segment
from exvc.encode.presets import Plan
from exvc.encode.settings import EncodeSettings
from exvc.media.types import VideoInfo
from exvc.models.device import on_device, resolve_device
from exvc.models.threads import torch_threads

# report(step, steps, stage): progress within one segment
Report = Callable[[int, int, str], None]


@dataclass
class SegmentJob:
    """A segment to code: its place in the file, its frames (float32 (T, 3, H, W) in [0, 1])
    and the bytes it may spend (chunk framing included), fixed before any segment is coded
    (``exvc.encode.budget_plan``)."""

    index: int
    frames: np.ndarray
    total: int
    # Two scenes that may be coded as one segment (``exvc.encode.scene_merge``): the
    # (frames, bytes) of each as a segment of its own; empty: one segment.
    parts: tuple[tuple[int, int], ...] = ()


@dataclass
class SegmentResult:
    """A coded segment: its chunks, what the file's last segment is topped up from (the
    refined segment, ``exvc.encode.dinr_segment.DinrSegment``, or an inr file's fitted INR,
    ``exvc.encode.segment_coder.FittedSegment``) and, for dinr, the file's sampler settings
    it was refined with."""

    index: int
    frames: int
    chunks: list[Chunk]
    refined: object = None
    sampler: object = None
    last_chunks: int = 0  # the chunks of the last segment, which ``refined`` is: 0 for all

    @property
    def size(self) -> int:
        return sum(chunk_size(len(c.payload)) for c in self.chunks)

    @property
    def last_segment(self) -> list[Chunk]:
        """The last segment's chunks (all of them, unless two scenes were kept apart)."""
        return self.chunks[-self.last_chunks:] if self.last_chunks else self.chunks

    @property
    def last_size(self) -> int:
        return sum(chunk_size(len(c.payload)) for c in self.last_segment)


class SegmentCoder:
    """Codes any segment of one file; ``dinr`` and ``layers`` are None for an inr file."""

    def __init__(self, plan: Plan, seed: int, threads: int | None,
                 dinr: DinrContext | None, layers: BaseLayers | None,
                 hwaccel: str = "cpu") -> None:
        self.plan, self.seed, self.threads = plan, seed, threads
        self.dinr, self.layers, self.hwaccel = dinr, layers, hwaccel

    def code(self, job: SegmentJob, report: Report | None = None) -> SegmentResult:
        """Code ``job`` within its budget, with torch at this file's thread count, on the
        device ``hwaccel`` resolves to where this runs (raises ``BudgetError`` when even the
        smallest INR does not fit)."""
        import torch

        device = resolve_device(self.hwaccel)
        if self.dinr is not None and device != "cpu":
            self.dinr.prior.to(device)
        with torch_threads(self.threads), on_device(device):
            video = torch.from_numpy(job.frames)
            if job.parts:
                chunks, refined, last = self._code_scenes(video, job, report)
            else:
                chunks, refined = self._code(video, job.total, self.seed + job.index, report)
                last = 0
        return SegmentResult(job.index, len(job.frames), chunks, refined,
                             self.dinr.sampler if self.dinr is not None else None, last)

    def _code_scenes(self, video, job: SegmentJob, report: Report | None):
        """Each scene of ``job`` as a segment of its own, then, where both chose a full-size
        base, both as one segment, kept when the judge prefers it
        (``exvc.encode.scene_merge``). Returns the chunks, the last segment's refined state
        and how many of the chunks are that segment's."""
        import torch

        from exvc.encode.rate_control import BudgetError
        from exvc.encode.scene_merge import all_full_size, merged_candidates, prefer_merged
        from exvc.media.base_codecs import BaseCodecError

        chunks, refined, start = [], [], 0
        for k, (frames, total) in enumerate(job.parts):
            part, seg = self._code(video[start:start + frames], total,
                                   self.seed + job.index + k, report)
            chunks += part
            refined.append(seg)
            start += frames
        split = (chunks, refined[-1], len(part))
        if not all_full_size(refined):
            return split
        try:
            cands = merged_candidates(self.layers.candidates)
            merged_chunks, merged = self._code(video, job.total, self.seed + job.index,
                                               report, cands)
        except (BudgetError, BaseCodecError):
            return split
        split_frames = torch.cat([seg.condition.frames for seg in refined])
        if prefer_merged(video, split_frames, merged.condition.frames):
            return merged_chunks, merged, 0
        return split

    def _code(self, video, total: int, seed: int, report: Report | None, cands=None):
        """One segment's chunks and refined state; ``cands``: base candidates other than
        the file's."""
        from exvc.encode.condition import InrCondition
        from exvc.encode.rate_control import BudgetError
        from exvc.encode.segment_coder import fit_inr, inr_floor

        plan = self.plan
        t, _, h, w = video.shape
        floor = inr_floor(t, h, w, payload_budget(total), plan)
        if chunk_size(floor) > total:  # refused before any fitting: an INR always fits above
            raise BudgetError(floor, payload_budget(total))
        if self.dinr is None:  # the INR as it is; kept for the file's top-up
            fitted = fit_inr(video, payload_budget(total), plan, seed, report)
            payload = fitted.quantize(payload_budget(total)).payload
            return [Chunk(SEGMENT, write_segment(payload))], fitted
        from exvc.encode.condition_choice import choose_condition
        from exvc.encode.dinr_segment import refine_segment

        layers = self.layers
        if layers is None or not layers.candidates.configs:
            fitted = fit_inr(video, payload_budget(total), plan, seed, report)
            condition = InrCondition.quantize(fitted, total)
            refine_plan = plan
        else:
            condition = choose_condition(video, total, cands or layers.candidates,
                                         layers.job(video), plan, seed, report).condition
            refine_plan = plan if plan.base.adapters else replace(plan, adapter_iterations=0)
            if isinstance(condition, InrCondition):
                refine_plan = plan
        coded = refine_segment(video, condition, total, refine_plan,
                               functools.partial(self.dinr.coder, seed), report)
        return coded.chunks(), coded


class BaseLayers:
    """The base-layer candidates of a dinr file and what coding a base needs."""

    def __init__(self, candidates, fps, preset: str, threads: int | None,
                 motion: bool = False) -> None:
        self.candidates, self.fps, self.preset, self.threads = candidates, fps, preset, threads
        self.motion = motion

    @classmethod
    def create(cls, settings: EncodeSettings, info: VideoInfo, plan: Plan,
               threads: int | None) -> BaseLayers | None:
        from exvc.encode.layers import candidates_for

        if settings.base == "none":
            return None
        cands = candidates_for(settings, plan.base, info.width, info.height)
        motion = plan.base.motion if settings.base_motion is None else settings.base_motion
        return cls(cands, info.fps, plan.name, threads, motion)

    def job(self, video):
        from exvc.encode.condition import BaseJob

        return BaseJob(video, self.fps, self.preset, self.threads, self.motion)


class DinrContext:
    """What every dinr segment shares: the prior, the sampler and the file's noise field.

    The sampler settings are chosen on the first segment's condition frames
    (``exvc.encode.sampler_choice``) and kept for the whole file. A copy of this context
    that codes a later segment elsewhere is given ``sampler_source``, which waits for that
    choice; it is asked only when the segment's condition is coded."""

    def __init__(self, prior, noise, padded) -> None:
        self.prior, self.noise, self.padded = prior, noise, padded
        self.sampler = None
        self.sampler_source: Callable[[], object] | None = None

    @classmethod
    def create(cls, settings: EncodeSettings, info: VideoInfo, prior=None) -> DinrContext:
        from exvc.prior.loader import load_prior
        from exvc.prior.sampler import noise_for, padded_size

        if prior is None:
            prior = load_prior(settings.prior)
        noise = noise_for(prior, settings.seed, info.height, info.width)
        return cls(prior, noise, padded_size(prior, info.height, info.width))

    def coder(self, seed: int, video, inr):
        from exvc.encode.adapter_coder import AdapterCoder
        from exvc.encode.sampler_choice import choose_sampler

        if self.sampler is None and self.sampler_source is not None:
            self.sampler = self.sampler_source()
        if self.sampler is None:
            self.sampler, _ = choose_sampler(self.prior, self.noise, video, inr)
        return AdapterCoder(self.prior, self.sampler, self.noise, self.padded, seed)
