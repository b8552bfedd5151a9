"""How much of a dinr file's quality comes from its condition and how much from the prior.

    python scripts/gain_breakdown.py [CLIP ...] [--rates 0.005,0.02] [--preset medium]
                                     [--frames 64] [--out gains.jsonl]

Each clip (default: the development clips) is encoded once per rate as ``exvc`` would, then
decoded twice: as it is, and as its condition alone, the same file with its PRIOR and
ADAPTER chunks removed and its header's codec set to ``inr`` (the base, INR or base + INR
frames, before the prior). Both are scored against the source with PSNR and ST-LPIPS. The
condition alone against the anchors shows what the choice of base (codec, size, frame step)
and the packing give; the difference between the two decodes is the prior's and adapters'
share. One JSON line per clip and rate goes to ``--out``; a table is printed.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from exvc.bench.clips import development_clips, load_clip, parse_clip
from exvc.bench.metrics import psnr
from exvc.bench.stlpips import STLPIPS
from exvc.bitstream.container import (
    ADAPTER,
    HEAD,
    PRIOR,
    PRIOR_SHORT,
    read_container,
    write_container,
)
from exvc.bitstream.header import CODEC_INR, Header
from exvc.decode.decoder import decode_video, probe
from exvc.encode.encoder import encode_video
from exvc.encode.settings import EncodeSettings


def condition_alone(data: bytes) -> bytes:
    """``data`` without its prior and adapters: a file that decodes to its condition."""
    container = read_container(data)
    chunks = [c for c in container.chunks if c.type not in (PRIOR, PRIOR_SHORT, ADAPTER)]
    header = Header.from_bytes(chunks[0].payload)
    header.codec = CODEC_INR
    chunks[0] = type(chunks[0])(HEAD, header.to_bytes())
    return write_container(chunks, minor=container.minor)


def score(ref: np.ndarray, data: bytes, stlpips: STLPIPS) -> dict[str, float]:
    frames = np.stack(list(decode_video(data)[1]))
    frames = np.rint(frames * 255) / 255  # as an 8-bit output holds them
    return {"psnr": psnr(ref, frames), "st_lpips": stlpips.clip(list(ref), list(frames))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*")
    ap.add_argument("--rates", default="0.005,0.02")
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--out", default="gains.jsonl")
    args = ap.parse_args()
    specs = [parse_clip(c) for c in args.clips] if args.clips else development_clips()
    stlpips = STLPIPS()
    print(f"{'clip':<20} {'bpp':>6} {'bytes':>6} {'condition':<34} "
          f"{'cond dB':>8} {'cond LPIPS':>10} {'dinr dB':>8} {'dinr LPIPS':>10} {'enc s':>6}")
    with open(args.out, "a") as out:
        for spec in specs:
            ref, info = load_clip(spec, args.frames)
            for bpp in (float(r) for r in args.rates.split(",")):
                start = time.perf_counter()
                data = encode_video(iter(ref), info, EncodeSettings(bpp=bpp,
                                                                   preset=args.preset))
                seconds = time.perf_counter() - start
                dinfo = probe(data)
                alone = score(ref, condition_alone(data), stlpips)
                full = score(ref, data, stlpips) if dinfo.codec == "dinr" else alone
                layers = "; ".join(dinfo.layers) if dinfo.layers else dinfo.codec
                row = {"clip": spec.name, "bpp": bpp, "bytes": len(data), "layers": layers,
                       "prior_used": dinfo.codec == "dinr", "condition": alone,
                       "dinr": full, "encode_s": seconds, "preset": args.preset}
                out.write(json.dumps(row) + "\n")
                out.flush()
                label = layers.split(": ", 1)[-1][:34]
                print(f"{spec.name:<20} {bpp:>6g} {len(data):>6} {label:<34} "
                      f"{alone['psnr']:>8.2f} {alone['st_lpips']:>10.4f} "
                      f"{full['psnr']:>8.2f} {full['st_lpips']:>10.4f} {seconds:>6.0f}",
                      flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
