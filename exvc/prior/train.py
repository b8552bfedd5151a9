"""Train a bundled prior: ``python -m exvc.prior.train --out exvc/prior/bundled/NAME``.

A small pixel-space diffusers UNet (frames pixel-unshuffled by 2, condition concatenated) is
trained with the standard denoising loss, predicting the clean sample, on random crops of
still photographs paired with their :func:`degrade` copies, at the low timesteps the few-step
sampler visits. The photographs are the twelve of :mod:`exvc.prior.data`, or with
``--corpus DIR`` the training split of the built photo corpus (docs/prior_corpus.md; the
held-back split is never read). Everything is seeded: the same command on the same torch
build and thread count gives the same weights (with ``--codec-share`` too, since libx265
codes a clip to the same bytes every time: exvc.media.filled_memory). It writes the
diffusers folders, the spec file, ``training.json`` (sources, settings, loss log, weights'
SHA-256) and a loss-curve PNG.

Long runs outlive a session, so ``--checkpoint DIR`` saves everything the run's future
depends on (weights, EMA, optimiser, generator states, step, loss log; once, the coded clips
of ``--codec-share``) every ``--checkpoint-every`` steps, and the same command with
``--resume`` continues from there to the same weights, bit for bit, as a run never
interrupted (same torch build and threads).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from exvc.models.threads import torch_threads
from exvc.prior.bundled import RECORD_FILE
from exvc.prior.data import SOURCES, load_all
from exvc.prior.degrade import MIN_FACTOR, degrade
from exvc.prior.loader import SPEC_FILE, load_prior
from exvc.prior.photos import (
    CorpusSplitError,
    corpus_summary,
    load_rgb8,
    peak_rss_mib,
    split_entries,
)

UNSHUFFLE = 2
MAX_TIMESTEP = 500  # the sampler never starts above this (exvc.encode.dinr)
LOG_EVERY = 25  # steps per loss-log entry
CHECKPOINT_FILE = "checkpoint.pt"
POOL_FILE = "pool.pt"  # the coded clips of a --codec-share run, saved once beside it
CHECKPOINT_FORMAT = 1


class TrainError(Exception):
    """A run that cannot start or resume as asked; ``main`` prints it as one line."""


def default_unet():
    from diffusers import UNet2DModel

    c = 3 * UNSHUFFLE**2
    return UNet2DModel(
        sample_size=48, in_channels=2 * c, out_channels=c, block_out_channels=(64, 96, 128),
        layers_per_block=1, down_block_types=("DownBlock2D",) * 3,
        up_block_types=("UpBlock2D",) * 3, norm_num_groups=16, add_attention=False,
    )


def default_scheduler():
    from diffusers import DDIMScheduler

    return DDIMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2",
                         prediction_type="sample", clip_sample=False)


def _pyramid(photo: torch.Tensor, patch: int) -> list[torch.Tensor]:
    """The photo at scales 1, 1/sqrt2, 1/2, ... down to about the patch size. A uint8 photo
    (0-255) gives uint8 levels, each rounded from the float area average: a quarter of the
    memory of float32, which the corpus needs (crops are made float in :func:`_batch`)."""
    as_bytes = photo.dtype == torch.uint8
    src = photo.float()[None] if as_bytes else photo[None]
    levels = [photo[None]]
    scale = 1.0
    while True:
        scale /= math.sqrt(2)
        h, w = round(photo.shape[1] * scale), round(photo.shape[2] * scale)
        if min(h, w) < patch:
            return levels
        level = F.interpolate(src, size=(h, w), mode="area")
        levels.append(level.round().clamp(0, 255).to(torch.uint8) if as_bytes else level)


def load_photos(corpus: Path | None, patch: int
                ) -> tuple[list[list[torch.Tensor]], list[dict], dict | None]:
    """Pyramids of the training photographs, their sources for the record, and (with a
    corpus) the corpus summary. Without a corpus: the twelve photographs of
    :mod:`exvc.prior.data` as float32, exactly as the bundled priors were trained. With one:
    its ``train`` split only, as uint8; a photograph smaller than ``patch`` is skipped."""
    if corpus is None:
        photos = load_all()
        sources = [{"package": s.package, "path": s.path, "licence": s.licence,
                    "credit": s.credit} for s in SOURCES]
        return [_pyramid(torch.from_numpy(p), patch) for _, p in photos], sources, None
    levels, sources = [], []
    for entry in split_entries(corpus, "train"):
        photo = load_rgb8(Path(corpus) / entry["file"])
        if min(photo.shape[-2:]) < patch:
            continue
        levels.append(_pyramid(photo, patch))
        sources.append({k: entry.get(k) for k in ("file", "package", "version", "path",
                                                  "member", "licence", "credit", "source")
                        if entry.get(k)})
    if not levels:
        raise TrainError(f"{corpus}: no training photograph is at least {patch} pixels a side")
    summary = corpus_summary(corpus, "train")
    summary["used"] = len(levels)
    return levels, sources, summary


class _FloatPhotos(Sequence):
    """uint8 pyramids seen as float [0, 1] ones, one photograph at a time (the codec pool's
    input), leaving out photographs too small for a coded clip."""

    def __init__(self, levels: list[list[torch.Tensor]], least: int) -> None:
        self.levels = [lv for lv in levels if min(lv[0].shape[-2:]) >= least]

    def __len__(self) -> int:
        return len(self.levels)

    def __getitem__(self, i):  # type: ignore[override]
        return [lv.float() / 255 for lv in self.levels[i]]


def _batch(levels: list[list[torch.Tensor]], batch: int, patch: int,
           gen: torch.Generator) -> torch.Tensor:
    out = torch.empty(batch, 3, patch, patch)
    for i in range(batch):
        photo = levels[int(torch.randint(len(levels), (), generator=gen))]
        img = photo[int(torch.randint(len(photo), (), generator=gen))][0]
        y = int(torch.randint(img.shape[1] - patch + 1, (), generator=gen))
        x = int(torch.randint(img.shape[2] - patch + 1, (), generator=gen))
        crop = img[:, y : y + patch, x : x + patch]
        if float(torch.rand((), generator=gen)) < 0.5:
            crop = crop.flip(-1)
        out[i] = crop.float() / 255 if crop.dtype == torch.uint8 else crop
    return out


def _settings(out: Path, steps: int, batch: int, patch: int, lr: float, seed: int,
              plot: Path | None, init: Path | None, restore: float, name: str,
              min_factor: float, codec_share: float, pool_clips: int, corpus: Path | None,
              checkpoint_every: int, device: str = "cpu") -> dict:
    """Every argument of a run but ``--resume`` and ``--checkpoint``: a checkpoint continues
    only the same run. The device is named only when it is not the CPU, so that CPU runs
    keep the settings (and checkpoints) they had before ``--device`` existed."""
    def path(p: Path | None) -> str | None:
        return None if p is None else os.path.abspath(os.path.expanduser(str(p)))

    return {"out": path(out), "steps": steps, "batch": batch, "patch": patch, "lr": lr,
            "seed": seed, "plot": path(plot), "init": path(init), "restore": restore,
            "name": name, "min_factor": min_factor, "codec_share": codec_share,
            "pool_clips": pool_clips, "corpus": path(corpus),
            "checkpoint_every": checkpoint_every, "threads": torch.get_num_threads(),
            **({"device": device} if device != "cpu" else {})}


def _command(s: dict, out: Path, init: Path | None, corpus: Path | None) -> str:
    """The command line that reproduces the weights, as the record keeps it."""
    return (f"python -m exvc.prior.train --out {out} --steps {s['steps']} --batch {s['batch']} "
            f"--patch {s['patch']} --lr {s['lr']} --seed {s['seed']} --restore {s['restore']} "
            f"--name {s['name']}"
            + (f" --init {init}" if init is not None else "")
            + (f" --min-factor {s['min_factor']}" if s["min_factor"] != MIN_FACTOR else "")
            + (f" --codec-share {s['codec_share']} --pool-clips {s['pool_clips']}"
               if s["codec_share"] > 0 else "")
            + (f" --corpus {corpus}" if corpus is not None else "")
            + f" --threads {s['threads']}"
            + (f" --device {s['device']}" if "device" in s else ""))


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _open_checkpoint(checkpoint: Path | None, resume: bool, settings: dict) -> dict | None:
    """The checkpoint to resume from, or None to start afresh; refuses (TrainError) to resume
    without one, to resume another run's, or to start over one that is already there."""
    if checkpoint is None:
        if resume:
            raise TrainError("--resume needs --checkpoint DIR")
        if settings["checkpoint_every"]:
            raise TrainError("--checkpoint-every needs --checkpoint DIR")
        return None
    path = Path(checkpoint) / CHECKPOINT_FILE
    if not resume:
        if path.exists():
            raise TrainError(f"{path} already holds a run; add --resume to continue it, or "
                             "give another --checkpoint folder")
        return None
    if not path.is_file():
        raise TrainError(f"--resume: no checkpoint in {checkpoint}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise TrainError(f"{path}: checkpoint format {state.get('format')}, this trainer "
                         f"reads {CHECKPOINT_FORMAT}")
    theirs = state["settings"]
    differ = [k for k in sorted(set(theirs) | set(settings)) if theirs.get(k) != settings.get(k)]
    if differ:
        raise TrainError(f"{path} was written by another run: " + ", ".join(
            f"{_flag(k)} {theirs.get(k)} there, {settings.get(k)} here" for k in differ)
            + "; resume with the arguments it was started with")
    return state


def _atomic_save(folder: Path, name: str, obj: dict) -> None:
    """torch.save ``obj`` to ``folder/name`` atomically: a temporary file in the same folder,
    flushed to disk, then renamed over the old one, so an interruption leaves the previous
    file whole."""
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, folder / name)
    finally:
        tmp.unlink(missing_ok=True)


def _pool_digest(pool: list) -> str:
    """SHA-256 of the coded clips, for the record and to check a saved pool."""
    h = hashlib.sha256()
    for clip in pool:
        h.update(clip.label.encode())
        for t in (clip.clean, clip.degraded):
            h.update(t.detach().contiguous().float().numpy().tobytes())
    return h.hexdigest()


def _save_pool(checkpoint: Path, pool: list) -> None:
    """Keep the coded clips beside the checkpoint. A resumed run reads them back instead of
    coding them again, so that it ends where an uninterrupted one does even where a codec's
    bytes depend on its version or on the machine."""
    _atomic_save(checkpoint, POOL_FILE, {
        "labels": [c.label for c in pool], "clean": [c.clean for c in pool],
        "degraded": [c.degraded for c in pool]})


def _load_pool(checkpoint: Path, digest: str | None) -> list:
    from exvc.prior.codec_degrade import CodedClip

    path = Path(checkpoint) / POOL_FILE
    if not path.is_file():
        raise TrainError(f"--resume: {path} is missing (the run's coded clips)")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    pool = [CodedClip(c, d, label) for label, c, d in
            zip(saved["labels"], saved["clean"], saved["degraded"], strict=True)]
    if _pool_digest(pool) != digest:
        raise TrainError(f"{path} is not the pool the checkpoint was trained on")
    return pool


def train(out: Path, steps: int, batch: int, patch: int, lr: float, seed: int,
          plot: Path | None, init: Path | None = None,
          restore: float = 0.0, name: str | None = None,
          min_factor: float = MIN_FACTOR, codec_share: float = 0.0,
          pool_clips: int = 0, corpus: Path | None = None, checkpoint: Path | None = None,
          checkpoint_every: int = 0, resume: bool = False, device: str = "cpu") -> dict:
    """Train and write the prior at ``out``; returns the training record. It runs at torch's
    current thread count (``main`` sets ``--threads`` around it) and records that count.

    ``corpus``: a built corpus folder, whose training split replaces the twelve photographs.
    ``checkpoint``: a folder for the resumable state, saved every ``checkpoint_every`` steps
    (0: at the end only); ``resume`` continues the run saved there. Raises TrainError when
    asked to resume what cannot be resumed. ``device``: where the network trains (the GPU
    recipe, scripts/prior_gpu.py); batches, noise and timesteps are still drawn on the CPU
    from the seeded generator, so the data a run sees does not depend on the device."""
    name = name or out.name
    settings = _settings(out, steps, batch, patch, lr, seed, plot, init, restore, name,
                         min_factor, codec_share, pool_clips, corpus, checkpoint_every, device)
    state = _open_checkpoint(checkpoint, resume, settings)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    start = time.time()
    levels, sources, corpus_record = load_photos(corpus, patch)
    load_rss = peak_rss_mib()
    print(f"{len(levels)} photographs loaded in {time.time() - start:.0f}s, peak RSS "
          f"{load_rss:.0f} MiB", flush=True)
    pool = []
    if codec_share > 0 and state is not None:  # the generator's state comes from the checkpoint
        pool = _load_pool(Path(checkpoint), state["pool_sha256"])
    elif codec_share > 0:
        from exvc.prior.codec_degrade import CLIP_SIZE, make_pool

        photos = levels if corpus is None else _FloatPhotos(levels, CLIP_SIZE + 24)
        pool = make_pool(photos, pool_clips, gen, lambda k, n: print(
            f"coded clip {k}/{n} {time.time() - start:.0f}s", flush=True) if k % 50 == 0
            else None)
        if checkpoint is not None:
            _save_pool(Path(checkpoint), pool)
    pool_digest = _pool_digest(pool) if pool else None
    dev = torch.device(device)
    unet, sched = default_unet(), default_scheduler()
    init_digest = None
    if init is not None:
        initial = load_prior(init)
        init_digest = initial.digest.hex()
        unet.load_state_dict(initial.unet.state_dict())
        unet.requires_grad_(True)
    unet.to(dev)
    ema = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    alphas = sched.alphas_cumprod
    log: list[tuple[int, float]] = []
    running, first, seconds_before, pool_seconds, sessions = 0.0, 0, 0.0, 0.0, []
    if state is not None:
        unet.load_state_dict(state["unet"])
        ema = {k: v.to(dev) for k, v in state["ema"].items()}
        opt.load_state_dict(state["optimizer"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        first, running = int(state["step"]), float(state["running"])
        log = [(int(s), float(v)) for s, v in state["log"]]
        seconds_before, pool_seconds = float(state["seconds"]), float(state["pool_seconds"])
        sessions = list(state["sessions"])
        print(f"resumed {checkpoint} at step {first}/{steps}", flush=True)
    t0 = time.time()
    pool_seconds += t0 - start

    def snapshot(step: int) -> None:
        session = {"from_step": first, "to_step": step, "seconds": round(time.time() - t0, 1)}
        _atomic_save(Path(checkpoint), CHECKPOINT_FILE, {
            "format": CHECKPOINT_FORMAT, "settings": settings, "step": step,
            "unet": unet.state_dict(), "ema": ema, "optimizer": opt.state_dict(),
            "generator": gen.get_state(), "torch_rng": torch.get_rng_state(),
            "running": running, "log": [list(e) for e in log],
            "seconds": seconds_before + time.time() - t0, "pool_seconds": pool_seconds,
            "sessions": sessions + [session], "pool_sha256": pool_digest,
            "torch": str(torch.__version__)})

    for step in range(first, steps):
        warm = min(1.0, (step + 1) / 200)
        for g in opt.param_groups:
            g["lr"] = lr * warm * 0.5 * (1 + math.cos(math.pi * step / steps))
        clean = _batch(levels, batch, patch, gen)
        cond = degrade(clean, gen, min_factor=min_factor)
        if pool:  # a share of each batch from the coded clips, the rest blurred as before
            from exvc.prior.codec_degrade import pool_batch

            coded = int(round(codec_share * batch))
            clean[:coded], cond[:coded] = pool_batch(pool, coded, patch, gen)
        x0 = F.pixel_unshuffle(clean * 2 - 1, UNSHUFFLE).to(dev)
        c = F.pixel_unshuffle(cond * 2 - 1, UNSHUFFLE).to(dev)
        t = torch.randint(0, MAX_TIMESTEP, (batch,), generator=gen)
        a = alphas[t].view(-1, 1, 1, 1).to(dev)
        # With probability ``restore`` the noisy sample is built from the condition, as the
        # sampler builds its first step from the INR frame, not from the clean sample.
        first_sample = x0
        if restore > 0:
            pick = torch.rand(batch, 1, 1, 1, generator=gen) < restore
            first_sample = torch.where(pick.to(dev), c, x0)
        noise = torch.randn(x0.shape, generator=gen).to(dev)
        noisy = a.sqrt() * first_sample + (1 - a).sqrt() * noise
        pred = unet(torch.cat([noisy, c], 1), t.to(dev)).sample
        loss = F.mse_loss(pred, x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for k, v in unet.state_dict().items():
                ema[k].mul_(0.998).add_(v.detach(), alpha=0.002)
        running += loss.item()
        if (step + 1) % LOG_EVERY == 0:
            log.append((step + 1, running / LOG_EVERY))
            print(f"step {step + 1}/{steps} loss {running / LOG_EVERY:.5f} "
                  f"{seconds_before + time.time() - t0:.0f}s", flush=True)
            running = 0.0
        if checkpoint is not None and checkpoint_every and (step + 1) % checkpoint_every == 0 \
                and step + 1 < steps:
            snapshot(step + 1)
    if checkpoint is not None:
        snapshot(steps)
    seconds = seconds_before + time.time() - t0
    sessions.append({"from_step": first, "to_step": steps, "seconds": round(time.time() - t0, 1)})
    unet.load_state_dict(ema)
    unet.to("cpu")
    out.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(out / "unet", safe_serialization=True)
    sched.save_pretrained(out / "scheduler")
    (out / SPEC_FILE).write_text(json.dumps(
        {"name": name, "unshuffle": UNSHUFFLE}, indent=2) + "\n")
    digest = load_prior(out).digest.hex()
    pool_record = None
    if pool:  # codec_degrade needs PyAV, which a GPU machine lacks (only for --codec-share)
        from exvc.prior.codec_degrade import pool_stats

        pool_record = pool_stats(pool) | {"sha256": pool_digest}
    record = {
        "command": _command(settings, out, init, corpus),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type,
        "seconds": round(seconds), "parameters": sum(p.numel() for p in unet.parameters()),
        "pool_seconds": round(pool_seconds), "codec_share": codec_share,
        "pool": pool_record,
        "codecs": _codec_versions() if pool else None,
        "corpus": corpus_record, "load_peak_rss_mib": round(load_rss),
        "checkpoint": None if checkpoint is None else {
            "dir": str(checkpoint), "every": checkpoint_every, "sessions": sessions},
        "sources": sources,
        "max_timestep": MAX_TIMESTEP, "ema_decay": 0.998, "restore": restore,
        "min_factor": min_factor,
        "init_digest_sha256": init_digest, "digest_sha256": digest,
        "loss_every_25_steps": [[s, round(v, 6)] for s, v in log],
    }
    (out / RECORD_FILE).write_text(json.dumps(record, indent=1) + "\n")
    if plot is not None:
        _plot(log, plot, f"{name}: training loss"
              + (f" (restore {restore})" if restore else ""))
    return record


def _codec_versions() -> dict[str, str]:
    """The libraries that coded the training clips: the pool depends on their versions."""
    import av

    from exvc.media.base_codecs import vvc_ffmpeg

    ffmpeg = vvc_ffmpeg()
    return {"pyav": av.__version__, "ffmpeg_libraries": av.library_versions.get(
        "libavcodec", ("?",)).__str__(), "vvc_ffmpeg": ffmpeg.version if ffmpeg else "none"}


def _plot(log: list[tuple[int, float]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([s for s, _ in log], [v for _, v in log])
    ax.set_xlabel("step")
    ax.set_ylabel("denoising MSE (sample space)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m exvc.prior.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--steps", type=int, default=4000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--patch", type=int, default=96)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot", type=Path, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--init", type=Path, default=None,
                   help="start from this prior's UNet (fine-tuning) instead of random weights")
    p.add_argument("--restore", type=float, default=0.0,
                   help="fraction of samples noised from the condition instead of the clean crop")
    p.add_argument("--name", default=None, help="the prior's name (default: the --out folder's)")
    p.add_argument("--min-factor", type=float, default=MIN_FACTOR,
                   help="mildest blur of the condition, as a down-sampling factor (1: none)")
    p.add_argument("--codec-share", type=float, default=0.0,
                   help="share of each batch conditioned on base-codec frames (exvc 2's "
                        "condition) instead of the blur")
    p.add_argument("--pool-clips", type=int, default=400,
                   help="coded clips made before training when --codec-share is set")
    p.add_argument("--corpus", type=Path, default=None,
                   help="a built photo corpus folder (scripts/prior_corpus.py writes "
                        "~/.cache/exvc/prior-corpus/images): train on its train split instead "
                        "of the twelve photographs; its held-back split is never read")
    p.add_argument("--checkpoint", type=Path, default=None,
                   help="folder for the resumable state (checkpoint.pt, written atomically)")
    p.add_argument("--checkpoint-every", type=int, default=0,
                   help="save the state every N steps (0: at the end only)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in --checkpoint; every other argument must be "
                        "the one it was started with")
    p.add_argument("--device", default="cpu",
                   help="where the network trains: cpu, or cuda on a GPU machine "
                        "(scripts/prior_gpu.py); the data are drawn on the CPU either way")
    a = p.parse_args(argv)
    try:
        with torch_threads(a.threads):  # the program's whole run, restored for a caller of main
            record = train(a.out, a.steps, a.batch, a.patch, a.lr, a.seed, a.plot, a.init,
                           a.restore, a.name, a.min_factor, a.codec_share, a.pool_clips,
                           corpus=a.corpus, checkpoint=a.checkpoint,
                           checkpoint_every=a.checkpoint_every, resume=a.resume,
                           device=a.device)
    except (TrainError, CorpusSplitError) as exc:
        print(f"{p.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {a.out} ({record['parameters']} parameters, sha256 {record['digest_sha256']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
