"""One benchmark run: every clip, every target rate, every codec, scored the same way."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from exvc.bench import anchors as anchor_codecs
from exvc.bench import exvc_codec
from exvc.bench.clips import ClipSpec, load_clip
from exvc.bench.isolate import isolated
from exvc.bench.metrics import ClipScore
from exvc.bench.stlpips import STLPIPS, MetricUnavailable
from exvc.bench.vmaf import available as vmaf_available
from exvc.bench.vmaf import vmaf
from exvc.bench.yuv import to_yuv420p
from exvc.media.ffmpeg_exe import Ffmpeg

EXVC_CODECS = ("dinr", "inr")
CODECS = EXVC_CODECS + tuple(anchor_codecs.ANCHORS)
# Settings a variant row may pin (``dinr:base_framestep=1:base_motion=0``): the encoder's
# choices that the CLI exposes, each with how its value is read.
VARIANT_OPTIONS = {"base": str, "base_scale": int, "base_framestep": int,
                   "base_motion": lambda v: bool(int(v)), "refresh_threshold": float,
                   "segment_frames": int, "seed": int, "prior": str}


def exvc_variant(name: str) -> tuple[str, dict[str, Any]] | None:
    """(exvc codec, pinned settings) of ``dinr``, ``inr`` or a variant such as
    ``dinr:base_framestep=1:base_motion=0`` (the same build with one choice pinned, so a
    lever is measured against the default in one run); None for an anchor's name. Raises
    ValueError for an unknown option or value."""
    codec, *pairs = name.split(":")
    if codec not in EXVC_CODECS:
        if pairs:
            raise ValueError(f"only exvc's codecs take options: {name}")
        return None
    pinned: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in VARIANT_OPTIONS:
            raise ValueError(f"unknown exvc option '{pair}' in {name} (options: "
                             f"{', '.join(VARIANT_OPTIONS)})")
        pinned[key] = VARIANT_OPTIONS[key](value)
    return codec, pinned
DEFAULT_RATES = (0.005, 0.01, 0.02, 0.035, 0.05)


@dataclass
class BenchConfig:
    """What to run and how."""

    clips: Sequence[ClipSpec]
    rates: Sequence[float] = DEFAULT_RATES
    codecs: Sequence[str] = CODECS
    frames: int = 64
    preset: str = "medium"
    threads: int | None = None
    tolerance: float = 0.03
    ffmpeg: Ffmpeg | None = None
    fid_weights: Path | None = None
    vmaf: bool = True
    stlpips: bool = True


@dataclass
class Result:
    """One codec on one clip at one target rate. Metrics are None where not measured."""

    clip: str
    target_bpp: float
    codec: str
    status: str  # matched, cannot reach, off target, unavailable, error
    target_bytes: int
    bytes: int | None = None
    bpp: float | None = None
    rate_error: float | None = None
    setting: str | None = None
    trials: int | None = None
    psnr: float | None = None
    psnr_y: float | None = None
    ms_ssim: float | None = None
    st_lpips: float | None = None
    vmaf: float | None = None
    flicker: float | None = None
    fid: float | None = None
    encode_s: float | None = None
    decode_fps: float | None = None
    encode_peak_mb: float | None = None
    decode_peak_mb: float | None = None
    note: str | None = None

    @property
    def scored(self) -> bool:
        return self.bytes is not None and self.psnr is not None


@dataclass
class ClipInfo:
    name: str
    path: str
    width: int
    height: int
    frames: int
    fps: float
    yuv420p_ceiling_psnr: float


@dataclass
class Scorer:
    """The metrics, each loaded once; those unavailable are recorded, not fatal."""

    config: BenchConfig
    missing: dict[str, str] = field(default_factory=dict)
    _stlpips: STLPIPS | None = None
    _fid: Any = None

    def __post_init__(self) -> None:
        if self.config.stlpips:
            try:
                self._stlpips = STLPIPS()
            except (MetricUnavailable, ImportError, OSError) as exc:
                self.missing["st_lpips"] = str(exc)
        else:
            self.missing["st_lpips"] = "turned off"
        if not self.config.vmaf:
            self.missing["vmaf"] = "turned off"
        elif not vmaf_available(self.config.ffmpeg):
            self.missing["vmaf"] = "no ffmpeg with libvmaf found (pip install imageio-ffmpeg)"
        if self.config.fid_weights is not None:
            from exvc.bench.fid import FrameFID

            self._fid = FrameFID(self.config.fid_weights)
        else:
            self.missing["fid"] = "needs --fid-weights (a local Inception TorchScript file)"

    def score(self, result: Result, ref: np.ndarray, decoded: np.ndarray, fps: Any) -> None:
        """Fill the quality fields of ``result``: ref float (T,3,H,W), decoded uint8."""
        if decoded.shape != ref.shape:
            raise RuntimeError(f"decoded {decoded.shape}, expected {ref.shape}")
        dist = decoded.astype(np.float32) / np.float32(255.0)
        pixels = ClipScore()
        for a, b in zip(ref, dist, strict=True):
            pixels.add(a, b)
        result.psnr, result.psnr_y = pixels.psnr, pixels.psnr_y
        result.ms_ssim, result.flicker = pixels.ms_ssim, pixels.flicker
        if self._stlpips is not None:
            result.st_lpips = self._stlpips.clip(list(ref), list(dist))
        if "vmaf" not in self.missing:
            result.vmaf = vmaf(self.config.ffmpeg, list(ref), list(dist), fps)
        if self._fid is not None:
            ref8 = np.rint(ref * 255.0).astype(np.uint8)
            result.fid = self._fid.distance(ref8, decoded)


def _pixels(info: ClipInfo) -> int:
    return info.width * info.height * info.frames


def run_exvc(codec: str, ref: np.ndarray, info: Any, clip: ClipInfo, bpp: float,
             config: BenchConfig, scorer: Scorer) -> Result:
    from exvc.encode.settings import EncodeSettings

    target = math.floor(bpp * _pixels(clip) / 8)
    result = Result(clip.name, bpp, codec, "error", target)
    variant = exvc_variant(codec)
    assert variant is not None
    settings = EncodeSettings(bpp=bpp, preset=config.preset, threads=config.threads,
                              codec=variant[0], **variant[1])
    enc = exvc_codec.encode(ref, info, settings)
    dec = exvc_codec.decode(enc["data"], config.threads, settings.prior)
    size = len(enc["data"])
    result.bytes, result.bpp = size, 8 * size / _pixels(clip)
    result.rate_error = size / target - 1.0
    result.status = "matched" if abs(result.rate_error) <= config.tolerance else "off target"
    result.setting = f"preset {config.preset}"
    result.encode_s, result.encode_peak_mb = enc["seconds"], enc["peak_mb"]
    result.decode_fps = clip.frames / dec["seconds"]
    result.decode_peak_mb = dec["peak_mb"]
    scorer.score(result, ref, dec["frames"], info.fps)
    return result


def run_anchor(name: str, ref: np.ndarray, yuv: anchor_codecs.Clip420 | None, clip: ClipInfo,
               bpp: float, config: BenchConfig, scorer: Scorer) -> Result:
    anchor = anchor_codecs.ANCHORS[name]
    target = math.floor(bpp * _pixels(clip) / 8)
    result = Result(clip.name, bpp, name, "unavailable", target)
    if anchor.via_ffmpeg and (config.ffmpeg is None
                              or anchor.encoder not in config.ffmpeg.encoders):
        result.note = f"no ffmpeg with {anchor.encoder} found"
        return result
    if yuv is None:
        result.note = "yuv420p needs an even width and height"
        return result
    match = isolated(anchor_codecs.search_job, anchor, yuv, target, config.tolerance,
                     config.ffmpeg)
    # The chosen setting once more in a fresh process, for its own time and memory. The
    # stream that is counted and scored is the searched one: some encoders (x265 with frame
    # threads) do not repeat themselves byte for byte.
    cost = isolated(anchor_codecs.measure, anchor, yuv, match.trial.setting, config.ffmpeg)
    trial = match.trial
    if cost.size != trial.size:
        result.note = f"timed re-encode was {cost.size - trial.size:+d} bytes"
    dec = isolated(anchor_codecs.measure_decode, anchor, trial.stream)
    result.status = match.status
    result.bytes, result.bpp = trial.size, 8 * trial.size / _pixels(clip)
    result.rate_error = trial.size / target - 1.0
    result.setting, result.trials = trial.setting.describe(anchor), len(match.trials)
    result.encode_s, result.encode_peak_mb = cost.seconds, cost.peak_mb
    result.decode_fps = clip.frames / dec["seconds"]
    result.decode_peak_mb = dec["peak_mb"]
    scorer.score(result, ref, dec["frames"], yuv.fps)
    return result


def prepare_clip(spec: ClipSpec, frames: int
                 ) -> tuple[np.ndarray, Any, ClipInfo, anchor_codecs.Clip420 | None]:
    """Load a clip; convert it to yuv420p for the anchors (None for odd sizes) and measure
    that round trip alone (the best an 8-bit 4:2:0 anchor can get)."""
    from exvc.bench.yuv import frame_to_rgb

    ref, info = load_clip(spec, frames)
    ceiling, yuv = math.nan, None
    if info.width % 2 == 0 and info.height % 2 == 0:
        converted = to_yuv420p(list(ref))
        score = ClipScore()
        for a, f in zip(ref, converted, strict=True):
            score.add(a, frame_to_rgb(f))
        ceiling = score.psnr
        planes = np.stack([f.to_ndarray(format="yuv420p") for f in converted])
        yuv = anchor_codecs.Clip420(planes, info.width, info.height, info.fps)
    clip = ClipInfo(spec.name, spec.path, info.width, info.height, len(ref), float(info.fps),
                    ceiling)
    return ref, info, clip, yuv


def run(config: BenchConfig, on_result: Callable[[Result], None] | None = None,
        on_start: Callable[[str, float, str], None] | None = None,
        ) -> tuple[list[ClipInfo], list[Result], dict[str, str]]:
    """Run every clip x rate x codec; failures become rows with status "error"."""
    scorer = Scorer(config)
    clips, results = [], []
    for spec in config.clips:
        ref, info, clip, yuv = prepare_clip(spec, config.frames)
        clips.append(clip)
        for bpp in config.rates:
            for codec in config.codecs:
                if on_start:
                    on_start(clip.name, bpp, codec)
                try:
                    if exvc_variant(codec) is not None:
                        result = run_exvc(codec, ref, info, clip, bpp, config, scorer)
                    else:
                        result = run_anchor(codec, ref, yuv, clip, bpp, config, scorer)
                except Exception as exc:  # recorded with the results; the run goes on
                    target = math.floor(bpp * _pixels(clip) / 8)
                    result = Result(clip.name, bpp, codec, "error", target,
                                    note=f"{type(exc).__name__}: {exc}")
                results.append(result)
                if on_result:
                    on_result(result)
    return clips, results, scorer.missing
