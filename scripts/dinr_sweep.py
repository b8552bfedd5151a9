"""Measure the dinr sampler settings: decode one INR per clip and rate with each of them.

    python scripts/dinr_sweep.py [--bpp 0.005,0.01,0.02,0.05] [--clip PATH[@WxH] ...]
                                 [--settings 2/8,1/8@8,1/32,1/100@0] [--prior DIR]

Encodes each clip once per rate with ``-c:v inr`` (cached in --cache), then refines its frames
with the prior under each RUN/GRID[@MIX] setting (MIX in 16ths, default 16: no mixing with the
INR frame), with no adapter, so the sampler is isolated. For
each setting it prints PSNR, ST-LPIPS and flicker over all frames against the source, the
seconds per frame, and the encoder's distortion-perception score (``exvc.encode.perception``,
on the frames ``exvc.encode.sampler_choice`` probes). The setting the encoder would choose
is marked with ``*`` (the lowest score among the settings at ``psnr_floor`` of the
INR on the probe frames). The default settings are the encoder's candidates.

Where the INR file has several segments (a scene cut), a second table gives, per segment,
the ST-LPIPS of the INR, of the best setting for that segment, and of the setting the score
chooses on that segment's own probe frames; then the clip's ST-LPIPS when the first
segment's choice serves the whole file (what the encoder does) and when each segment has its
own choice (what a per-segment sampler would do). docs/dinr.md, "How far the score can be
trusted", uses it.
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
from exvc.decode.decoder import decode_video, parse_stream
from exvc.encode.encoder import encode_video
from exvc.encode.frame_sampling import probe_ids
from exvc.encode.perception import dp_score, judge, psnr_floor
from exvc.encode.sampler_choice import CANDIDATES, pick
from exvc.encode.settings import EncodeSettings
from exvc.prior.loader import load_prior
from exvc.prior.sampler import SamplerSettings, noise_for, sample


def _row(name: str, ref: np.ndarray, out: np.ndarray, lp: STLPIPS, secs: float | None,
         mark: str = "") -> str:
    out = _u8(out)
    score = ClipScore()
    for a, b in zip(ref, out, strict=True):
        score.add(a, b)
    ids = probe_ids(len(ref))
    dp = dp_score(torch.from_numpy(out[ids]).float(), torch.from_numpy(ref[ids]))
    timing = f"{secs:8.3f}" if secs is not None else f"{'-':>8}"
    return (f"{name + mark:>10} {score.psnr:7.2f} {lp.clip(list(ref), list(out)):9.4f} "
            f"{score.flicker:8.2f} {dp:8.3f} {timing}")


def _sweep(spec, bpp: float, frames: int, preset: str, cache: Path, prior, lp,
           settings: list[SamplerSettings]) -> None:
    ref, info = load_clip(spec, frames)
    cached = cache / f"{spec.name}_{bpp}_{preset}.dinr"
    if not cached.exists():
        cached.write_bytes(encode_video(iter(ref), info, EncodeSettings(
            bpp=bpp, preset=preset, codec="inr")))
    inr = np.stack(list(decode_video(cached.read_bytes())[1]))
    noise = noise_for(prior, 0, *inr.shape[-2:])
    outs, secs = [], []
    for s in settings:
        start = time.perf_counter()
        with torch.inference_mode():
            outs.append(np.stack([sample(prior, torch.from_numpy(f)[None], noise, s)[0]
                                  .numpy() for f in inr]))
        secs.append((time.perf_counter() - start) / len(inr))
    best = _choice(ref, inr, outs, settings, probe_ids(len(ref)))
    print(f"\n{spec.name}, {bpp} bpp ({cached.stat().st_size} bytes), prior {prior.name}")
    print(f"{'setting':>10} {'PSNR':>7} {'ST-LPIPS':>9} {'flicker':>8} {'dp':>8} {'s/frame':>8}")
    print(_row("inr", ref, inr, lp, None))
    for i, (s, o, t) in enumerate(zip(settings, outs, secs, strict=True)):
        print(_row(_name(s), ref, o, lp, t, "*" if i == best else ""))
    counts = [p.frames for p in parse_stream(cached.read_bytes()).segments]
    if len(counts) > 1:
        _segments(ref, inr, outs, counts, lp, settings)


def _choice(ref: np.ndarray, inr: np.ndarray, outs: list[np.ndarray],
            settings: list[SamplerSettings], ids: list[int]) -> int:
    """The index the encoder's rule picks on frames ``ids``: the lowest score among the
    settings at the INR's psnr_floor or above (mix 0 always qualifies)."""
    t_ref = torch.from_numpy(ref[ids])
    floor = psnr_floor(judge(torch.from_numpy(_u8(inr[ids])).float(), t_ref).psnr)
    return pick(settings, [judge(torch.from_numpy(_u8(o[ids])).float(), t_ref) for o in outs],
                floor)


def _name(s: SamplerSettings) -> str:
    return f"{s.run_steps}/{s.grid_steps}" + (f"@{s.mix}" if s.mix < 16 else "")


def _u8(x: np.ndarray) -> np.ndarray:
    return np.round(np.clip(x, 0, 1) * 255) / 255


def _segments(ref: np.ndarray, inr: np.ndarray, outs: list[np.ndarray], counts: list[int],
              lp: STLPIPS, settings: list[SamplerSettings]) -> None:
    """Per-segment choices against per-segment ST-LPIPS (see the module docstring)."""
    t_ref = torch.from_numpy(ref)

    def distances(out: np.ndarray) -> np.ndarray:  # per frame, in batches of 8
        dist = torch.from_numpy(_u8(out)).float()
        return np.concatenate([lp.distances(t_ref[i:i + 8], dist[i:i + 8]).numpy()
                               for i in range(0, len(ref), 8)])

    per_frame = np.stack([distances(o) for o in outs])  # settings x frames
    inr_frames = distances(inr)
    starts = np.cumsum([0, *counts])
    chosen = []
    print(f"{'segment':>10} {'frames':>7} {'INR':>7} {'best':>7} {'chosen':>7}  setting")
    for k, (a, b) in enumerate(zip(starts[:-1], starts[1:], strict=True)):
        j = _choice(ref, inr, outs, settings, [a + i for i in probe_ids(b - a)])
        chosen.append(j)
        seg = per_frame[:, a:b].mean(1)
        print(f"{k:>10} {b - a:>7} {inr_frames[a:b].mean():7.4f} {seg.min():7.4f} "
              f"{seg[j]:7.4f}  {_name(settings[j])}")
    first = per_frame[chosen[0]].mean()
    own = np.concatenate([per_frame[j, a:b] for j, a, b in
                          zip(chosen, starts[:-1], starts[1:], strict=True)]).mean()
    print(f"first segment's choice for all: {first:.4f}; each segment its own: {own:.4f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bpp", default="0.02", help="comma-separated rates")
    p.add_argument("--clip", action="append", default=None, help="repeatable; default: "
                   "the development clips")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--prior", default=None)
    p.add_argument("--preset", default="medium")
    p.add_argument("--cache", type=Path, default=Path("/tmp/exvc_sweep"))
    p.add_argument("--settings", default=",".join(f"{c.run_steps}/{c.grid_steps}@{c.mix}"
                                                  for c in CANDIDATES),
                   help="comma-separated RUN/GRID[@MIX] (default: the encoder's candidates)")
    a = p.parse_args()
    settings = []
    for item in a.settings.split(","):
        steps, _, mix = item.partition("@")
        run, grid = steps.split("/")
        settings.append(SamplerSettings.of(int(grid), int(run), int(mix or 16)))
    specs = [parse_clip(c) for c in a.clip] if a.clip else development_clips()
    a.cache.mkdir(parents=True, exist_ok=True)
    prior, lp = load_prior(a.prior), STLPIPS()
    for spec in specs:
        for bpp in (float(b) for b in a.bpp.split(",")):
            _sweep(spec, bpp, a.frames, a.preset, a.cache, prior, lp, settings)


if __name__ == "__main__":
    main()
