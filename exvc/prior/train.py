"""Train a bundled prior: ``python -m exvc.prior.train --out exvc/prior/bundled/NAME``.

A small pixel-space diffusers UNet (frames pixel-unshuffled by 2, condition concatenated) is
trained with the standard denoising loss, predicting the clean sample, on random crops of the
still photographs in :mod:`exvc.prior.data` paired with their :func:`degrade` copies, at the
low timesteps the few-step sampler visits. Everything is seeded: the same command on the same
torch build and thread count gives the same weights. It writes the diffusers folders, the
spec file, ``training.json`` (sources, settings, loss log, weights' SHA-256) and a loss-curve
PNG.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from exvc.models.threads import torch_threads
from exvc.prior.bundled import RECORD_FILE
from exvc.prior.codec_degrade import pool_batch
from exvc.prior.data import SOURCES, load_all
from exvc.prior.degrade import MIN_FACTOR, degrade
from exvc.prior.loader import SPEC_FILE, load_prior

UNSHUFFLE = 2
MAX_TIMESTEP = 500  # the sampler never starts above this (exvc.encode.dinr)


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
    """The photo at scales 1, 1/sqrt2, 1/2, ... down to about the patch size."""
    levels = [photo[None]]
    scale = 1.0
    while True:
        scale /= math.sqrt(2)
        h, w = round(photo.shape[1] * scale), round(photo.shape[2] * scale)
        if min(h, w) < patch:
            return levels
        levels.append(F.interpolate(photo[None], size=(h, w), mode="area"))


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
        out[i] = crop
    return out


def train(out: Path, steps: int, batch: int, patch: int, lr: float, seed: int,
          plot: Path | None, init: Path | None = None,
          restore: float = 0.0, name: str | None = None,
          min_factor: float = MIN_FACTOR, codec_share: float = 0.0,
          pool_clips: int = 0) -> dict:
    """Train and write the prior at ``out``; returns the training record. It runs at torch's
    current thread count (``main`` sets ``--threads`` around it) and records that count."""
    name = name or out.name
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    start = time.time()
    photos = load_all()
    levels = [_pyramid(torch.from_numpy(p), patch) for _, p in photos]
    pool = []
    if codec_share > 0:
        from exvc.prior.codec_degrade import make_pool, pool_stats

        pool = make_pool(levels, pool_clips, gen, lambda k, n: print(
            f"coded clip {k}/{n} {time.time() - start:.0f}s", flush=True) if k % 50 == 0
            else None)
    unet, sched = default_unet(), default_scheduler()
    init_digest = None
    if init is not None:
        initial = load_prior(init)
        init_digest = initial.digest.hex()
        unet.load_state_dict(initial.unet.state_dict())
        unet.requires_grad_(True)
    ema = {k: v.detach().clone() for k, v in unet.state_dict().items()}
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    alphas = sched.alphas_cumprod
    log: list[tuple[int, float]] = []
    running, t0 = 0.0, time.time()
    for step in range(steps):
        warm = min(1.0, (step + 1) / 200)
        for g in opt.param_groups:
            g["lr"] = lr * warm * 0.5 * (1 + math.cos(math.pi * step / steps))
        clean = _batch(levels, batch, patch, gen)
        cond = degrade(clean, gen, min_factor=min_factor)
        if pool:  # a share of each batch from the coded clips, the rest blurred as before
            coded = int(round(codec_share * batch))
            clean[:coded], cond[:coded] = pool_batch(pool, coded, patch, gen)
        x0 = F.pixel_unshuffle(clean * 2 - 1, UNSHUFFLE)
        c = F.pixel_unshuffle(cond * 2 - 1, UNSHUFFLE)
        t = torch.randint(0, MAX_TIMESTEP, (batch,), generator=gen)
        a = alphas[t].view(-1, 1, 1, 1)
        # With probability ``restore`` the noisy sample is built from the condition, as the
        # sampler builds its first step from the INR frame, not from the clean sample.
        first = x0
        if restore > 0:
            first = torch.where(torch.rand(batch, 1, 1, 1, generator=gen) < restore, c, x0)
        noisy = a.sqrt() * first + (1 - a).sqrt() * torch.randn(x0.shape, generator=gen)
        pred = unet(torch.cat([noisy, c], 1), t).sample
        loss = F.mse_loss(pred, x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for k, v in unet.state_dict().items():
                ema[k].mul_(0.998).add_(v.detach(), alpha=0.002)
        running += loss.item()
        if (step + 1) % 25 == 0:
            log.append((step + 1, running / 25))
            print(f"step {step + 1}/{steps} loss {running / 25:.5f} "
                  f"{time.time() - t0:.0f}s", flush=True)
            running = 0.0
    unet.load_state_dict(ema)
    out.mkdir(parents=True, exist_ok=True)
    unet.save_pretrained(out / "unet", safe_serialization=True)
    sched.save_pretrained(out / "scheduler")
    (out / SPEC_FILE).write_text(json.dumps(
        {"name": name, "unshuffle": UNSHUFFLE}, indent=2) + "\n")
    digest = load_prior(out).digest.hex()
    record = {
        "command": f"python -m exvc.prior.train --out {out} --steps {steps} --batch {batch} "
                   f"--patch {patch} --lr {lr} --seed {seed} --restore {restore} --name {name}"
                   + (f" --init {init}" if init is not None else "")
                   + (f" --min-factor {min_factor}" if min_factor != MIN_FACTOR else "")
                   + (f" --codec-share {codec_share} --pool-clips {pool_clips}"
                      if codec_share > 0 else ""),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "seconds": round(time.time() - t0), "parameters": sum(p.numel() for p in unet.parameters()),
        "pool_seconds": round(t0 - start), "codec_share": codec_share,
        "pool": pool_stats(pool) if pool else None, "codecs": _codec_versions() if pool else None,
        "sources": [{"package": s.package, "path": s.path, "licence": s.licence,
                     "credit": s.credit} for s in SOURCES],
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


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m exvc.prior.train", description=__doc__)
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
    a = p.parse_args(argv)
    with torch_threads(a.threads):  # the program's whole run, restored for a caller of main
        record = train(a.out, a.steps, a.batch, a.patch, a.lr, a.seed, a.plot, a.init,
                       a.restore, a.name, a.min_factor, a.codec_share, a.pool_clips)
    print(f"wrote {a.out} ({record['parameters']} parameters, sha256 {record['digest_sha256']})")


if __name__ == "__main__":
    main()
