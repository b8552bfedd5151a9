"""Conventional codecs as rate-matched anchors: x264, x265 and SVT-AV1 through PyAV, VVC
(libvvenc) through an ffmpeg executable that has it.

Rate is counted from the elementary stream, the way a fair comparison with a whole ``.dinr``
file needs it: no container, parameter sets and sequence headers included, and the units that
carry no picture data removed with FFmpeg's ``filter_units`` bitstream filter: SEI NAL units
(H.264 type 6 holds x264's kilobyte-long settings string; HEVC 39/40; VVC 23/24), access unit
delimiters (H.264 9, HEVC 35, VVC 20: libvvenc writes one per picture, 7 bytes each with its
start code) and AV1 temporal delimiter and padding OBUs (types 2 and 15), leaving AV1 as
low-overhead OBUs. The
filtered stream is what gets decoded and scored, so nothing counted is missing from it.

Every anchor gets one intra frame per clip (its GOP is at least the clip) and its quality knob
(crf or qp) is searched for the target size. Integer knobs move the size by several percent a
step, so when no step lands within the tolerance, codecs with a rate-controlled mode (SVT-AV1
VBR, VVC target bitrate) search their bitrate instead.
"""

from __future__ import annotations

import io
import math
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
from av.bitstream import BitStreamFilterContext

from exvc.bench.isolate import peak_mb, vm_hwm_mb
from exvc.bench.yuv import frame_to_rgb, to_uint8
from exvc.media.ffmpeg_exe import Ffmpeg
from exvc.media.scheduling import kept_scheduling, normal_scheduling


@dataclass(frozen=True)
class Anchor:
    """How to drive one conventional encoder."""

    name: str
    encoder: str  # FFmpeg encoder name
    decoder: str  # FFmpeg decoder (or, for raw streams, demuxer) name
    units_codec: str  # codec name for filter_units
    drop_units: str  # filter_units remove_types
    knob: str  # "crf" or "qp": larger means smaller files
    knob_range: tuple[float, float]
    integer_knob: bool
    preset: str
    rate_mode: bool  # has a target-bitrate mode to fall back to
    via_ffmpeg: bool = False  # encoded by the ffmpeg executable, not PyAV


ANCHORS: dict[str, Anchor] = {
    "x264": Anchor("x264", "libx264", "h264", "h264", "6|9", "crf", (0.0, 51.0), False,
                   "medium", False),
    "x265": Anchor("x265", "libx265", "hevc", "hevc", "35|39-40", "crf", (0.0, 51.0), False,
                   "medium", False),
    "svtav1": Anchor("svtav1", "libsvtav1", "libdav1d", "av1", "2|15", "crf", (1.0, 63.0),
                     True, "5", True),
    "vvc": Anchor("vvc", "libvvenc", "vvc", "vvc", "20|23-24", "qp", (0.0, 63.0), True,
                  "medium", True, via_ffmpeg=True),
}


@dataclass(frozen=True)
class Setting:
    """One encoder setting: a quality knob value, or a target bitrate in bits/s."""

    mode: str  # "knob" or "bitrate"
    value: float

    def describe(self, anchor: Anchor) -> str:
        if self.mode == "bitrate":
            return f"{self.value / 1000:.2f} kb/s"
        value = f"{self.value:.0f}" if anchor.integer_knob else f"{self.value:.3f}"
        return f"{anchor.knob} {value}"


@dataclass
class Clip420:
    """The clip as packed yuv420p frames (T, H * 3 / 2, W) and its rate, for the encoders."""

    planes: np.ndarray
    width: int
    height: int
    fps: Fraction

    @property
    def frames(self) -> int:
        return len(self.planes)


@dataclass
class Trial:
    """One encode: the setting, the filtered elementary stream and what it cost."""

    setting: Setting
    stream: list[bytes]
    seconds: float
    peak_mb: float | None = None

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.stream)


@dataclass
class Match:
    """The outcome of a rate search: the chosen trial and how it relates to the target."""

    trial: Trial
    target: int
    status: str  # "matched", "cannot reach" (even the smallest is too big) or "off target"
    trials: list[Trial] = field(default_factory=list)

    @property
    def error(self) -> float:
        """Relative size error, (size - target) / target."""
        return self.trial.size / self.target - 1.0


def _strip(anchor: Anchor, packets: Sequence[av.Packet]) -> list[bytes]:
    bsf = BitStreamFilterContext(f"filter_units=remove_types={anchor.drop_units}",
                                 anchor.units_codec)
    out = [bytes(p) for packet in packets for p in bsf.filter(packet)]
    return out + [bytes(p) for p in bsf.filter(None)]


def _encode_pyav(anchor: Anchor, clip: Clip420, setting: Setting) -> Trial:
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 logs its whole setup to stderr otherwise
    ctx = av.CodecContext.create(anchor.encoder, "w")
    ctx.width, ctx.height, ctx.pix_fmt = clip.width, clip.height, "yuv420p"
    ctx.time_base, ctx.framerate = 1 / clip.fps, clip.fps
    ctx.gop_size = clip.frames + 1
    options = {"preset": anchor.preset}
    if anchor.encoder == "libx265":
        options["x265-params"] = "log-level=none:info=0"
    if setting.mode == "knob":
        value = setting.value
        options[anchor.knob] = str(int(value)) if anchor.integer_knob else f"{value:.4f}"
    else:
        ctx.bit_rate = int(setting.value)
        if anchor.encoder == "libsvtav1":
            options["svtav1-params"] = "rc=1"
    ctx.options = options
    frames = [av.VideoFrame.from_ndarray(p, format="yuv420p") for p in clip.planes]
    start = time.perf_counter()
    packets = []
    with kept_scheduling():  # libsvtav1 as root would leave the thread real-time
        for index, frame in enumerate(frames):
            frame.pts = index
            packets += ctx.encode(frame)
        packets += ctx.encode(None)
    seconds = time.perf_counter() - start
    return Trial(setting, _strip(anchor, packets), seconds)


def _encode_ffmpeg(anchor: Anchor, clip: Clip420, setting: Setting, ffmpeg: Ffmpeg,
                   timeout: float = 300.0) -> Trial:
    period = max(1, math.ceil(clip.frames / clip.fps) + 1)  # seconds: one intra frame
    rate = (["-qp", str(int(setting.value))] if setting.mode == "knob"
            else ["-b:v", str(int(setting.value))])
    with tempfile.TemporaryDirectory(prefix="exvc-anchor-") as tmp:
        src, out = os.path.join(tmp, "in.yuv"), os.path.join(tmp, "out.bin")
        clip.planes.tofile(src)
        cmd = [ffmpeg.path, "-hide_banner", "-nostdin", "-loglevel", "error",
               "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{clip.width}x{clip.height}",
               "-r", str(clip.fps), "-i", src, "-c:v", anchor.encoder,
               "-preset", anchor.preset, "-period", str(period), *rate,
               "-bsf:v", f"filter_units=remove_types={anchor.drop_units}",
               "-f", anchor.decoder, out]
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                preexec_fn=normal_scheduling)
        peak = 0.0
        while True:  # sample its VmHWM until it exits: the peak of ffmpeg alone
            peak = max(peak, vm_hwm_mb(proc.pid) or 0.0)
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"{anchor.encoder} took over {timeout:.0f} s")
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{anchor.encoder} failed with status {proc.returncode}")
        with open(out, "rb") as f:
            data = f.read()
    return Trial(setting, [data], seconds, peak_mb=peak or None)


def encode(anchor: Anchor, clip: Clip420, setting: Setting,
           ffmpeg: Ffmpeg | None = None) -> Trial:
    """Encode the clip once; the stream is filtered and ready to count."""
    if anchor.via_ffmpeg:
        if ffmpeg is None or anchor.encoder not in ffmpeg.encoders:
            raise RuntimeError(f"no ffmpeg with {anchor.encoder}")
        return _encode_ffmpeg(anchor, clip, setting, ffmpeg)
    return _encode_pyav(anchor, clip, setting)


def decode(anchor: Anchor, stream: Sequence[bytes]) -> tuple[list[np.ndarray], float]:
    """Decoded frames as uint8 RGB (3, H, W) and the wall seconds it took."""
    start = time.perf_counter()
    if anchor.via_ffmpeg:  # one raw elementary stream: demux it, then decode
        with av.open(io.BytesIO(b"".join(stream)), format=anchor.decoder) as container:
            frames = [to_uint8(frame_to_rgb(f)) for f in container.decode(video=0)]
    else:
        ctx = av.CodecContext.create(anchor.decoder, "r")
        frames = [to_uint8(frame_to_rgb(f)) for p in stream for f in ctx.decode(av.Packet(p))]
        frames += [to_uint8(frame_to_rgb(f)) for f in ctx.decode(None)]
    return frames, time.perf_counter() - start


# -- the rate search ----------------------------------------------------------------------


def _closest(trials: Sequence[Trial], target: int) -> Trial:
    return min(trials, key=lambda t: (abs(t.size / target - 1.0), t.size > target))


def match_rate(anchor: Anchor, target: int, run: Callable[[Setting], Trial],
               tolerance: float = 0.03, iterations: int = 14, clip_seconds: float = 1.0
               ) -> Match:
    """Search the setting whose stream is closest to ``target`` bytes.

    Bisects the knob (larger knob, smaller stream), stopping once within a third of the
    tolerance; falls back to the bitrate mode when the knob cannot land within ``tolerance``.
    """
    trials: list[Trial] = []

    def attempt(setting: Setting) -> Trial:
        trial = run(setting)
        trials.append(trial)
        return trial

    def close_enough(trial: Trial) -> bool:
        return abs(trial.size / target - 1.0) <= tolerance / 3

    lo, hi = anchor.knob_range
    smallest = attempt(Setting("knob", hi))
    if smallest.size <= target * (1 + tolerance):
        for _ in range(iterations):
            if close_enough(_closest(trials, target)):
                break
            if anchor.integer_knob and hi - lo <= 1:
                break
            mid = (lo + hi) // 2 if anchor.integer_knob else (lo + hi) / 2
            trial = attempt(Setting("knob", mid))
            if trial.size > target:
                lo = mid
            else:
                hi = mid
    best = _closest(trials, target)
    # The bitrate mode only helps between two knob steps: below the largest knob, rate
    # control has no coarser quantiser to reach for (and libvvenc can spin for many minutes
    # on a bitrate far under its floor).
    reachable = smallest.size <= target * (1 + tolerance)
    if abs(best.size / target - 1.0) > tolerance and anchor.rate_mode and reachable:
        best = _search_bitrate(target, attempt, tolerance, iterations, clip_seconds, trials)
    error = best.size / target - 1.0
    if abs(error) <= tolerance:
        status = "matched"
    elif min(t.size for t in trials) > target * (1 + tolerance):
        status = "cannot reach"
        best = min(trials, key=lambda t: t.size)
    else:
        status = "off target"
    return Match(best, target, status, trials)


def _search_bitrate(target: int, attempt: Callable[[Setting], Trial], tolerance: float,
                    iterations: int, clip_seconds: float, trials: list[Trial]) -> Trial:
    """Secant-like search on the requested bitrate, in log space, bracketed once it can be."""
    request = 8.0 * target / clip_seconds
    under: tuple[float, int] | None = None  # (request, size) with size <= target
    over: tuple[float, int] | None = None
    for _ in range(iterations):
        trial = attempt(Setting("bitrate", request))
        if abs(trial.size / target - 1.0) <= tolerance / 3:
            break
        if trial.size > target:
            over = (request, trial.size) if over is None or request < over[0] else over
        else:
            under = (request, trial.size) if under is None or request > under[0] else under
        if under and over:
            if over[0] / under[0] < 1.001:
                break
            request = math.sqrt(under[0] * over[0])
        else:
            factor = target / max(trial.size, 1)
            if over and factor > 0.98:  # the encoder's floor: no smaller stream to be had
                break
            request *= min(max(factor, 0.25), 4.0) if factor != 1 else 1.1
    return _closest(trials, target)


def search_job(anchor: Anchor, clip: Clip420, target: int, tolerance: float,
               ffmpeg: Ffmpeg | None) -> Match:
    """Child process job: the whole rate search (native encoders stay out of the parent)."""
    return match_rate(anchor, target, lambda s: encode(anchor, clip, s, ffmpeg),
                      tolerance=tolerance, clip_seconds=float(clip.frames / clip.fps))


def measure(anchor: Anchor, clip: Clip420, setting: Setting,
            ffmpeg: Ffmpeg | None = None) -> Trial:
    """Child process job: encode once more so its wall time and peak memory are its own."""
    trial = encode(anchor, clip, setting, ffmpeg)
    if trial.peak_mb is None:
        trial.peak_mb = peak_mb()
    return trial


def measure_decode(anchor: Anchor, stream: Sequence[bytes]) -> dict:
    """Child process job: decode, returning frames, wall seconds and peak memory."""
    frames, seconds = decode(anchor, stream)
    return {"frames": np.stack(frames), "seconds": seconds, "peak_mb": peak_mb()}
