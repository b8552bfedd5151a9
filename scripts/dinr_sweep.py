"""Choose the dinr sampler by measurement: decode one INR with several step settings.

    python scripts/dinr_sweep.py --bpp 0.02 [--clip PATH[@WxH]] [--prior DIR]

Encodes the clip once with ``-c:v inr`` (cached next to --cache), then refines its frames
with the prior for each (grid_steps, run_steps) and prints PSNR, ST-LPIPS and flicker of
each against the source, and the seconds per frame. No adapters: this isolates the sampler.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from exvc.bench.clips import development_clips, load_clip, parse_clip
from exvc.bench.metrics import ClipScore
from exvc.bench.stlpips import STLPIPS
from exvc.decode.decoder import decode_video
from exvc.encode.adapter_coder import rdp_loss
from exvc.encode.encoder import encode_video
from exvc.encode.settings import EncodeSettings
from exvc.prior.loader import load_prior
from exvc.prior.sampler import SamplerSettings, noise_for, sample

SETTINGS = ((8, 1), (8, 2), (8, 3), (16, 2), (16, 3), (4, 1))


def _scores(ref, out, lp) -> tuple[float, float, float, float]:
    score = ClipScore()
    for a, b in zip(ref, out, strict=True):
        score.add(a, np.round(b * 255) / 255)
    rdp = float(rdp_loss(torch.from_numpy(np.asarray(out)), torch.from_numpy(np.asarray(ref))))
    return score.psnr, lp.clip(list(ref), list(out)), score.flicker, rdp


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bpp", type=float, default=0.02)
    p.add_argument("--clip", default=None)
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--prior", default=None)
    p.add_argument("--preset", default="medium")
    p.add_argument("--cache", type=Path, default=Path("/tmp/exvc_sweep"))
    p.add_argument("--settings", default=",".join(f"{r}/{g}" for g, r in SETTINGS),
                   help="comma-separated RUN/GRID pairs")
    a = p.parse_args()
    settings_list = [tuple(int(v) for v in s.split("/"))[::-1] for s in a.settings.split(",")]
    spec = parse_clip(a.clip) if a.clip else development_clips()[0]
    ref, info = load_clip(spec, a.frames)
    a.cache.mkdir(parents=True, exist_ok=True)
    cached = a.cache / f"{spec.name}_{a.bpp}_{a.preset}.dinr"
    if not cached.exists():
        cached.write_bytes(encode_video(iter(ref), info, EncodeSettings(
            bpp=a.bpp, preset=a.preset, codec="inr")))
    inr = np.stack(list(decode_video(cached.read_bytes())[1]))
    prior, lp = load_prior(a.prior), STLPIPS()
    print(f"{spec.name} {a.bpp} bpp, prior {prior.name}")
    print(f"{'setting':>10} {'PSNR':>7} {'ST-LPIPS':>9} {'flicker':>8} {'rdp':>8} {'s/frame':>8}")
    print(f"{'inr':>10} " + " ".join(f"{v:8.3f}" for v in _scores(ref, inr, lp)))
    _, h, w = inr.shape[1:]
    for grid, run in settings_list:
        settings = SamplerSettings(0, grid, run)
        noise = noise_for(prior, 0, h, w)
        start = time.perf_counter()
        with torch.inference_mode():
            out = np.stack([sample(prior, torch.from_numpy(f)[None], noise, settings)[0]
                            .clamp(0, 1).numpy() for f in inr])
        secs = (time.perf_counter() - start) / len(inr)
        vals = _scores(ref, out, lp)
        print(f"{f'{run}/{grid}':>10} " + " ".join(f"{v:8.3f}" for v in vals)
              + f" {secs:8.3f}")


if __name__ == "__main__":
    main()
