"""Benchmark results as JSON, a Markdown report (tables and BD figures) and RD plots (PNG)."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from exvc.bench.bd import bd_metric, bd_rate
from exvc.bench.run import ClipInfo, Result

# (field, label, higher is better)
METRICS: tuple[tuple[str, str, bool], ...] = (
    ("psnr", "PSNR dB", True),
    ("psnr_y", "PSNR-Y dB", True),
    ("ms_ssim", "MS-SSIM", True),
    ("st_lpips", "ST-LPIPS", False),
    ("vmaf", "VMAF", True),
    ("flicker", "flicker", False),
    ("fid", "FID", False),
)
BD_METRICS = ("psnr", "psnr_y", "ms_ssim", "st_lpips", "vmaf")
BD_RATE_METRICS = ("psnr", "st_lpips", "vmaf")
CODEC_LABELS = {"dinr": "exvc (dinr)", "inr": "exvc (inr)", "x264": "x264", "x265": "x265",
                "svtav1": "SVT-AV1", "vvc": "VVC (vvenc)"}


def label(codec: str) -> str:
    return CODEC_LABELS.get(codec, codec)


def _finite(value: Any) -> Any:
    """JSON-safe: non-finite floats become null (PSNR of identical frames is inf)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def curve(results: Sequence[Result], clip: str, codec: str, metric: str
          ) -> tuple[list[float], list[float]]:
    """(bpp, metric) of a codec's distinct scored points on a clip, by rate.

    A codec that cannot reach two low targets reports the same smallest stream for both;
    that is one point on its curve, not two."""
    points = sorted({(r.bpp, getattr(r, metric)) for r in results
                     if r.clip == clip and r.codec == codec and r.scored
                     and getattr(r, metric) is not None})
    return [p[0] for p in points], [p[1] for p in points]


def bd_table(results: Sequence[Result], clips: Sequence[ClipInfo], anchor: str
             ) -> list[dict[str, Any]]:
    """BD figures of every codec against ``anchor``, per clip."""
    codecs = list(dict.fromkeys(r.codec for r in results))
    rows = []
    for clip in clips:
        for codec in codecs:
            if codec == anchor:
                continue
            row: dict[str, Any] = {"clip": clip.name, "codec": codec, "anchor": anchor}
            for metric in BD_METRICS:
                row[f"bd_{metric}"] = bd_metric(*curve(results, clip.name, anchor, metric),
                                                *curve(results, clip.name, codec, metric))
            for metric in BD_RATE_METRICS:
                row[f"bd_rate_{metric}"] = bd_rate(*curve(results, clip.name, anchor, metric),
                                                   *curve(results, clip.name, codec, metric))
            rows.append(row)
    return rows


def from_json(text: str) -> tuple[list[ClipInfo], list[Result], dict[str, Any],
                                  dict[str, Any], dict[str, str]]:
    """Clips, results, settings, machine and unavailable metrics of a ``results.json``."""
    doc = json.loads(text)
    clips = [ClipInfo(**{**c, "yuv420p_ceiling_psnr": c["yuv420p_ceiling_psnr"]
                         if c["yuv420p_ceiling_psnr"] is not None else math.nan})
             for c in doc["clips"]]
    results = [Result(**r) for r in doc["results"]]
    return clips, results, doc["settings"], doc["machine"], doc["unavailable_metrics"]


def to_json(clips: Sequence[ClipInfo], results: Sequence[Result], bd: list[dict[str, Any]],
            settings: dict[str, Any], machine: dict[str, Any], missing: dict[str, str]) -> str:
    doc = {"machine": machine, "settings": settings, "unavailable_metrics": missing,
           "clips": [asdict(c) for c in clips], "results": [asdict(r) for r in results],
           "bd": bd}
    return json.dumps(_finite(doc), indent=2, allow_nan=False) + "\n"


def _num(value: float | None, fmt: str) -> str:
    return "—" if value is None or not math.isfinite(value) else format(value, fmt)


RESULT_COLUMNS = ("target bpp", "codec", "setting", "bytes", "bpp", "vs target", "PSNR",
                  "PSNR-Y", "MS-SSIM", "ST-LPIPS", "VMAF", "flicker", "enc s", "dec fps",
                  "peak MB enc/dec")


def result_cells(r: Result) -> list[str]:
    setting = r.setting or ""
    if r.status != "matched":
        setting = f"{setting} **{r.status}**".strip()
    if r.note:
        setting += f" ({r.note})"
    peak = "—"
    if r.encode_peak_mb is not None and r.decode_peak_mb is not None:
        peak = f"{r.encode_peak_mb:.0f} / {r.decode_peak_mb:.0f}"
    error = None if r.rate_error is None else 100 * r.rate_error
    return [f"{r.target_bpp:g}", label(r.codec), setting, _num(r.bytes, "d"),
            _num(r.bpp, ".4f"), _num(error, "+.1f") + ("%" if error is not None else ""),
            _num(r.psnr, ".2f"), _num(r.psnr_y, ".2f"), _num(r.ms_ssim, ".4f"),
            _num(r.st_lpips, ".4f"), _num(r.vmaf, ".2f"), _num(r.flicker, ".2f"),
            _num(r.encode_s, ".2f"), _num(r.decode_fps, ".0f"), peak]


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], left: int) -> list[str]:
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|"]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]


BD_HEADER = ("codec", "BD-PSNR dB", "BD-PSNR-Y dB", "BD-MS-SSIM", "BD-LPIPS", "BD-VMAF",
             "BD-rate PSNR", "BD-rate LPIPS", "BD-rate VMAF")


def bd_cells(row: dict[str, Any]) -> list[str]:
    def pct(v: float | None) -> str:
        return "—" if v is None else f"{v:+.1f}%"

    return [label(row["codec"]), _num(row["bd_psnr"], "+.2f"), _num(row["bd_psnr_y"], "+.2f"),
            _num(row["bd_ms_ssim"], "+.4f"), _num(row["bd_st_lpips"], "+.4f"),
            _num(row["bd_vmaf"], "+.2f"), pct(row["bd_rate_psnr"]),
            pct(row["bd_rate_st_lpips"]), pct(row["bd_rate_vmaf"])]


def to_markdown(clips: Sequence[ClipInfo], results: Sequence[Result],
                bd: list[dict[str, Any]], anchor: str, machine_line: str,
                missing: dict[str, str], plots: dict[str, str]) -> str:
    out = [f"Machine: {machine_line}", ""]
    for name, why in missing.items():
        out.append(f"- `{name}` not measured: {why}")
    if missing:
        out.append("")
    for clip in clips:
        out += [f"### {clip.name}: {clip.width}×{clip.height}, {clip.frames} frames, "
                f"{clip.fps:g} fps", "",
                f"yuv420p round trip alone: {_num(clip.yuv420p_ceiling_psnr, '.2f')} dB "
                "(the ceiling of every conventional anchor).", ""]
        rows = [result_cells(r) for r in results if r.clip == clip.name]
        out += _table(RESULT_COLUMNS, rows, left=3) + [""]
        bd_rows = [bd_cells(row) for row in bd if row["clip"] == clip.name]
        if bd_rows:
            out += [f"Bjøntegaard deltas against {label(anchor)} (a dash: the curves do not "
                    "overlap, or too few points):", ""]
            out += _table(BD_HEADER, bd_rows, left=1) + [""]
        if clip.name in plots:
            out += [f"![rate–quality curves, {clip.name}]({plots[clip.name]})", ""]
    return "\n".join(out)


def plot_clip(results: Sequence[Result], clip: ClipInfo, path: Path) -> None:
    """One PNG per clip: each metric against bpp (log axis), one line per codec."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    shown = [m for m in METRICS if any(getattr(r, m[0]) is not None for r in results
                                       if r.clip == clip.name)]
    cols = 3
    rows = max(1, math.ceil(len(shown) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    codecs = list(dict.fromkeys(r.codec for r in results if r.clip == clip.name))
    ticks = sorted({r.target_bpp for r in results if r.clip == clip.name})
    for ax, (metric, name, higher) in zip(axes.flat, shown, strict=False):
        for codec in codecs:
            points = [r for r in results if r.clip == clip.name and r.codec == codec
                      and r.scored and getattr(r, metric) is not None]
            points.sort(key=lambda r: r.bpp)
            if not points:
                continue
            line, = ax.plot([r.bpp for r in points], [getattr(r, metric) for r in points],
                            marker="o", label=label(codec))
            off = [r for r in points if r.status != "matched"]
            if off:  # not at its target: drawn hollow
                ax.plot([r.bpp for r in off], [getattr(r, metric) for r in off], "o",
                        markerfacecolor="white", markeredgecolor=line.get_color())
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("bits per pixel")
        ax.set_title(name + ("" if higher else " (lower is better)"), fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False)
    fig.suptitle(f"{clip.name}: {clip.width}×{clip.height}, {clip.frames} frames "
                 "(hollow: not at its target rate)", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)
