"""Each segment's byte budget, fixed before any segment is coded.

Segment k, holding frames ``[start, end)``, may spend what the target allows for ``end``
frames less what it allows for ``start`` frames; the first also pays the file's fixed
overhead (HEAD, META, PRIOR, framing). The budgets therefore add up to the target exactly,
and no budget depends on how another segment came out. Segments can then be coded in any
order, on any number of workers, and the file is the same (``exvc.encode.runners``).

exvc 2.0 carried each segment's unspent bytes into the next segment's budget, which tied
segment k to the result of segment k - 1. What the segments leave unspent now goes to the
last segment, coded again for its budget plus that slack once all are done (the encoder's
top-up, ``exvc.encode.encoder``), so the file still lands just under its target
(docs/scale.md, "The budget plan", measures what this costs).

Counting frames alone gives a still scene as many bytes a frame as a busy one. A window of
consecutive segments (the encoder's lookahead) may therefore share its bytes by weights
instead (``split``): each segment's size at one common quantiser, as a quick probe with the
base codec predicts it (``exvc.encode.complexity``), which is how a single rate-controlled
stream spreads its bytes over the same frames. The window's total is still what the target
allows for its frames, so the budgets still add up to the target, and they depend only on
the frames of the window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate, pairwise

# A weighted budget stays within these multiples of the frame-counted one: a probe that
# misjudges a segment cannot starve it.
MIN_RATIO, MAX_RATIO = 0.25, 4.0


@dataclass(frozen=True)
class BudgetPlan:
    """``bpp`` over frames of ``pixels`` pixels, less ``overhead`` bytes paid once."""

    bpp: float
    pixels: int
    overhead: int

    def allowed(self, frames: int) -> int:
        """The file's byte target for its first ``frames`` frames, overhead included."""
        return math.floor(self.bpp * self.pixels * frames / 8)

    def budget(self, start: int, end: int) -> int:
        """Bytes (chunk framing included) for the segment of frames ``[start, end)``."""
        share = self.allowed(end) - self.allowed(start)
        return share - self.overhead if start == 0 else share

    def split(self, start: int, lengths: Sequence[int],
              weights: Sequence[float] | None = None) -> list[int]:
        """Budgets of consecutive segments of ``lengths`` frames from frame ``start``: the
        window's total shared in proportion to ``weights`` (each kept within MIN_RATIO and
        MAX_RATIO of its frame-counted share), or frame-counted without them (or when
        a frame-counted budget is not positive). They add up to
        ``budget(start, start + sum(lengths))`` exactly."""
        bounds = accumulate(lengths, initial=start)
        counted = [self.budget(a, b) for a, b in pairwise(bounds)]
        if weights is None or len(lengths) < 2 or min(counted) <= 0:
            return counted
        total = sum(counted)
        shares = _bounded([c / total for c in counted], list(weights))
        budgets = [math.floor(total * s) for s in shares[:-1]]
        return budgets + [total - sum(budgets)]


def _bounded(counted: list[float], weights: list[float]) -> list[float]:
    """``weights`` normalised to shares, each held within [MIN_RATIO, MAX_RATIO] times its
    ``counted`` share, and normalised again (a few rounds settle it)."""
    shares = counted
    if all(w > 0 and math.isfinite(w) for w in weights):
        shares = [w / sum(weights) for w in weights]
    for _ in range(8):
        shares = [min(max(s, MIN_RATIO * c), MAX_RATIO * c) for s, c in
                  zip(shares, counted, strict=True)]
        shares = [s / sum(shares) for s in shares]
    return shares
