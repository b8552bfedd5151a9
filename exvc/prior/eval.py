"""Judge priors on the corpus's held-back photographs, which training on the corpus never reads.

    python -m exvc.prior.eval --prior A [--against B] [--corpus DIR] [--limit N]
                              [--size 256] [--kinds ...] [--json FILE] [--threads 1]

Whole encodes of the development clips are slow, few and seen during development; the
corpus's held-back photographs (34, ``docs/prior_corpus.md``) are neither (one of them,
scikit-image's retina, is among the twelve the bundled priors saw). Each photograph
is brought to a moderate size and turned into the conditions the decoder refines, in two
families:

- **blur** (exvc 1's INR, ``exvc.prior.degrade``): area-down by a factor of 2, 4 or 8,
  bilinear up, seeded Gaussian noise of sigma up to 0.02;
- **base codec** (exvc 2's base layer): a short seeded pan over the photograph is coded by
  VVC at a low-rate quantiser at full, half or quarter size and rebuilt as the decoder does
  (decoded, converted to RGB, bicubic to the output size); the last, inter-coded frame is
  judged.

Each prior then refines each condition with the real sampler (``exvc.prior.sampler``) at the
strongest setting the encoder can choose (the first of ``exvc.encode.sampler_choice``'s
candidates: DDIM, the last 2 of an 8-step trailing grid, t = 249 and 124, unmixed), from the
file noise of ``--seed``. Reported per degradation kind and overall: ST-LPIPS (the
benchmark's metric, ``exvc.bench.stlpips``) and RGB PSNR against the photograph, of the
condition and of each prior's output, both as delivered (8 bits); the gain of A over the
condition; and A against B. Everything is seeded, so a rerun gives the same numbers.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import torch
import torch.nn.functional as F

from exvc.models.threads import torch_threads
from exvc.prior.degrade import degrade
from exvc.prior.photos import (
    CorpusSplitError,
    corpus_summary,
    default_images,
    load_rgb8,
    split_entries,
)

SIZE = 256  # default largest side of the square an evaluation photograph is cropped to
MARGIN = 8  # pixels kept around the crop for the pan of the coded clip
FRAMES = 4  # frames of the coded clip; the last one is judged
MAX_SPEED = 2.0  # pixels per frame of the pan, each axis
MAX_NOISE = 0.02  # the blur's noise, as in training
MIN_CODED = 24  # libvvenc fails on pictures of 16x16; a smaller coded crop skips that kind


@dataclass(frozen=True)
class Kind:
    """One degradation: a blur factor, or a base codec at a quantiser and size divisor."""

    name: str
    factor: float = 0.0
    codec: str = ""
    qp: int = 0
    scale: int = 1

    @property
    def family(self) -> str:
        return "codec" if self.codec else "blur"


KINDS = (
    Kind("blur x2", factor=2), Kind("blur x4", factor=4), Kind("blur x8", factor=8),
    # VVC, the default base, at the quantisers where docs/base.md saw the prior neutral (full
    # size, QP 45) and where it helped most (half size, QP 51), and at quarter size.
    Kind("vvc 1/1 qp45", codec="vvc", qp=45, scale=1),
    Kind("vvc 1/2 qp51", codec="vvc", qp=51, scale=2),
    Kind("vvc 1/4 qp45", codec="vvc", qp=45, scale=4),
)


def strongest_setting():
    """The strongest sampler setting the encoder can choose (its candidates are listed
    strongest first)."""
    from exvc.encode.sampler_choice import CANDIDATES

    return CANDIDATES[0]


def prepare(photo: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """A uint8 photograph (3, H, W) as a clip (FRAMES, 3, s, s) in [0, 1]: scaled down (never
    up) so its short side is ``size + 2 * MARGIN``, then FRAMES square crops of side ``s`` (at
    most ``size``, a multiple of 16) panning at a seeded speed and ending at the centre."""
    x = photo.float()[None] / 255
    h, w = x.shape[-2:]
    want = size + 2 * MARGIN
    if min(h, w) > want:
        k = want / min(h, w)
        h, w = max(want, round(h * k)), max(want, round(w * k))
        x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    s = min(size, min(h, w) - 2 * MARGIN) // 16 * 16
    if s < 32:
        raise ValueError(f"a photograph of {w}x{h} is too small to evaluate")
    vy, vx = ((torch.rand(2, generator=gen) * 2 - 1) * MAX_SPEED).tolist()
    cy, cx = (h - s) // 2, (w - s) // 2
    frames = []
    for k in range(FRAMES):
        back = FRAMES - 1 - k
        y = min(max(0, round(cy - vy * back)), h - s)
        x0 = min(max(0, round(cx - vx * back)), w - s)
        frames.append(x[0, :, y:y + s, x0:x0 + s])
    return torch.stack(frames).clamp(0, 1)


def code_clip(clip: torch.Tensor, codec: str, qp: int, scale: int) -> torch.Tensor:
    """The frames a decoder rebuilds from ``clip`` (T, 3, s, s) coded as a base layer at
    ``1/scale`` size, every frame coded (exvc.media.base_video's path at frame step 1)."""
    from exvc.bitstream.base import BASE_CODECS, pack, to_decoder
    from exvc.media import base_codecs
    from exvc.media.base_video import to_output_size, to_pictures, to_rgb

    t, _, h, w = clip.shape
    coded = (w // scale, h // scale)
    stream = base_codecs.encode(codec, to_pictures(clip, coded), Fraction(25),
                                base_codecs.RateSetting("qp", qp), "medium", threads=1)
    code = {name: c for c, name in BASE_CODECS.items()}[codec]
    data = to_decoder(code, pack(code, stream))
    with torch.no_grad():
        return torch.stack([to_output_size(to_rgb(p, depth), (h, w))
                            for p, depth in base_codecs.decode(codec, data, *coded, t, 1)])


def condition(clip: torch.Tensor, kind: Kind, gen: torch.Generator) -> torch.Tensor:
    """The condition (1, 3, s, s) for the clip's last frame under ``kind``."""
    if kind.codec:
        return code_clip(clip, kind.codec, kind.qp, kind.scale)[-1:].clamp(0, 1)
    return degrade(clip[-1:], gen, min_factor=kind.factor, max_factor=kind.factor,
                   max_noise=MAX_NOISE)


def delivered(x: torch.Tensor) -> torch.Tensor:
    """As a decoder delivers it: clamped to [0, 1] and rounded to 8 bits."""
    return torch.round(x.clamp(0, 1) * 255) / 255


def _seed(seed: int, photo: int, kind: int) -> int:
    return (seed * 1_000_003 + photo * 101 + kind) & 0x7FFFFFFFFFFFFFFF


def evaluate(priors: list[str], corpus: Path | None = None, limit: int | None = None,
             size: int = SIZE, kinds: tuple[Kind, ...] = KINDS, seed: int = 0,
             progress=None) -> dict:
    """Score each prior (a folder, hub id or bundled name) on the held-back photographs;
    returns the full result (per photograph, per kind, overall). The first prior is A, the
    second, if any, B. Only the ``heldout`` split is read."""
    from exvc.bench.stlpips import STLPIPS
    from exvc.media.base_codecs import available
    from exvc.media.quality import psnr
    from exvc.prior.loader import load_prior
    from exvc.prior.sampler import make_scheduler, noise_for, sample

    images = Path(corpus) if corpus is not None else default_images()
    entries = split_entries(images, "heldout")[:limit]
    skipped = [k.name for k in kinds if k.codec and not available(k.codec)]
    kinds = tuple(k for k in kinds if k.name not in skipped)
    settings = strongest_setting()
    loaded = [load_prior(p) for p in priors]
    scheds = [make_scheduler(p, settings) for p in loaded]
    metric = STLPIPS()
    noises: dict[tuple[int, int], torch.Tensor] = {}
    rows: list[dict] = []
    too_small: list[str] = []
    start = time.time()
    for i, entry in enumerate(entries):
        photo = load_rgb8(images / entry["file"])
        clip = prepare(photo, size, torch.Generator().manual_seed(_seed(seed, i, 999)))
        ref = clip[-1:]
        for j, kind in enumerate(kinds):
            if kind.codec and ref.shape[-1] // kind.scale < MIN_CODED:
                too_small.append(f"{entry['file']} ({kind.name})")
                continue
            cond = condition(clip, kind, torch.Generator().manual_seed(_seed(seed, i, j)))
            outs = {"condition": delivered(cond)}
            for n, (prior, sched) in enumerate(zip(loaded, scheds, strict=True)):
                key = (n, ref.shape[-1])
                if key not in noises:
                    noises[key] = noise_for(prior, seed, ref.shape[-2], ref.shape[-1])
                with torch.inference_mode():
                    out = sample(prior, cond, noises[key], settings, sched)
                outs["AB"[n]] = delivered(out)
            row = {"photo": entry["file"], "kind": kind.name, "family": kind.family,
                   "size": int(ref.shape[-1])}
            for label, out in outs.items():
                row[label] = {"stlpips": float(metric.distances(ref, out)[0]),
                              "psnr": float(psnr(ref.numpy(), out.numpy()))}
            rows.append(row)
        if progress is not None:
            progress(i + 1, len(entries), time.time() - start)
    return {
        "priors": {"AB"[n]: {"name": p.name, "source": str(p.source), "digest": p.digest.hex()}
                   for n, p in enumerate(loaded)},
        "corpus": corpus_summary(images, "heldout") | {"used": len(entries)},
        "settings": {"size": size, "seed": seed, "frames": FRAMES,
                     "sampler": {"grid_steps": settings.grid_steps,
                                 "run_steps": settings.run_steps, "mix16": settings.mix},
                     "kinds": [k.__dict__ for k in kinds], "skipped_kinds": skipped,
                     "too_small": too_small},
        "summary": summarise(rows, [k.name for k in kinds], len(loaded)),
        "photos": rows,
        "seconds": round(time.time() - start, 1),
    }


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else math.nan


def summarise(rows: list[dict], kinds: list[str], priors: int) -> dict:
    """Means per kind, per family and overall; gains are positive where A is better: lower
    ST-LPIPS (``*_stlpips_gain``), higher PSNR (``*_db_gain``)."""
    groups = {k: [r for r in rows if r["kind"] == k] for k in kinds}
    for family in ("blur", "codec"):
        members = [r for r in rows if r["family"] == family]
        if members:
            groups[f"all {family}"] = members
    groups["overall"] = rows
    labels = ["condition", "A", "B"][:priors + 1]
    out = {}
    for name, group in groups.items():
        if not group:
            continue
        s = {"n": len(group)}
        for label in labels:
            s[f"{label}_stlpips"] = _mean([r[label]["stlpips"] for r in group])
            s[f"{label}_psnr"] = _mean([r[label]["psnr"] for r in group])
        s["A_vs_condition_stlpips_gain"] = s["condition_stlpips"] - s["A_stlpips"]
        s["A_vs_condition_db_gain"] = s["A_psnr"] - s["condition_psnr"]
        if priors > 1:
            s["A_vs_B_stlpips_gain"] = s["B_stlpips"] - s["A_stlpips"]
            s["A_vs_B_db_gain"] = s["A_psnr"] - s["B_psnr"]
            s["A_wins_stlpips"] = sum(r["A"]["stlpips"] < r["B"]["stlpips"] for r in group)
        out[name] = s
    return out


def table(result: dict) -> str:
    """The summary as a plain-text table."""
    two = "B" in result["priors"]
    head = ["kind", "n", "cond LPIPS", "cond dB", "A LPIPS", "A dB"]
    if two:
        head += ["B LPIPS", "B dB"]
    head += ["A-cond gain", "A-cond dB"]
    if two:
        head += ["A-B gain", "A-B dB", "A wins"]
    lines = [head]
    for name, s in result["summary"].items():
        row = [name, str(s["n"]), f"{s['condition_stlpips']:.4f}", f"{s['condition_psnr']:.2f}",
               f"{s['A_stlpips']:.4f}", f"{s['A_psnr']:.2f}"]
        if two:
            row += [f"{s['B_stlpips']:.4f}", f"{s['B_psnr']:.2f}"]
        row += [f"{s['A_vs_condition_stlpips_gain']:+.4f}", f"{s['A_vs_condition_db_gain']:+.2f}"]
        if two:
            row += [f"{s['A_vs_B_stlpips_gain']:+.4f}", f"{s['A_vs_B_db_gain']:+.2f}",
                    f"{s['A_wins_stlpips']}/{s['n']}"]
        lines.append(row)
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    text = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                      enumerate(zip(r, widths, strict=True))) for r in lines]
    text.insert(1, "-" * len(text[0]))
    pri = result["priors"]
    intro = [f"A: {pri['A']['name']} ({pri['A']['digest'][:16]})"]
    if two:
        intro.append(f"B: {pri['B']['name']} ({pri['B']['digest'][:16]})")
    c, st = result["corpus"], result["settings"]
    sampler = st["sampler"]
    intro.append(f"{c['used']} held-back photographs of {c['images']}, crops up to "
                 f"{st['size']} px, DDIM last {sampler['run_steps']} of {sampler['grid_steps']}"
                 f" steps, seed {st['seed']}, {result['seconds']:.0f}s")
    intro.append("ST-LPIPS: lower is better; gains are positive where A is better")
    if st["skipped_kinds"]:
        intro.append(f"skipped (codec not available here): {', '.join(st['skipped_kinds'])}")
    if st["too_small"]:
        intro.append(f"skipped (coded crop under {MIN_CODED} px): {', '.join(st['too_small'])}")
    return "\n".join(intro + [""] + text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m exvc.prior.eval", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Photographs are scaled down so the short side is SIZE + 16 and centre-cropped "
               "to a square of at most SIZE (a multiple of 16; smaller photographs give "
               "smaller squares), so the 34 held-back photographs take a few minutes on one "
               "core at the default 256.")
    p.add_argument("--prior", required=True,
                   help="prior A: a prior folder, hub id or bundled name (exvc-default-2)")
    p.add_argument("--against", default=None, help="prior B, compared with A")
    p.add_argument("--corpus", type=Path, default=None,
                   help=f"built corpus folder (default {default_images()}); only its "
                        "held-back split is read")
    p.add_argument("--limit", type=int, default=None, help="the first N held-back photographs")
    p.add_argument("--size", type=int, default=SIZE, help="largest crop side (default 256)")
    p.add_argument("--kinds", default=None,
                   help="comma-separated degradations (default all: "
                        + ", ".join(k.name for k in KINDS) + ")")
    p.add_argument("--seed", type=int, default=0, help="degradations' and sampler's seed")
    p.add_argument("--json", type=Path, default=None, help="write the full result here")
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args(argv)
    kinds = KINDS
    if a.kinds:
        names = [n.strip() for n in a.kinds.split(",")]
        unknown = [n for n in names if n not in {k.name for k in KINDS}]
        if unknown:
            p.error(f"unknown kind {unknown[0]!r}")
        kinds = tuple(k for k in KINDS if k.name in names)
    priors = [a.prior] + ([a.against] if a.against else [])

    def progress(k: int, n: int, seconds: float) -> None:
        print(f"photograph {k}/{n} {seconds:.0f}s", file=sys.stderr, flush=True)

    try:
        with torch_threads(a.threads):
            result = evaluate(priors, a.corpus, a.limit, a.size, kinds, a.seed, progress)
    except (CorpusSplitError, ValueError) as exc:
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(table(result))
    if a.json is not None:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
