"""Anchors placed by a perceptual threshold (Li et al. 2024): code a new frame where the
predicted ones fail, and none where prediction holds.

The decoder predicts every frame between a base's anchors (``exvc.bitstream.anchors``).
Li et al. code a new frame when the generated frames' perceptual distance crosses a
threshold. exvc's encoder does the same on a base it has coded every ``step`` frames: it
scores each frame the decoder rebuilds with the judge's distance (``dp_score``) and compares
the frames between anchors with the anchors themselves. A predicted frame **fails** when it
is further from the source than the anchors are on average by more than ``threshold`` (a
share: 0.5 lets it be 50 % further) on any of a 3 x 3 grid of tiles. The limit follows the
target rate by itself: the fewer the bytes, the further the coded anchors are from the
source, and the more a predicted frame may be.

Two moves, both judged with the decoder's rule (linear blend in time of the two anchors; the
last anchor held after it):

- **merge**: an anchor goes where the frames on both sides of it, itself included, pass when
  predicted from its neighbours (at most ``MAX_GAP`` apart; after the last anchor, held
  from the one before): its bytes go to the others;
- **refresh**: the worst failing frame of all becomes an anchor, then the next worst, until
  every frame passes or the layout has a quarter more anchors than it started with (the
  rate that chose the layout affords about that many pictures; the new anchor is taken as
  the source frame, the best it can be coded).

The new layout is a candidate like any other: the encoder codes it at the same bytes and the
judge keeps it only if it wins (``exvc.encode.condition_choice``). Global motion, when the
base gets it, only makes the prediction better than this rule assumes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from exvc.bitstream.anchors import MAX_GAP
from exvc.encode.perception import dp_score

DEFAULT_THRESHOLD = 0.5  # docs/motion.md, "Refresh by a perceptual threshold"
GRID = 3  # tiles per side on which distances are compared
# New anchors beyond the layout's own count, as a share of it (at least one): the rate that
# chose the layout affords about that many pictures, so a refresh mostly moves anchors from
# where prediction holds to where it fails.
EXTRA_ANCHORS = 0.25


def refresh_anchors(video: torch.Tensor, decoded: torch.Tensor, anchors: Sequence[int],
                    threshold: float, max_gap: int = MAX_GAP) -> tuple[int, ...]:
    """The anchors of ``video`` (T, 3, H, W) for a base whose frames decode as ``decoded``
    with anchors ``anchors``: merged where prediction holds, refreshed where a frame's
    distance exceeds the anchors' mean by more than ``threshold`` in any tile."""
    frames = len(video)
    with torch.no_grad():
        coded = torch.stack([tile_distances(decoded[a], video[a]) for a in anchors]).mean(0)
        limit = coded * (1 + threshold) + 1e-6
        images = {a: decoded[a] for a in anchors}

        def worst(a: int, b: int | None) -> tuple[int, float]:
            """The frame between anchors ``a`` and ``b`` (None: after the last) whose
            prediction is furthest over the limit in some tile, and by how much (a ratio to
            the limit; at most 1 passes)."""
            end = frames if b is None else b
            found = (-1, 0.0)
            for i in range(a + 1, end):
                ratio = float((tile_distances(_predict(images, a, b, i), video[i])
                               / limit).max())
                if ratio > found[1]:
                    found = (i, ratio)
            return found

        kept = [anchors[0]]
        for k in range(1, len(anchors)):
            nxt = anchors[k + 1] if k + 1 < len(anchors) else None
            reach = (nxt if nxt is not None else frames) - kept[-1]
            if reach <= max_gap and worst(kept[-1], nxt)[1] <= 1:
                continue  # anchors[k] merged away (the last one: its frames held)
            kept.append(anchors[k])
        # refresh: the gap whose worst frame is furthest over the limit first, while the
        # layout has anchors to spare
        cap = len(anchors) + max(1, round(EXTRA_ANCHORS * len(anchors)))
        gaps = {a: worst(a, b) for a, b in zip(kept, kept[1:] + [None], strict=True)}
        while len(gaps) < cap:
            a, (i, ratio) = max(gaps.items(), key=lambda g: g[1][1])
            if ratio <= 1:
                break
            images[i] = video[i]
            following = [k for k in sorted(gaps) if k > a]
            gaps[a] = worst(a, i)
            gaps[i] = worst(i, following[0] if following else None)
    return tuple(sorted(gaps))


def tile_distances(frame: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
    """The judge's distance (``dp_score``) of ``frame`` from ``source`` (3, H, W) on each
    of GRID x GRID tiles: a failure of prediction is local (a ghost, a newcomer), and a
    whole-frame mean would drown it in the coding error everywhere else."""
    h, w = source.shape[-2:]
    rows = [round(h * k / GRID) for k in range(GRID + 1)]
    cols = [round(w * k / GRID) for k in range(GRID + 1)]
    frame = frame.clamp(0, 1)
    return torch.tensor([dp_score(frame[None, :, y0:y1, x0:x1], source[None, :, y0:y1, x0:x1])
                         for y0, y1 in zip(rows, rows[1:], strict=False)
                         for x0, x1 in zip(cols, cols[1:], strict=False)])


def _predict(images: dict[int, torch.Tensor], a: int, b: int | None, i: int) -> torch.Tensor:
    if b is None:
        return images[a]
    t = (i - a) / (b - a)
    return images[a] + t * (images[b] - images[a])
