"""A segment's condition: what its frames are coded as before the prior sees them.

Three kinds, each a candidate the encoder weighs at equal bytes:

- ``BaseCondition``: a standard codec's stream (BASE chunk), maybe at reduced size and rate;
- ``InrCondition``: the v1 INR alone (SEGMENT chunk);
- ``EnhancedCondition``: a base plus an INR fitted to what the base misses (BASE chunk with
  its enhancement flag, then a SEGMENT chunk; bitstream_spec.md section 13.4).

Every condition knows its chunks, the frames the decoder rebuilds from them, and how to
code the same layers again for fewer bytes (``recode``), which is how an adapter's bytes are
taken from the condition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

import torch

from exvc.bitstream.base import RESIDUAL_OFFSET
from exvc.bitstream.container import SEGMENT, Chunk, chunk_size, payload_budget
from exvc.bitstream.segment import write_segment
from exvc.encode.base_coder import FILL, BaseConfig, CodedBase, code_base, with_motion
from exvc.encode.motion_estimation import MotionChoice, estimate_motion
from exvc.encode.rate_control import BudgetError, QuantizedSegment
from exvc.encode.segment_coder import MIN_SEGMENT_BUDGET, FittedSegment
from exvc.media.base_codecs import BaseCodecError


@dataclass
class BaseJob:
    """What re-coding a base needs besides its budget. ``motion``: whether the frames
    between a base's pictures may be predicted by global motion (a MOTION chunk, when it
    pays: ``exvc.encode.motion_estimation``)."""

    video: torch.Tensor
    fps: Fraction
    preset: str
    threads: int | None = None
    motion: bool = False
    _motions: dict = field(default_factory=dict, repr=False)
    _warps: dict = field(default_factory=dict, repr=False)  # estimate_motion's cache
    _no_motion: set = field(default_factory=set, repr=False)  # configs motion lost on
    _streams: dict = field(default_factory=dict, repr=False)  # code_base's coded streams

    def code(self, config: BaseConfig, total: int, thorough: bool = False) -> CodedBase:
        """``config``'s base within ``total`` chunk bytes, with a MOTION chunk where that
        measures better at equal bytes: the base is coded twice, once for all the bytes and
        blended by time, once for what the motion leaves, and the judge picks
        (``with_motion``). Where motion loses, later codings of ``config`` skip it."""
        plain = code_base(self.video, payload_budget(total), config, self.fps, self.preset,
                          self.threads, thorough, self._streams)
        motion = None
        if config not in self._no_motion:
            motion = self.motion_for(config.anchor_frames(len(self.video)), total)
        if motion is None:
            return plain
        try:
            moved = code_base(self.video, payload_budget(total - motion.chunk_bytes), config,
                              self.fps, self.preset, self.threads, thorough, self._streams)
        except BudgetError:
            return plain
        chosen = with_motion(plain, moved, motion, self.video, self.threads)
        if chosen.motion is None:
            self._no_motion.add(config)
        return chosen

    def motion_for(self, anchors: tuple[int, ...], total: int) -> MotionChoice | None:
        """The motion estimated for a base that codes the frames ``anchors`` within
        ``total`` bytes (None: none pays, or motion is off); estimated once per layout and
        budget."""
        if not self.motion or len(anchors) >= len(self.video):
            return None
        key = (anchors, total)
        if key not in self._motions:
            self._motions[key] = estimate_motion(self.video, anchors, total, self._warps)
        return self._motions[key]


@dataclass
class Condition:
    """The chunks that code a segment's condition and the frames a decoder rebuilds."""

    label: str
    frames: torch.Tensor = field(repr=False)

    def chunks(self) -> list[Chunk]:
        raise NotImplementedError

    def size(self) -> int:
        return sum(chunk_size(len(c.payload)) for c in self.chunks())

    def recode(self, total: int) -> Condition:
        """The same layers within ``total`` bytes (raises BudgetError)."""
        raise NotImplementedError


@dataclass
class BaseCondition(Condition):
    coded: CodedBase = field(default=None, repr=False)
    job: BaseJob = field(default=None, repr=False)

    @classmethod
    def code(cls, job: BaseJob, config: BaseConfig, total: int,
             thorough: bool = False) -> BaseCondition:
        coded = job.code(config, total, thorough)
        return cls(config.describe(), coded.frames, coded, job)

    def chunks(self) -> list[Chunk]:
        return self.coded.chunks()

    def filled(self, total: int) -> BaseCondition:
        """This base coded again with a thorough rate search when it leaves more than
        ``1 - FILL`` of ``total`` unspent (the file's rate accuracy); itself otherwise."""
        if self.coded.chunk_bytes >= FILL * total:
            return self
        try:
            fuller = BaseCondition.code(self.job, self.coded.config, total, thorough=True)
        except (BudgetError, BaseCodecError):
            return self
        return fuller if fuller.coded.chunk_bytes > self.coded.chunk_bytes else self

    def recode(self, total: int) -> BaseCondition:
        return BaseCondition.code(self.job, self.coded.config, total)


@dataclass
class InrCondition(Condition):
    fitted: FittedSegment = field(default=None, repr=False)
    segment: QuantizedSegment = field(default=None, repr=False)

    @classmethod
    def quantize(cls, fitted: FittedSegment, total: int) -> InrCondition:
        budget = payload_budget(total)
        if budget < MIN_SEGMENT_BUDGET:
            raise BudgetError(MIN_SEGMENT_BUDGET, budget)
        seg = fitted.quantize(budget)
        return cls("inr", fitted.render(), fitted, seg)

    def chunks(self) -> list[Chunk]:
        return [Chunk(SEGMENT, write_segment(self.segment.payload))]

    def recode(self, total: int) -> InrCondition:
        return InrCondition.quantize(self.fitted, total)


@dataclass
class EnhancedCondition(Condition):
    base: CodedBase = field(default=None, repr=False)
    inr: InrCondition = field(default=None, repr=False)

    @classmethod
    def combine(cls, base: CodedBase, fitted: FittedSegment, total: int) -> EnhancedCondition:
        rest = total - base.chunk_bytes
        inr = InrCondition.quantize(fitted, rest)
        frames = (base.frames + inr.frames - RESIDUAL_OFFSET).clamp(0, 1)
        return cls(f"{base.config.describe()} + inr", frames, base, inr)

    def chunks(self) -> list[Chunk]:
        return self.base.chunks(enhancement=True) + self.inr.chunks()

    def recode(self, total: int) -> EnhancedCondition:
        return EnhancedCondition.combine(self.base, self.inr.fitted, total)


def residual_target(video: torch.Tensor, base: CodedBase) -> torch.Tensor:
    """What an enhancement INR fits: the source less the base, offset into [0, 1]."""
    return (video - base.frames + RESIDUAL_OFFSET).clamp(0, 1)
