"""Measure the dinr encoder's adapter decisions: decode both candidates of every segment.

    python scripts/adapter_study.py [--bpp 0.005,0.01,0.02,0.05] [--clip PATH[@WxH] ...]

Encodes each clip and rate with ``-c:v dinr`` (preset medium) and records, for every segment
whose adapter was trained, the two candidates the encoder compared at equal bytes: (a) the INR
at the full budget decoded by the prior alone, and (b) the INR re-quantised to the budget less
the ADAPTER chunk, decoded by the prior with the adapter. Both are decoded over all the
segment's frames. Per segment it prints the relative gain of (b) over (a) by the
distortion-perception score (``exvc.encode.perception``) and by the adapters' training loss
(``exvc.encode.adapter_coder``), on the 8 probe frames the encoder judges and on every frame;
RGB PSNR and ST-LPIPS of each; and whether the encoder kept the adapter. The decoded frames
are saved beside the files (``--out``) for further study. docs/dinr.md, "Keeping an
adapter", uses it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from exvc.bench.clips import development_clips, load_clip, parse_clip
from exvc.bench.stlpips import STLPIPS
from exvc.decode.decoder import parse_stream
from exvc.encode import adapter_coder
from exvc.encode.encoder import encode_video
from exvc.encode.frame_sampling import probe_ids
from exvc.encode.perception import dp_score
from exvc.encode.settings import EncodeSettings
from exvc.media.quality import psnr


def _u8(x: torch.Tensor) -> torch.Tensor:
    return torch.round(x.clamp(0, 1) * 255).to(torch.uint8)


def _study(spec, bpp: float, frames: int, lp: STLPIPS, out: Path) -> None:
    ref, info = load_clip(spec, frames)
    calls: list[tuple] = []
    original = adapter_coder.AdapterCoder.evaluate_with

    def recording(self, payload, video, inr):
        calls.append((self, payload, video.clone(), inr.clone()))
        return original(self, payload, video, inr)

    adapter_coder.AdapterCoder.evaluate_with = recording
    try:
        data = encode_video(iter(ref), info, EncodeSettings(bpp=bpp, codec="dinr"))
    finally:
        adapter_coder.AdapterCoder.evaluate_with = original
    (out / f"{spec.name}_{bpp}.dinr").write_bytes(data)
    kept = [a is not None for a in parse_stream(data).adapters]
    print(f"\n{spec.name}, {bpp} bpp, {len(data)} bytes, sampler "
          f"{calls[0][0].settings if calls else '-'}")
    print(f"{'':>8} {'gain of (b) over (a), 8 probe frames':>19} {'all frames':>19}")
    print(f"{'segment':>8} {'score':>9} {'loss':>9} {'score':>9} {'loss':>9} "
          f"{'PSNR (a)/(b)':>13} {'ST-LPIPS (a)/(b)':>15} {'encoder':>8} {'frames':>6}")
    segment = -1
    for k, (coder, payload, video, inr) in enumerate(calls):
        if payload is not None:
            continue
        segment += 1
        if k + 1 == len(calls) or calls[k + 1][1] is None:
            print(f"{segment:>8} no adapter candidate")
            continue
        _, adapter, _, inr_b = calls[k + 1]
        a, _ = coder.decode_with(None, video, inr, len(video))
        b, _ = coder.decode_with(adapter, video, inr_b, len(video))
        ids = probe_ids(len(video))
        gains = [1 - measure(b[f], video[f]) / measure(a[f], video[f])
                 for f in (ids, slice(None)) for measure in (dp_score, _loss)]
        pa, pb = psnr(a, video), psnr(b, video)
        la, lb = (lp.clip(list(video.numpy()), list(x.numpy())) for x in (a, b))
        torch.save({"video": _u8(video), "a": _u8(a), "b": _u8(b)},
                   out / f"{spec.name}_{bpp}_segment{segment}.pt")
        print(f"{segment:>8} " + " ".join(f"{g:9.2%}" for g in gains) +
              f" {pa:6.2f}/{pb:6.2f} {la:7.4f}/{lb:7.4f} "
              f"{'kept' if kept[segment] else 'dropped':>8} {len(video):>6}", flush=True)


def _loss(out: torch.Tensor, ref: torch.Tensor) -> float:
    return float(adapter_coder.training_loss(out, ref))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bpp", default="0.005,0.01,0.02,0.05", help="comma-separated rates")
    p.add_argument("--clip", action="append", default=None,
                   help="repeatable; default: the development clips")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--out", type=Path, default=Path("/tmp/exvc_adapter_study"))
    a = p.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    specs = [parse_clip(c) for c in a.clip] if a.clip else development_clips()
    lp = STLPIPS()
    for spec in specs:
        for bpp in (float(b) for b in a.bpp.split(",")):
            _study(spec, bpp, a.frames, lp, a.out)


if __name__ == "__main__":
    main()
