"""Standard codecs for the base layer: encode 4:2:0 pictures to an elementary stream, and
decode one back, guarded against hostile streams.

- VVC (H.266): libvvenc, through the ffmpeg executable of the ``imageio-ffmpeg`` wheel (PyAV's
  FFmpeg has no VVC encoder); decoded by PyAV's native ``vvc`` decoder.
- AV1: PyAV's ``libsvtav1``; decoded by ``libdav1d``.
- HEVC (H.265): PyAV's ``libx265``; decoded by the native ``hevc`` decoder.

Pictures are 10-bit (libvvenc takes nothing else, and the others code 10-bit at least as
well). Decoding needs PyAV alone. A decoder is opened with FFmpeg's ``max_pixels`` set just
above the picture size the BASE chunk declares, so a stream whose own headers claim huge
pictures is refused before anything that size is allocated; every picture is then checked
against the declared size and count.
"""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from exvc.media.errors import MediaError
from exvc.media.filled_memory import filled_allocations
from exvc.media.scheduling import kept_scheduling, normal_scheduling

BIT_DEPTH = 10
PIX_FMT = "yuv420p10le"
CODECS = ("vvc", "av1", "hevc")  # strongest first
# each encoder's coarsest quantiser: qp for libvvenc, crf for libsvtav1 and libx265
COARSEST = {"vvc": 63, "av1": 63, "hevc": 51}
# ``max_pixels`` is checked against the decoder's padded picture (coding blocks of up to
# 128 samples), so it allows that much beyond the declared size.
_PAD = 256
_ENCODE_TIMEOUT = 3600.0

# exvc preset -> each encoder's own preset
_VVENC_PRESETS = {"ultrafast": "faster", "superfast": "faster", "veryfast": "faster",
                  "faster": "faster", "fast": "fast", "medium": "medium", "slow": "slow",
                  "slower": "slower", "veryslow": "slower"}
_SVT_PRESETS = {"ultrafast": 12, "superfast": 11, "veryfast": 10, "faster": 9, "fast": 8,
                "medium": 6, "slow": 5, "slower": 4, "veryslow": 3}


class BaseCodecError(MediaError):
    """A base stream could not be made or read; one line for the user."""


class NothingWritten(BaseCodecError):
    """The encoder exited without writing a stream."""


@dataclass(frozen=True)
class RateSetting:
    """How to drive an encoder: ``mode`` is ``qp`` (a fixed quantiser), ``rate`` (one-pass
    rate control at ``value`` bits/s) or ``rate2`` (two-pass, VVC only). ``chroma``: with
    ``qp`` on VVC, the chroma quantiser's offset from the luma one (-12..0): a step finer
    than one quantiser, for filling a budget (a few % of the size each)."""

    mode: str
    value: float
    chroma: int = 0

    def describe(self) -> str:
        if self.mode == "qp":
            return f"qp {self.value:g}" + (f", chroma {self.chroma:+d}" if self.chroma else "")
        return f"{self.value / 1000:.2f} kb/s" + (" 2-pass" if self.mode == "rate2" else "")


def vvc_ffmpeg():
    """The ffmpeg executable with libvvenc, or None. ``EXVC_FFMPEG`` names one (``none``:
    pretend there is none); otherwise imageio-ffmpeg's, then PATH's."""
    from exvc.media.ffmpeg_exe import find_ffmpeg

    explicit = os.environ.get("EXVC_FFMPEG") or None
    if explicit == "none":
        return None
    try:
        ffmpeg = find_ffmpeg(explicit)
    except FileNotFoundError:
        return None
    return ffmpeg if ffmpeg is not None and "libvvenc" in ffmpeg.encoders else None


@functools.lru_cache(maxsize=1)
def _pyav_encoders() -> frozenset[str]:
    return frozenset(av.codecs_available)


def available(codec: str) -> bool:
    """Whether this machine can encode ``codec`` (decoding needs PyAV alone)."""
    if codec == "vvc":
        return vvc_ffmpeg() is not None
    return {"av1": "libsvtav1", "hevc": "libx265"}[codec] in _pyav_encoders()


def rate_modes(codec: str) -> tuple[str, ...]:
    return ("qp", "rate", "rate2") if codec == "vvc" else ("qp", "rate")


def rate_control_works(codec: str, width: int, height: int) -> bool:
    """Whether the encoder's rate control runs at this size: SVT-AV1 refuses it below 64
    pixels a side (its adaptive quantisation, which rate control needs, is off there)."""
    return codec != "av1" or min(width, height) >= 64


def encode(codec: str, pictures: np.ndarray, fps: Fraction, setting: RateSetting,
           preset: str = "medium", threads: int | None = None,
           timeout: float | None = None) -> bytes:
    """The elementary stream (Annex B, or low-overhead AV1 OBUs) of ``pictures``: packed
    yuv420p10le frames (K, H * 3 / 2, W), uint16. One intra picture, at the start.
    ``timeout``: seconds after which libvvenc is stopped (BaseCodecError)."""
    if pictures.ndim != 3 or pictures.shape[1] % 3:
        raise ValueError(f"expected packed 4:2:0 pictures, got shape {pictures.shape}")
    if codec == "vvc":
        return _encode_vvenc(pictures, fps, setting, preset, threads, timeout)
    with filled_allocations():  # libx265 reads memory it never wrote (filled_memory.py)
        return _encode_pyav(codec, pictures, fps, setting, preset, threads)


def _encode_pyav(codec: str, pictures: np.ndarray, fps: Fraction, setting: RateSetting,
                 preset: str, threads: int | None) -> bytes:
    os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 logs its whole setup to stderr otherwise
    height, width = pictures.shape[1] * 2 // 3, pictures.shape[2]
    name = {"av1": "libsvtav1", "hevc": "libx265"}[codec]
    ctx = av.CodecContext.create(name, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, PIX_FMT
    ctx.time_base, ctx.framerate = 1 / fps, fps
    ctx.gop_size = len(pictures) + 1
    if threads:
        ctx.thread_count = threads
    if codec == "hevc":
        params = "log-level=none:info=0:keyint=-1:scenecut=0:open-gop=0"
        options = {"preset": preset}
        if setting.mode == "qp":
            options["crf"] = f"{setting.value:.4f}"
        else:
            ctx.bit_rate = max(1, int(setting.value))
        options["x265-params"] = params
    else:
        options = {"preset": str(_SVT_PRESETS[preset])}
        if setting.mode == "qp":
            options["crf"] = str(int(setting.value))
        else:
            ctx.bit_rate = max(1, int(setting.value))
            options["svtav1-params"] = "rc=1"
    ctx.options = options
    packets = []
    try:
        with kept_scheduling():  # SVT-AV1 as root leaves the thread real-time otherwise
            for index, planes in enumerate(pictures):
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(planes),
                                                   format=PIX_FMT)
                frame.pts = index
                packets += ctx.encode(frame)
            packets += ctx.encode(None)
    except av.FFmpegError as exc:
        raise BaseCodecError(f"{name} failed: {exc}") from None
    if not packets:
        raise BaseCodecError(f"{name} failed: no packets")
    return b"".join(bytes(p) for p in packets)


def _encode_vvenc(pictures: np.ndarray, fps: Fraction, setting: RateSetting, preset: str,
                  threads: int | None, timeout: float | None) -> bytes:
    """libvvenc through the ffmpeg executable. An encode that finishes without writing
    anything (ffmpeg exits 0; libvvenc 1.15 did that at random with frame-level
    parallelism, which ``_vvenc_once`` now turns off) is tried once more with 2 threads
    rather than losing the candidate (docs/base.md, "The three codecs")."""
    try:
        return _vvenc_once(pictures, fps, setting, preset, threads, timeout)
    except NothingWritten:
        if threads != 1:
            raise
        return _vvenc_once(pictures, fps, setting, preset, 2, timeout)


def _vvenc_once(pictures: np.ndarray, fps: Fraction, setting: RateSetting, preset: str,
                threads: int | None, timeout: float | None) -> bytes:
    ffmpeg = vvc_ffmpeg()
    if ffmpeg is None:
        raise BaseCodecError("VVC needs an ffmpeg executable with libvvenc (imageio-ffmpeg)")
    height, width = pictures.shape[1] * 2 // 3, pictures.shape[2]
    seconds = len(pictures) / fps
    period = max(1, int(seconds) + 2)  # one intra picture per stream
    # No frame-level parallelism: with it, libvvenc 1.15 sometimes writes nothing (a race:
    # one encode in two or three at one thread, under load at two) and its rate control
    # gives other streams at other thread counts. Without it, every thread count gives
    # the same stream, every time (docs/base.md, "The three codecs").
    params = "hrdparameterspresent=0:maxparallelframes=0"
    if setting.mode == "qp" and setting.chroma:
        params += f":CbQpOffset={setting.chroma}:CrQpOffset={setting.chroma}"
    cmd = [ffmpeg.path, "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", PIX_FMT, "-s", f"{width}x{height}",
           "-r", str(fps), "-i", "-", "-c:v", "libvvenc", "-preset", _VVENC_PRESETS[preset],
           "-period", str(period), "-vvenc-params", params]
    if threads:
        cmd += ["-threads", str(threads)]
    raw = np.ascontiguousarray(pictures, dtype="<u2").tobytes()
    with tempfile.TemporaryDirectory(prefix="exvc-vvc-") as tmp:
        if setting.mode == "qp":
            cmd += ["-qp", str(int(setting.value))]
        else:
            cmd += ["-b:v", str(max(1, int(setting.value)))]
        if setting.mode == "rate2":
            log = os.path.join(tmp, "pass")
            # the first pass writes only its statistics: no stream to expect
            _run(cmd + ["-pass", "1", "-passlogfile", log, "-f", "null", "-"], raw, timeout,
                 stream=False)
            cmd += ["-pass", "2", "-passlogfile", log]
        return _run(cmd + ["-f", "vvc", "-"], raw, timeout)


def _run(cmd: list[str], data: bytes, timeout: float | None, stream: bool = True) -> bytes:
    """Run ffmpeg on ``data``; its whole process group is killed (SIGKILL) once ``timeout``
    passes, so that no encoder thread or child outlives a stopped encode. ``stream``: whether
    it must write a stream to stdout (not a first pass)."""
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True,
                                preexec_fn=normal_scheduling)
    except OSError as exc:
        raise BaseCodecError(f"libvvenc failed: {exc}") from None
    try:
        out, err = proc.communicate(data, timeout=timeout or _ENCODE_TIMEOUT)
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise BaseCodecError(f"libvvenc failed: stopped after {timeout or _ENCODE_TIMEOUT:.0f} "
                             "s") from None
    except BaseException:
        _kill(proc)
        raise
    if proc.returncode != 0 or (stream and not out):
        # ffmpeg can exit 0 having written nothing when libvvenc stops ("Nothing was
        # written into output file")
        tail = err.decode(errors="replace").strip().splitlines()
        if proc.returncode == 0:
            raise NothingWritten(f"libvvenc failed: {tail[-1] if tail else 'no stream written'}")
        raise BaseCodecError(f"libvvenc failed: {tail[-1] if tail else proc.returncode}")
    return out


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
    proc.wait()


_DECODERS = {"vvc": "vvc", "av1": "libdav1d", "hevc": "hevc"}


def decode(codec: str, stream: bytes, width: int, height: int, count: int,
           threads: int | None = None) -> Iterator[tuple[np.ndarray, int]]:
    """Decode ``count`` pictures of ``width`` x ``height`` from an elementary stream: yields
    each as (packed 4:2:0 planes (H * 3 / 2, W) uint16, bit depth). Raises
    :class:`BaseCodecError` when the stream does not decode to exactly that."""
    ctx = av.CodecContext.create(_DECODERS[codec], "r")
    ctx.options = {"max_pixels": str((width + _PAD) * (height + _PAD))}
    ctx.thread_count = threads or 1
    produced = 0

    def check(frame: av.VideoFrame) -> tuple[np.ndarray, int]:
        nonlocal produced
        produced += 1
        if produced > count:
            raise BaseCodecError(f"holds more than the {count} pictures declared")
        if (frame.width, frame.height) != (width, height):
            raise BaseCodecError(f"has a picture of {frame.width}x{frame.height}, not the "
                                 f"{width}x{height} declared")
        name = frame.format.name
        if name not in ("yuv420p", "yuv420p10le"):
            raise BaseCodecError(f"has {name} pictures, not 4:2:0 of 8 or 10 bits")
        depth = 10 if name.endswith("10le") else 8
        return frame.to_ndarray().astype(np.uint16, copy=False), depth

    try:
        if codec == "av1":  # dav1d splits OBUs itself
            packets = [av.Packet(stream)]
        else:
            packets = list(ctx.parse(stream)) + list(ctx.parse(None))
        for packet in packets + [None]:
            for frame in ctx.decode(packet):
                yield check(frame)
    except av.FFmpegError as exc:
        raise BaseCodecError(f"does not decode ({exc.strerror or exc})") from None
    if produced != count:
        raise BaseCodecError(f"holds {produced} pictures, not the {count} declared")
