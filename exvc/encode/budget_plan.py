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
"""

from __future__ import annotations

import math
from dataclasses import dataclass


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
