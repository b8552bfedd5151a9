"""Measure base-layer configurations at equal bytes: which codec, size and frame step win.

For each clip and rate, every configuration's base is coded for the same BASE payload budget
(the target less a file's fixed overhead) and scored against the source: PSNR, ST-LPIPS (the
benchmark's metric, which the encoder never sees) and the encoder's own judge (dp_score on
the probe frames). One JSON line per configuration; docs/base.md summarises them.

    python scripts/base_study.py --rates 0.005,0.01,0.02,0.035,0.05 > base_study.jsonl
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time

import torch

from exvc.bench.clips import development_clips, load_clip, parse_clip
from exvc.bench.stlpips import STLPIPS
from exvc.encode.base_coder import BaseConfig, code_base
from exvc.encode.frame_sampling import probe_ids
from exvc.encode.perception import as_delivered, judge
from exvc.encode.rate_control import BudgetError
from exvc.media import base_codecs

OVERHEAD = 30  # preamble, HEAD, BASE chunk framing and END of a one-segment file


def configs(codecs: list[str]) -> list[BaseConfig]:
    """VVC at every size and frame step, two-pass at full and half size with steps 1 and 2;
    AV1 and HEVC at full size (their floors are far above VVC's at the lowest rates)."""
    out = []
    for codec in codecs:
        if codec == "vvc":
            out += [BaseConfig("vvc", s, t) for s, t in itertools.product((1, 2, 4), (1, 2, 4))]
            out += [BaseConfig("vvc", s, t, "rate2") for s, t in itertools.product((1, 2),
                                                                                    (1, 2))]
        else:
            out.append(BaseConfig(codec))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("clips", nargs="*")
    ap.add_argument("--rates", default="0.005,0.01,0.02,0.035,0.05")
    ap.add_argument("--codecs", default="vvc,av1,hevc")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--preset", default="medium")
    args = ap.parse_args()
    specs = [parse_clip(c) for c in args.clips] or development_clips()
    metric = STLPIPS()
    codecs = [c for c in args.codecs.split(",") if base_codecs.available(c)]
    for spec in specs:
        ref, info = load_clip(spec, args.frames)
        video = torch.from_numpy(ref)
        t, _, h, w = video.shape
        ids = probe_ids(t)
        for bpp in map(float, args.rates.split(",")):
            budget = math.floor(bpp * t * h * w / 8) - OVERHEAD
            for cfg in configs(codecs):
                row = {"clip": spec.name, "bpp": bpp, "budget": budget, **cfg.__dict__}
                start = time.perf_counter()
                try:
                    coded = code_base(video, budget, cfg, info.fps, args.preset)
                except BudgetError as exc:
                    row["error"] = f"needs {exc.needed}"
                    print(json.dumps(row), flush=True)
                    continue
                out = as_delivered(coded.frames)
                mse = float(torch.mean((out - video) ** 2))
                row.update(bytes=coded.size, seconds=round(time.perf_counter() - start, 1),
                           psnr=round(10 * math.log10(1 / mse), 3),
                           stlpips=round(metric.clip(list(ref), list(out.numpy())), 4),
                           dp=round(judge(out[ids], video[ids]).score, 4),
                           setting=coded.setting.describe())
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
