"""Which output frames of a segment its base codes (the anchors), and where the others lie.

A base codes some frames of its segment, the anchors; the decoder predicts the frames
between them (``exvc.media.global_motion``, ``exvc.media.base_video``). Up to format 1.5 the
anchors were every ``step``-th frame. Format 1.6 also lets a BASE list them
(bitstream_spec.md section 13.1), so that the encoder can code a new anchor where the
predicted frames fall below its perceptual threshold (Li et al. 2024) and leave long gaps
where prediction holds. Everything here is integer bookkeeping shared by the writer, the
reader and the decoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

MAX_GAP = 32  # frames from one listed anchor to the next, and after the last one
# The uniform layouts the encoder searches and -base_framestep pins: every Nth frame; above
# a BASE's frame_step field (8) they are written as a list.
UNIFORM_STEPS = (1, 2, 4, 8, 16, 32)


@dataclass(frozen=True)
class Between:
    """A frame that is not an anchor: ``previous`` is the frame of the anchor before it,
    ``offset`` how many frames after it, ``gap`` the frames from it to the next anchor (0
    after the last anchor, which has no next)."""

    frame: int
    previous: int
    offset: int
    gap: int

    @property
    def has_next(self) -> bool:
        return self.gap > 0


def uniform(frames: int, step: int) -> tuple[int, ...]:
    """The anchors of a base coded every ``step`` frames: 0, step, 2 step, ..."""
    return tuple(range(0, frames, step))


def check(anchors: Sequence[int], frames: int) -> str | None:
    """Why ``anchors`` cannot be a listed layout of ``frames`` frames (None if they can):
    the first is frame 0, they increase, no gap (nor the frames after the last) exceeds
    MAX_GAP."""
    if not anchors or anchors[0] != 0:
        return "the first anchor must be frame 0"
    gaps = [b - a for a, b in zip(anchors, anchors[1:], strict=False)]
    if any(g < 1 for g in gaps):
        return "anchors must increase"
    if any(g > MAX_GAP for g in gaps) or frames - anchors[-1] > MAX_GAP:
        return f"anchors more than {MAX_GAP} frames apart"
    if anchors[-1] >= frames:
        return f"an anchor at frame {anchors[-1]} of a {frames}-frame segment"
    return None


def layout(frames: int, anchors: Sequence[int]) -> list[Between]:
    """Every frame that is not an anchor, in order."""
    out = []
    k = 0
    for i in range(frames):
        while k + 1 < len(anchors) and anchors[k + 1] <= i:
            k += 1
        if i == anchors[k]:
            continue
        gap = anchors[k + 1] - anchors[k] if k + 1 < len(anchors) else 0
        out.append(Between(i, anchors[k], i - anchors[k], gap))
    return out


def uniform_step(anchors: Sequence[int], frames: int) -> int | None:
    """The step ``s`` when ``anchors`` are exactly every ``s``-th frame, else None."""
    step = anchors[1] - anchors[0] if len(anchors) > 1 else max(frames, 1)
    return step if tuple(anchors) == uniform(frames, step) else None


def describe(anchors: Sequence[int], frames: int) -> str:
    """``1 frame in 4`` for a uniform layout, ``9 anchors in 64 frames`` for a listed one."""
    step = uniform_step(anchors, frames)
    if step is not None:
        return f"1 frame in {step}" if step > 1 else "every frame"
    return f"{len(anchors)} anchors in {frames} frames"
