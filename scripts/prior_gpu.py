"""Train the prior on a lent GPU machine in a few minutes, and bring the weights back.

Two steps, one on each machine (docs/prior.md, "The GPU recipe"):

    # here, once: the corpus's training split at a short side of 320 as JPEG, and the wheels
    # the GPU machine lacks (diffusers, importlib_metadata), into .gpu/ (git-ignored)
    python scripts/prior_gpu.py pack
    # there, through the device tool's run, with carry [".gpu"]:
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .gpu/whl/*.whl && export PYTHONPATH=/tmp/site:$PWD && \
        PYTHONUNBUFFERED=1 python3 scripts/prior_gpu.py train --minutes 7 --out $OUT/exvc-gpu
    # here: judge what came back on the held-back photographs
    python -m exvc.prior.eval --prior /work/.device/.../exvc-gpu --against exvc-default-2

The machine there has torch, Pillow, safetensors and huggingface_hub but neither PyAV nor the
VVC encoder, and the working tree that travels is limited to 64 MiB (the repository is about
32 of them). So the GPU run trains on the blur conditions only (no ``--codec-share``), from
photographs at a short side of 320 instead of 768. ``train`` first times a 30-step pilot,
then picks the largest number of steps (a multiple of 100) that fits ``--minutes`` (the main
run's loading, training and saving; the pilot, about a minute, comes on top) and trains with
that; the command recorded in ``training.json`` reproduces it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACK = ROOT / ".gpu"
WHEELS = ("diffusers", "importlib_metadata")  # what the GPU image lacks (device KINDS.md)
TREE_LIMIT_MB = 64  # what the device tool carries, the repository included
# the CPU recipe's stage 2 (docs/prior.md) at a GPU's batch
RECIPE = ["--init", "exvc/prior/bundled/exvc-default-1", "--restore", "0.5", "--lr", "3e-4",
          "--patch", "96", "--seed", "0"]


def pack(corpus: Path, out: Path, short_side: int, quality: int) -> None:
    """The training split as JPEGs plus a corpus.json of that split alone, and the wheels."""
    from PIL import Image

    from exvc.prior.corpus import BUILT_FILE
    from exvc.prior.photos import split_entries

    record = json.loads((corpus / BUILT_FILE).read_text())
    entries = split_entries(corpus, "train")
    images = out / "corpus"
    shutil.rmtree(images, ignore_errors=True)
    images.mkdir(parents=True)
    kept = []
    for entry in entries:
        with Image.open(corpus / entry["file"]) as im:
            im = im.convert("RGB")
            scale = short_side / min(im.size)
            if scale < 1:
                im = im.resize((round(im.width * scale), round(im.height * scale)),
                               Image.LANCZOS)
            name = Path(entry["file"]).with_suffix(".jpg").as_posix().replace("/", "_")
            im.save(images / name, quality=quality)
        kept.append(entry | {"file": name, "sha256": None, "packed_from": entry["file"]})
    packed = record | {"images": kept, "short_side": short_side, "decoder": "pillow",
                       "packed": {"quality": quality, "from": str(corpus)}}
    (images / "corpus.json").write_text(json.dumps(packed, indent=1) + "\n")
    wheels = out / "whl"
    shutil.rmtree(wheels, ignore_errors=True)
    for name in WHEELS:
        version = _installed_version(name)
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                        "--only-binary=:all:", "--python-version", "3.12",
                        "--implementation", "cp", "--platform", "manylinux2014_x86_64",
                        "-d", str(wheels), f"{name}=={version}" if version else name],
                       check=True)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) / 2**20
    # what travels: tracked files and untracked ones that git does not ignore
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], cwd=ROOT, capture_output=True,
                             check=True).stdout.split(b"\0")
    repo = sum((ROOT / f.decode()).stat().st_size for f in tracked if f) / 2**20
    print(f"packed {len(kept)} photographs and {len(WHEELS)} wheels into {out}: {size:.1f} MiB "
          f"(with the repository {repo + size:.1f} of the {TREE_LIMIT_MB} MiB that travel)")
    if repo + size > TREE_LIMIT_MB:
        sys.exit(f"prior_gpu: error: {repo + size:.1f} MiB would not travel; lower "
                 "--short-side or --quality")
    if out.resolve().is_relative_to(ROOT):
        _ignore(out.resolve().relative_to(ROOT))


def _ignore(folder: Path) -> None:
    """Have git ignore ``folder`` of the checkout: the pack travels by the device tool's carry,
    not as part of the tree."""
    exclude = ROOT / subprocess.run(["git", "rev-parse", "--git-path", "info/exclude"],
                                    cwd=ROOT, capture_output=True, text=True,
                                    check=True).stdout.strip()
    line = f"/{folder.as_posix()}/"
    if line not in (exclude.read_text().split() if exclude.is_file() else []):
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a") as f:
            f.write(line + "\n")


def _installed_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def train(out: Path, minutes: float, device: str, threads: int, batch: int,
          pilot_steps: int = 30) -> None:
    """Time a pilot, then train for as many steps as ``minutes`` allow."""
    import torch

    from exvc.prior import train as trainer

    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("prior_gpu: error: no CUDA device here")
    corpus = PACK / "corpus"
    common = [*RECIPE, "--batch", str(batch), "--corpus", str(corpus), "--device", device,
              "--threads", str(threads)]
    with tempfile.TemporaryDirectory() as tmp:
        start = time.time()
        if trainer.main(["--out", f"{tmp}/pilot", "--steps", str(pilot_steps), *common]):
            sys.exit("prior_gpu: error: the pilot run failed")
        pilot = json.loads((Path(tmp) / "pilot" / "training.json").read_text())
    per_step = pilot["seconds"] / pilot_steps
    overhead = time.time() - start - pilot["seconds"]  # loading the photographs, saving
    steps = max(100, int((minutes * 60 - overhead) / max(per_step, 1e-3)) // 100 * 100)
    print(f"pilot: {per_step:.3f} s a step, {overhead:.0f} s to load and save; "
          f"training {steps} steps", flush=True)
    code = trainer.main(["--out", str(out), "--steps", str(steps), "--name", out.name,
                         "--plot", str(out / "loss.png"), *common])
    if code:
        sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    pk = sub.add_parser("pack", help="here: the photographs and wheels the GPU run needs")
    pk.add_argument("--corpus", type=Path, default=None,
                    help="a built corpus (default: ~/.cache/exvc/prior-corpus/images)")
    pk.add_argument("--out", type=Path, default=PACK)
    pk.add_argument("--short-side", type=int, default=320)
    pk.add_argument("--quality", type=int, default=90)
    tr = sub.add_parser("train", help="there: train for --minutes and write the prior")
    tr.add_argument("--out", type=Path, required=True)
    tr.add_argument("--minutes", type=float, default=7.0,
                    help="the main run's budget; the pilot comes on top")
    tr.add_argument("--device", default="cuda")
    tr.add_argument("--threads", type=int, default=8, help="CPU threads (the batches)")
    tr.add_argument("--batch", type=int, default=64)
    a = p.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if a.command == "pack":
        from exvc.prior.photos import default_images

        pack(a.corpus or default_images(), a.out, a.short_side, a.quality)
    else:
        train(a.out, a.minutes, a.device, a.threads, a.batch)


if __name__ == "__main__":
    main()
