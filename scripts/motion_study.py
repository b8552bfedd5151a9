"""Global-motion estimators compared: exvc's (phase correlation + L-BFGS through the decoder's
warp, ``exvc.encode.motion_estimation``) against OpenCV's ECC (``cv2.findTransformECC``, if
``opencv-python-headless`` is installed; it is not an exvc dependency).

For every frame between anchors (every ``--step`` frames) of the first 64 frames of each
development clip, each estimator finds the affine warp of the previous anchor onto the frame
on the source; the warp is applied with the decoder's own ``exvc.media.global_motion.warp``
at quarter-pixel precision and the PSNR of the warped anchor against the frame is reported,
with the time taken. Results: docs/motion.md.

    python scripts/motion_study.py [--step 4]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

from exvc.bench.clips import development_clips, load_clip
from exvc.bitstream.anchors import uniform
from exvc.encode.motion_estimation import estimate_warps, to_params
from exvc.media.global_motion import warp

PRECISION = 2


def clip_tensor(spec) -> torch.Tensor:
    frames, _ = load_clip(spec, 64)
    v = torch.from_numpy(np.asarray(frames)).float()
    if v.shape[-1] == 3:
        v = v.permute(0, 3, 1, 2)
    return v / 255 if v.max() > 1.5 else v


def ecc_warps(video: torch.Tensor, step: int) -> list[torch.Tensor] | None:
    """Normalised (tx, ty, a, b, c, d) from OpenCV's ECC, warping the anchor onto each frame."""
    try:
        import cv2
    except ImportError:
        return None
    gray = (video.mean(1).numpy() * 255).astype(np.float32)
    _, h, w = gray.shape
    out = []
    for i in range(len(video)):
        if not i % step:
            continue
        anchor = gray[i - i % step]
        m = np.eye(2, 3, dtype=np.float32)
        try:
            _, m = cv2.findTransformECC(gray[i], anchor, m, cv2.MOTION_AFFINE,
                                        (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT,
                                         100, 1e-5), None, 5)
        except cv2.error:
            m = np.eye(2, 3, dtype=np.float32)
        # m maps frame pixel (x, y) to anchor pixel: x' = m00 x + m01 y + m02; in centred,
        # normalised coordinates (u = (x + 0.5) / (w / 2) - 1) that is theta.
        a, b, tx = float(m[0, 0]), float(m[0, 1]), float(m[0, 2])
        c, d, ty = float(m[1, 0]), float(m[1, 1]), float(m[1, 2])
        cx, cy = w / 2 - 0.5, h / 2 - 0.5
        t0 = (a * cx + b * cy + tx - cx) / (w / 2)
        t1 = (c * cx + d * cy + ty - cy) / (h / 2)
        out.append(torch.tensor([t0, t1, a - 1, b * h / w, c * w / h, d - 1],
                                dtype=torch.float64))
    return out


def psnr_of(video: torch.Tensor, step: int, warps) -> float:
    _, _, h, w = video.shape
    between = [i for i in range(len(video)) if i % step]
    err = 0.0
    for i, v in zip(between, warps, strict=True):
        pred = warp(video[i - i % step], to_params(v, PRECISION, h, w), PRECISION).clamp(0, 1)
        err += float(((pred - video[i]) ** 2).mean())
    return 10 * math.log10(len(between) / err)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(2)
    print("| clip | estimator | PSNR of the warped previous anchor (dB) | seconds |")
    print("|---|---|---:|---:|")
    for spec in development_clips():
        video = clip_tensor(spec)
        name = spec.path.rsplit("/", 1)[-1]
        between = [i for i in range(len(video)) if i % args.step]
        still = [torch.zeros(6, dtype=torch.float64)] * len(between)
        print(f"| {name} | none (the anchor as it is) | {psnr_of(video, args.step, still):.2f}"
              " | 0 |")
        start = time.perf_counter()
        ours = [p for p, _ in estimate_warps(video, uniform(len(video), args.step), affine=True)]
        took = time.perf_counter() - start
        print(f"| {name} | exvc (phase correlation + L-BFGS) | "
              f"{psnr_of(video, args.step, ours):.2f} | {took:.1f} |")
        start = time.perf_counter()
        ecc = ecc_warps(video, args.step)
        took = time.perf_counter() - start
        if ecc is None:
            print(f"| {name} | OpenCV ECC | (cv2 not installed) | |")
        else:
            print(f"| {name} | OpenCV ECC (affine) | {psnr_of(video, args.step, ecc):.2f} | "
                  f"{took:.1f} |")


if __name__ == "__main__":
    main()
